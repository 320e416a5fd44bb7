"""Demo corpus: synthetic acted-emotion speech made offline with eSpeak NG.

This is NOT recorded human speech. Twenty-eight eSpeak NG "speakers" (a voice variant with
its own formants, in eight English accents, each with its OWN baseline pitch, pitch range,
rate and loudness, so that a voice's baseline is not the label) read short sentences of
neutral content in four emotions acted by prosody alone, at a graded intensity:

=========  =============  ===========  ===========  ==========
emotion    pitch          pitch range  rate         volume
=========  =============  ===========  ===========  ==========
neutral    base           base         base         base
happy      base + 22 I    + 32 I       x (1+.12 I)  x (1+.12 I)
angry      base + 14 I    + 42 I       x (1+.22 I)  x (1+.60 I)
sad        base - 22 I    - 36 I       x (1-.24 I)  x (1-.42 I)
=========  =============  ===========  ===========  ==========

I is the intensity of the expression, drawn per utterance from weak 0.5 / medium 0.75 /
strong 1.0 (neutral has none); the id says what was acted: ``spk07_s03_angry-weak``.
"base" is the speaker's own value (``SPEAKERS``: pitch 36-64, range 42-58, 155-195 wpm,
loudness x0.8-1.25: a loud voice's neutral is as loud as a quiet voice's medium anger).
Happy and angry sentences end with "!". Every utterance also draws seeded Gaussian jitter
(pitch sd 5, range sd 8, rate sd 6 %, volume sd 10 %).

Labels are what listeners heard, not what was acted (as MSP-Podcast's consensus labels):
five simulated annotators rate every clip (``annotator_votes``). Each hears the acted
emotion with a probability that grows with the intensity (weak 0.6, medium 0.74, strong
0.88; neutral 0.8) and otherwise a confusable one (a weak or medium emotion mostly as
neutral; angry <-> happy, sad <-> neutral). ``label``/``emotion`` is the plurality vote;
a tie is broken by further annotators, one at a time. The labels equal the acted emotion
for 93 % of the default corpus' clips (weak clips 81 %). Arousal, valence and dominance
(1-7) are neutral's (4/4/4) moved towards the acted emotion's (happy 5.3/5.8/4.6, angry 6.0/2.2/5.8, sad
2.3/2.4/2.5) by the intensity, plus noise, arousal partly following loudness and rate.

Splits are speaker-disjoint and fixed (not seeded): per gender, in table order, the
speakers go to train, test, validation, train, train, train, test, validation, train, test,
validation, train, train, train; with the default 28 speakers that is 16 train, 6
validation and 6 test voices, each split with both genders. ``num_speakers`` takes the first
N speakers of the table (genders alternate; at least 6 gives every split both genders).

Options (``OPTIONS``; ``build("demo", None, out, options={...})``, CLI
``--option key=value``): ``num_speakers`` (1-28, default 28), ``sentences_per_speaker``
(1-36, default 15: each train voice reads a seeded subset of the sentences, each in all
four emotions), ``eval_sentences`` (1-36, default 36: the same for validation and test
voices; evaluation is cheap and its power comes from these clips), ``synthesis_seed``
(default 0; not ``seed``, which ``build()`` uses for the captions).
Default: 16 x 15 x 4 = 960 train and 6 x 36 x 4 = 864 validation and 864 test clips of
about 1.5-3.5 s. The same options give byte-identical WAV bytes and values (see
``espeak.py``); another synthesis_seed changes the sentence subsets, intensities, jitter
and votes. Audio is 16-bit WAV at 22050 Hz (the builder resamples it to 16 kHz).
"""

from __future__ import annotations

import io
import pathlib
from typing import Iterator

import numpy as np

from .corpus import CorpusConfig, CorpusError

NAME = "demo"

OPTIONS = {
    "num_speakers": "how many of the 28 voices, 1-28 (default 28; at least 6 gives every split both genders)",
    "sentences_per_speaker": "sentences each train voice reads in all four emotions, 1-36 (default 15)",
    "eval_sentences": "sentences each validation/test voice reads in all four emotions, 1-36 (default 36)",
    "synthesis_seed": "seed of the sentence subsets, intensities, jitter and votes (default 0; not the caption --seed)",
}

LABELS = ["neutral", "happy", "angry", "sad"]

CONFIGS = {
    "default": CorpusConfig(
        labels=list(LABELS),
        query_texts=[f"this person is feeling {label}." for label in LABELS],
        description=(
            "SYNTHETIC speech, not recorded from people: an offline demo corpus generated with "
            "the eSpeak NG formant synthesiser (16 voices in 5 English accents, 36 neutral "
            "sentences) in four emotions acted only by prosody (pitch, pitch range, speaking "
            "rate, loudness). Arousal/valence/dominance are derived from the emotion plus "
            "noise. Use it to test the pipeline end to end, not to judge a model."
        ),
        citation="",
        homepage="https://github.com/espeak-ng/espeak-ng",
        license="GPL-3.0-or-later (audio made with eSpeak NG; no third-party recordings)",
        needs_data_dir=False,
        rating_scale=(1, 7),  # MSP-Podcast's scale, so its thresholds apply as they are
    ),
}

# speaker id, eSpeak voice, gender, accent, base pitch (0-100), base rate (wpm), base pitch
# range (0-100), loudness factor (x eSpeak volume 100). The baselines are spread so that
# they overlap the emotions' own changes: no voice is "the loud one" of its split by label.
SPEAKERS = [
    ("spk01", "en-us+m3", "male", "US", 48, 175, 50, 1.00),
    ("spk02", "en-us+f2", "female", "US", 52, 180, 46, 0.90),
    ("spk03", "en+m1", "male", "British", 45, 170, 55, 1.15),
    ("spk04", "en+f4", "female", "British", 55, 175, 50, 0.85),
    ("spk05", "en-gb-scotland+m2", "male", "Scottish", 50, 165, 44, 1.20),
    ("spk06", "en-gb-scotland+f1", "female", "Scottish", 47, 170, 56, 1.05),
    ("spk07", "en-029+m4", "male", "Caribbean", 55, 185, 48, 0.80),
    ("spk08", "en-029+f3", "female", "Caribbean", 45, 180, 52, 1.25),
    ("spk09", "en-us-nyc+m6", "male", "New York", 42, 190, 58, 0.95),
    ("spk10", "en-gb-x-rp+f5", "female", "British RP", 50, 165, 42, 1.10),
    ("spk11", "en-gb-x-gbclan+m7", "male", "Lancashire", 52, 175, 53, 0.85),
    ("spk12", "en-us+f1", "female", "US", 58, 185, 47, 1.20),
    ("spk13", "en-gb-x-gbcwmd+m5", "male", "West Midlands", 40, 160, 45, 1.05),
    ("spk14", "en-gb-x-rp+f3", "female", "British RP", 60, 175, 54, 0.80),
    ("spk15", "en+m2", "male", "British", 57, 180, 50, 1.25),
    ("spk16", "en-us-nyc+f4", "female", "New York", 42, 190, 57, 0.95),
    ("spk17", "en-gb-x-rp+m8", "male", "British RP", 36, 155, 49, 0.90),
    ("spk18", "en-gb-scotland+f5", "female", "Scottish", 64, 160, 44, 1.15),
    ("spk19", "en-029+m1", "male", "Caribbean", 60, 195, 42, 1.10),
    ("spk20", "en-gb-x-gbclan+f2", "female", "Lancashire", 38, 185, 58, 1.00),
    ("spk21", "en-us+m6", "male", "US", 44, 160, 56, 0.80),
    ("spk22", "en-gb-x-gbcwmd+f1", "female", "West Midlands", 56, 170, 50, 0.85),
    ("spk23", "en-us-nyc+m2", "male", "New York", 62, 170, 46, 1.20),
    ("spk24", "en+f3", "female", "British", 40, 195, 53, 1.05),
    ("spk25", "en-gb-scotland+m7", "male", "Scottish", 38, 185, 52, 0.95),
    ("spk26", "en-029+f4", "female", "Caribbean", 62, 155, 48, 1.25),
    ("spk27", "en-gb-x-gbclan+m4", "male", "Lancashire", 54, 150, 57, 1.10),
    ("spk28", "en-gb-x-rp+f2", "female", "British RP", 48, 190, 43, 0.90),
]

SENTENCES = [
    "The train leaves at seven in the morning.",
    "Please close the window before you leave.",
    "The meeting has been moved to Thursday.",
    "There are four chairs in the kitchen.",
    "I put the keys on the table by the door.",
    "The shop on the corner opens at nine.",
    "We walked to the station after lunch.",
    "The report is due at the end of the month.",
    "She bought a new lamp for the living room.",
    "The bus stops outside the library.",
    "He moved the boxes into the garage.",
    "The park is ten minutes from here.",
    "My brother lives in a small town by the river.",
    "The printer on the second floor is working again.",
    "They painted the fence last weekend.",
    "The package will arrive on Monday.",
    "I have read the first chapter of the book.",
    "The coffee machine is next to the sink.",
    "We need two more tickets for the show.",
    "The car is parked behind the building.",
    "The weather will change later this week.",
    "You can find the forms on the top shelf.",
    "The lesson starts after the short break.",
    "He wrote the numbers on a piece of paper.",
    "Our flight lands in the afternoon.",
    "The cat is sleeping on the sofa.",
    "I will call the office tomorrow.",
    "The garden has roses and tulips.",
    "The bridge was built a long time ago.",
    "She keeps her bicycle in the hallway.",
    "The new schedule is on the notice board.",
    "The water in the lake is very cold.",
    "We ordered soup and bread for dinner.",
    "The clock in the hall is five minutes fast.",
    "He left his umbrella at the restaurant.",
    "The music started when the lights went down.",
]


# emotion -> change at full intensity: (pitch offset, pitch-range offset, rate factor - 1,
# volume factor - 1, end mark). No extra word gap for sad: pauses between words made
# openSMILE's F0 track jump octaves at word onsets.
PROSODY = {
    "neutral": (0, 0, 0.00, 0.00, "."),
    "happy": (22, 32, 0.12, 0.12, "!"),
    "angry": (14, 42, 0.22, 0.60, "!"),
    "sad": (-22, -36, -0.24, -0.42, "."),
}
# per-utterance jitter: pitch sd, range sd, relative rate sd, relative volume sd
JITTER = (5.0, 8.0, 0.06, 0.10)
INTENSITIES = {"weak": 0.5, "medium": 0.75, "strong": 1.0}  # drawn uniformly per emotional utterance

# emotion -> mean (arousal, valence, dominance) on the MSP-Podcast 1-7 scale at full intensity
DIMENSIONS = {
    "neutral": (4.0, 4.0, 4.0),
    "happy": (5.3, 5.8, 4.6),
    "angry": (6.0, 2.2, 5.8),
    "sad": (2.3, 2.4, 2.5),
}

# The simulated annotators: P(an annotator hears the acted emotion) by intensity, and where
# the other votes go (acted -> weights over the other labels): weaker expressions read as
# neutral, the two high-arousal emotions as each other, sad and neutral as each other.
NUM_ANNOTATORS = 5
HEARD_AS_ACTED = {"weak": 0.6, "medium": 0.74, "strong": 0.88, None: 0.8}
CONFUSIONS = {
    "neutral": {"sad": 0.5, "happy": 0.3, "angry": 0.2},
    "happy": {"neutral": 0.6, "angry": 0.3, "sad": 0.1},
    "angry": {"neutral": 0.4, "happy": 0.5, "sad": 0.1},
    "sad": {"neutral": 0.8, "happy": 0.1, "angry": 0.1},
}

# per gender, in table order (14 voices of each gender: 8 train, 3 validation, 3 test)
_SPLIT_PATTERN = ["train", "test", "validation", "train", "train", "train", "test", "validation",
                  "train", "test", "validation", "train", "train", "train"]

# "synthesis_seed", not "seed": build(seed=...) is the caption seed and never reaches scan()
DEFAULT_OPTIONS = {"num_speakers": 28, "sentences_per_speaker": 15, "eval_sentences": 36, "synthesis_seed": 0}


def _int_option(options: dict, key: str, low: int, high: int) -> int:
    value = options.get(key, DEFAULT_OPTIONS[key])
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise CorpusError(f"demo option {key}={value!r} is not an integer") from None
    if number != float(value) or not low <= number <= high:
        raise CorpusError(f"demo option {key}={value!r} must be an integer in {low}..{high}")
    return number


def resolve_options(options: dict | None) -> dict:
    """The demo's own options with defaults filled in and checked (other keys ignored)."""
    options = dict(options or {})
    return {
        "num_speakers": _int_option(options, "num_speakers", 1, len(SPEAKERS)),
        "sentences_per_speaker": _int_option(options, "sentences_per_speaker", 1, len(SENTENCES)),
        "eval_sentences": _int_option(options, "eval_sentences", 1, len(SENTENCES)),
        "synthesis_seed": _int_option(options, "synthesis_seed", 0, 2**63 - 1),
    }


def speaker_splits(num_speakers: int) -> dict[str, str]:
    """speaker id -> split for the first ``num_speakers`` speakers (speaker-disjoint)."""
    seen = {"male": 0, "female": 0}
    splits = {}
    for speaker, _, gender, *_ in SPEAKERS[:num_speakers]:
        splits[speaker] = _SPLIT_PATTERN[seen[gender] % len(_SPLIT_PATTERN)]
        seen[gender] += 1
    return splits


def _wav_bytes(wave: np.ndarray, sample_rate: int) -> bytes:
    import soundfile

    pcm = np.clip(np.round(wave * 32768.0), -32768, 32767).astype(np.int16)  # exact for eSpeak's int16
    buffer = io.BytesIO()
    soundfile.write(buffer, pcm, sample_rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def _intensity(seed: int, speaker_index: int, sentence_index: int, emotion_index: int) -> str | None:
    """The drawn intensity name of one utterance (None for neutral)."""
    if LABELS[emotion_index] == "neutral":
        return None
    rng = np.random.default_rng([seed, speaker_index, sentence_index, emotion_index, 7])
    return list(INTENSITIES)[int(rng.integers(len(INTENSITIES)))]


def _utterance(seed: int, speaker_index: int, sentence_index: int, emotion_index: int):
    """Seeded prosody, dimensional values and intensity of one utterance (independent of the sizes)."""
    _, voice, _, _, base_pitch, base_rate, base_range, loudness = SPEAKERS[speaker_index]
    emotion = LABELS[emotion_index]
    level = _intensity(seed, speaker_index, sentence_index, emotion_index)
    strength = INTENSITIES.get(level, 0.0)
    d_pitch, d_range, d_rate, d_volume, _ = PROSODY[emotion]
    rng = np.random.default_rng([seed, speaker_index, sentence_index, emotion_index])
    z = rng.standard_normal(7)
    sd_pitch, sd_range, sd_rate, sd_volume = JITTER
    params = dict(
        voice=voice,
        pitch=int(np.clip(round(base_pitch + strength * d_pitch + sd_pitch * z[0]), 0, 100)),
        pitch_range=int(np.clip(round(base_range + strength * d_range + sd_range * z[1]), 0, 100)),
        rate=int(np.clip(round(base_rate * (1 + strength * d_rate) * (1 + sd_rate * z[2])), 80, 450)),
        # above ~180 eSpeak saturates: the loudest voices' strong anger is clipped there
        volume=int(np.clip(round(100 * loudness * (1 + strength * d_volume) * (1 + sd_volume * z[3])), 10, 180)),
    )
    neutral, target = np.asarray(DIMENSIONS["neutral"]), np.asarray(DIMENSIONS[emotion])
    mean_a, mean_v, mean_d = neutral + strength * (target - neutral)
    arousal = mean_a + 0.25 * z[3] + 0.15 * z[2] + 0.35 * z[4]  # louder / faster -> more aroused
    valence = mean_v + 0.45 * z[5]
    dominance = mean_d + 0.2 * z[3] + 0.4 * z[6]
    dims = [round(float(np.clip(x, 1.0, 7.0)), 3) for x in (arousal, valence, dominance)]
    return params, dims, level


def annotator_votes(seed: int, speaker_index: int, sentence_index: int, emotion_index: int) -> list[str]:
    """The simulated annotators' labels of one clip: ``NUM_ANNOTATORS`` votes, then one more
    at a time while the plurality is tied (see the module docstring)."""
    acted = LABELS[emotion_index]
    level = _intensity(seed, speaker_index, sentence_index, emotion_index)
    heard = HEARD_AS_ACTED[level]
    others = list(CONFUSIONS[acted])
    weights = np.asarray([CONFUSIONS[acted][o] for o in others])
    rng = np.random.default_rng([seed, speaker_index, sentence_index, emotion_index, 11])
    votes: list[str] = []
    while True:
        for _ in range(NUM_ANNOTATORS if not votes else 1):
            if rng.random() < heard:
                votes.append(acted)
            else:
                votes.append(others[int(rng.choice(len(others), p=weights / weights.sum()))])
        counts = sorted((votes.count(x) for x in set(votes)), reverse=True)
        if len(counts) == 1 or counts[0] > counts[1]:
            return votes


def majority(votes: list[str]) -> str:
    """The plurality label of ``annotator_votes`` (never tied, by construction)."""
    return max(set(votes), key=votes.count)


def sentence_subset(seed: int, speaker_index: int, count: int) -> list[int]:
    """The sentences (indices into SENTENCES, sorted) that one speaker reads."""
    rng = np.random.default_rng([seed, speaker_index, 1_000_003])
    return sorted(int(i) for i in rng.permutation(len(SENTENCES))[:count])


def scan(data_dir: pathlib.Path | None, config_name: str, options: dict) -> Iterator[dict]:
    """Yield the demo's records lazily, synthesising one clip at a time.

    Builder hints (see builder.py): ``options["discover"]`` yields the records with
    ``audio=None`` (no synthesis); ``options["split"]`` yields only that split's records.
    """
    if config_name not in CONFIGS:
        raise CorpusError(f"demo has no config {config_name!r}; configs: {sorted(CONFIGS)}")
    opts = resolve_options(options)
    seed = opts["synthesis_seed"]
    discover = bool((options or {}).get("discover"))
    only_split = (options or {}).get("split")
    if not discover:
        from .espeak import synthesize  # here: a missing espeakng-loader fails at scan time

    splits = speaker_splits(opts["num_speakers"])
    for speaker_index, (speaker, _, gender, *_rest) in enumerate(SPEAKERS[: opts["num_speakers"]]):
        if only_split is not None and splits[speaker] != only_split:
            continue
        count = opts["sentences_per_speaker"] if splits[speaker] == "train" else opts["eval_sentences"]
        for sentence_index in sentence_subset(seed, speaker_index, count):
            for emotion_index, acted in enumerate(LABELS):
                params, (arousal, valence, dominance), level = _utterance(
                    seed, speaker_index, sentence_index, emotion_index)
                label = majority(annotator_votes(seed, speaker_index, sentence_index, emotion_index))
                if discover:
                    audio = None
                else:
                    text = SENTENCES[sentence_index][:-1] + PROSODY[acted][4]
                    audio = _wav_bytes(*synthesize(text, **params))
                yield {
                    "id": f"{speaker}_s{sentence_index:02d}_{acted}" + (f"-{level}" if level else ""),
                    "audio": audio,
                    "split": splits[speaker],
                    "speaker": speaker,
                    "gender": gender,
                    "label": label,  # the annotators' majority, as MSP-Podcast's consensus label
                    "emotion": label,
                    "arousal": arousal,
                    "valence": valence,
                    "dominance": dominance,
                }


def acted_emotion(record_id: str) -> tuple[str, str | None]:
    """(acted emotion, intensity name or None) from a demo clip id."""
    acted = record_id.rsplit("_", 1)[-1]
    emotion, _, level = acted.partition("-")
    return emotion, level or None

"""Demo corpus: synthetic acted-emotion speech made offline with eSpeak NG.

This is NOT recorded human speech. Sixteen eSpeak NG "speakers" (a voice variant with
its own formants and base pitch, in five English accents) read short sentences of neutral
content in four emotions acted by prosody alone:

=========  =============  ===========  ===========  ==========
emotion    pitch          pitch range  rate         volume
=========  =============  ===========  ===========  ==========
neutral    base           50           base         100
happy      base + 22      82           base x 1.12  112
angry      base + 14      92           base x 1.22  160
sad        base - 22      14           base x 0.76  58
=========  =============  ===========  ===========  ==========

(eSpeak scales; "base" is the speaker's own pitch 40-60 / rate 160-190 wpm.) Happy and
angry sentences end with "!", so eSpeak also uses its exclamation intonation. Every
utterance draws seeded Gaussian jitter (pitch sd 5, range sd 8, rate sd 6 %, volume sd
10 %) so that the classes overlap a little. Arousal, valence and dominance (MSP-Podcast
1-7 scale) are the emotion's mean (neutral 4/4/4, happy 5.3/5.8/4.6, angry 6.0/2.2/5.8,
sad 2.3/2.4/2.5) plus noise, arousal partly following the drawn loudness and rate.

Splits are speaker-disjoint and fixed (not seeded): per gender, in table order, the
speakers go to train, test, validation, train, train, train, test, validation; with the
default 12 speakers that is 8 train, 2 validation, 2 test speakers, each split with both
genders. ``num_speakers`` takes the first N speakers of the table (genders alternate;
at least 6 gives every split both genders).

Options (``OPTIONS``; ``build("demo", None, out, options={...})``, CLI
``--option key=value``): ``num_speakers`` (1-16, default 12), ``sentences_per_speaker``
(1-36, default 20: each speaker reads a seeded subset of the sentences, each in all four
emotions), ``synthesis_seed`` (default 0; not ``seed``, which ``build()`` uses for the
captions).
Default: 12 x 20 x 4 = 960 clips of about 1.5-3 s. The same options give byte-identical
WAV bytes and values (see ``espeak.py`` for why the synthesiser is reloaded for every
clip); another synthesis_seed changes the sentence subsets and the jitter.
Audio is 16-bit WAV at 22050 Hz (the builder resamples it to 16 kHz).
"""

from __future__ import annotations

import io
import pathlib
from typing import Iterator

import numpy as np

from .corpus import CorpusConfig, CorpusError

NAME = "demo"

OPTIONS = {
    "num_speakers": "how many of the 16 voices, 1-16 (default 12; at least 6 gives every split both genders)",
    "sentences_per_speaker": "sentences each voice reads in all four emotions, 1-36 (default 20)",
    "synthesis_seed": "seed of the sentence subsets and prosody jitter (default 0; not the caption --seed)",
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

# speaker id, eSpeak voice, gender, accent, base pitch (0-100), base rate (wpm)
SPEAKERS = [
    ("spk01", "en-us+m3", "male", "US", 48, 175),
    ("spk02", "en-us+f2", "female", "US", 52, 180),
    ("spk03", "en+m1", "male", "British", 45, 170),
    ("spk04", "en+f4", "female", "British", 55, 175),
    ("spk05", "en-gb-scotland+m2", "male", "Scottish", 50, 165),
    ("spk06", "en-gb-scotland+f1", "female", "Scottish", 47, 170),
    ("spk07", "en-029+m4", "male", "Caribbean", 55, 185),
    ("spk08", "en-029+f3", "female", "Caribbean", 45, 180),
    ("spk09", "en-us-nyc+m6", "male", "New York", 42, 190),
    ("spk10", "en-gb-x-rp+f5", "female", "British RP", 50, 165),
    ("spk11", "en-gb-x-gbclan+m7", "male", "Lancashire", 52, 175),
    ("spk12", "en-us+f1", "female", "US", 58, 185),
    ("spk13", "en-gb-x-gbcwmd+m5", "male", "West Midlands", 40, 160),
    ("spk14", "en-gb-x-rp+f3", "female", "British RP", 60, 175),
    ("spk15", "en+m2", "male", "British", 57, 180),
    ("spk16", "en-us-nyc+f4", "female", "New York", 42, 190),
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

# emotion -> (pitch offset, pitch range, rate factor, volume, end mark). No extra word gap
# for sad: pauses between words made openSMILE's F0 track jump octaves at word onsets
# (sad pitch variation then came out higher than neutral's for the male voices).
PROSODY = {
    "neutral": (0, 50, 1.00, 100, "."),
    "happy": (22, 82, 1.12, 112, "!"),
    "angry": (14, 92, 1.22, 160, "!"),
    "sad": (-22, 14, 0.76, 58, "."),
}
# per-utterance jitter: pitch sd, range sd, relative rate sd, relative volume sd
JITTER = (5.0, 8.0, 0.06, 0.10)

# emotion -> mean (arousal, valence, dominance) on the MSP-Podcast 1-7 scale
DIMENSIONS = {
    "neutral": (4.0, 4.0, 4.0),
    "happy": (5.3, 5.8, 4.6),
    "angry": (6.0, 2.2, 5.8),
    "sad": (2.3, 2.4, 2.5),
}

_SPLIT_PATTERN = ["train", "test", "validation", "train", "train", "train", "test", "validation"]

# "synthesis_seed", not "seed": build(seed=...) is the caption seed and never reaches scan()
DEFAULT_OPTIONS = {"num_speakers": 12, "sentences_per_speaker": 20, "synthesis_seed": 0}


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


def _utterance(seed: int, speaker_index: int, sentence_index: int, emotion_index: int):
    """Seeded prosody and dimensional values of one utterance (independent of the sizes)."""
    _, voice, _, _, base_pitch, base_rate = SPEAKERS[speaker_index]
    emotion = LABELS[emotion_index]
    d_pitch, range_, rate_factor, volume, _ = PROSODY[emotion]
    rng = np.random.default_rng([seed, speaker_index, sentence_index, emotion_index])
    z = rng.standard_normal(7)
    sd_pitch, sd_range, sd_rate, sd_volume = JITTER
    params = dict(
        voice=voice,
        pitch=int(np.clip(round(base_pitch + d_pitch + sd_pitch * z[0]), 0, 100)),
        pitch_range=int(np.clip(round(range_ + sd_range * z[1]), 0, 100)),
        rate=int(np.clip(round(base_rate * rate_factor * (1 + sd_rate * z[2])), 80, 450)),
        volume=int(np.clip(round(volume * (1 + sd_volume * z[3])), 10, 200)),
    )
    mean_a, mean_v, mean_d = DIMENSIONS[emotion]
    arousal = mean_a + 0.25 * z[3] + 0.15 * z[2] + 0.35 * z[4]  # louder / faster -> more aroused
    valence = mean_v + 0.45 * z[5]
    dominance = mean_d + 0.2 * z[3] + 0.4 * z[6]
    dims = [round(float(np.clip(x, 1.0, 7.0)), 3) for x in (arousal, valence, dominance)]
    return params, dims


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
        for sentence_index in sentence_subset(seed, speaker_index, opts["sentences_per_speaker"]):
            for emotion_index, emotion in enumerate(LABELS):
                params, (arousal, valence, dominance) = _utterance(seed, speaker_index, sentence_index, emotion_index)
                if discover:
                    audio = None
                else:
                    text = SENTENCES[sentence_index][:-1] + PROSODY[emotion][4]
                    audio = _wav_bytes(*synthesize(text, **params))
                yield {
                    "id": f"{speaker}_s{sentence_index:02d}_{emotion}",
                    "audio": audio,
                    "split": splits[speaker],
                    "speaker": speaker,
                    "gender": gender,
                    "label": emotion,
                    "emotion": emotion,
                    "arousal": arousal,
                    "valence": valence,
                    "dominance": dominance,
                }

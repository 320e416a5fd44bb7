"""The offline demo corpus: eSpeak NG synthesis, scanner contract, determinism, splits,
the full build through build(), and that the acted prosody shows in eGeMAPS."""

import io
import itertools
from collections import defaultdict

import numpy as np
import pytest
import soundfile

from smoothclap.data import build, demo, espeak, label_texts
from smoothclap.data.corpus import RECORD_KEYS, CorpusError

SENTENCE = "The train leaves at seven in the morning."

DOCUMENTED_COLUMNS = [
    "id", "audio", "split", "speaker", "gender", "label", "emotion", "arousal", "valence",
    "dominance", "duration", "pitch_mean", "pitch_variation", "loudness", "jitter", "shimmer",
    "egemaps", "tag_sentences", "caption", "tags",
]


# --------------------------------------------------------------------------- synthesis
def test_synthesize_gives_speech_of_plausible_duration():
    wave, sr = espeak.synthesize(SENTENCE)
    assert sr == 22050 and wave.dtype == np.float32 and wave.ndim == 1
    assert 1.0 < len(wave) / sr < 4.0  # eight words at 175 wpm
    assert np.sqrt(np.mean(wave**2)) > 0.02 and np.abs(wave).max() <= 1.0
    fast, _ = espeak.synthesize(SENTENCE, rate=300)
    quiet, _ = espeak.synthesize(SENTENCE, volume=40)
    assert len(fast) < 0.75 * len(wave)
    assert np.sqrt(np.mean(quiet**2)) < 0.6 * np.sqrt(np.mean(wave**2))


def test_synthesize_is_deterministic_whatever_ran_before():
    first, _ = espeak.synthesize(SENTENCE, voice="en-us+f2", pitch=70)
    espeak.synthesize("Something else entirely, with another voice.", voice="en-gb-scotland+m2", pitch=20)
    again, _ = espeak.synthesize(SENTENCE, voice="en-us+f2", pitch=70)
    assert np.array_equal(first, again)
    other_voice, _ = espeak.synthesize(SENTENCE, voice="en-us+m3", pitch=70)
    assert not (len(other_voice) == len(first) and np.array_equal(other_voice, first))


_HASH_SCRIPT = """
import hashlib, sys
sys.path.insert(0, sys.argv[1])
from smoothclap.data import demo
h = hashlib.sha256()
for rec in demo.scan(None, "default", {"num_speakers": 4, "sentences_per_speaker": 1}):
    h.update(rec["audio"])
print(h.hexdigest())
"""


def test_demo_audio_is_identical_across_processes():
    """eSpeak NG seeds its random generator from the clock: without the fixed reseed in
    espeak._open every new process gave other bytes. Three fresh processes, a second apart."""
    import os
    import subprocess
    import sys
    import time

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    digests = set()
    for i in range(3):
        if i:
            time.sleep(1.1)  # time(NULL) has one-second resolution
        out = subprocess.run([sys.executable, "-c", _HASH_SCRIPT, root], capture_output=True, text=True,
                             check=True, timeout=120)
        digests.add(out.stdout.strip())
    assert len(digests) == 1, digests


def test_synthesize_errors_are_clear():
    with pytest.raises(espeak.EspeakError, match="does not know the voice"):
        espeak.synthesize(SENTENCE, voice="xx-nonexistent")
    with pytest.raises(ValueError, match="pitch"):
        espeak.synthesize(SENTENCE, pitch=150)
    with pytest.raises(ValueError):
        espeak.synthesize("   ")


def test_every_demo_voice_exists():
    variants = set(espeak.list_variants())
    for _, voice, gender, *_ in demo.SPEAKERS:
        assert voice.split("+")[1] in variants
        assert voice.split("+")[1][0] == gender[0]  # m* / f* variants carry the gender


# --------------------------------------------------------------------------- scanner
def _scan(**options):
    return list(demo.scan(None, "default", options))


def test_config_is_the_documented_one():
    cfg = demo.CONFIGS["default"]
    assert demo.NAME == "demo" and cfg.needs_data_dir is False
    assert cfg.labels == ["neutral", "happy", "angry", "sad"]
    assert cfg.query_texts == [f"this person is feeling {x}." for x in cfg.labels]
    assert "synthetic" in cfg.description.lower()


def test_same_seed_identical_records_other_seed_differs():
    a = _scan(num_speakers=2, sentences_per_speaker=1)
    b = _scan(num_speakers=2, sentences_per_speaker=1, synthesis_seed=0)
    assert len(a) == 2 * 1 * 4
    assert a == b  # byte-identical WAV bytes and identical values
    # all 36 sentences: same ids whatever the seed; islice: scan() is lazy
    first = list(itertools.islice(demo.scan(None, "default", {"num_speakers": 1, "sentences_per_speaker": 36}), 8))
    other = list(itertools.islice(
        demo.scan(None, "default", {"num_speakers": 1, "sentences_per_speaker": 36, "synthesis_seed": 1}), 8))
    stem = lambda r: r["id"].split("-")[0]  # noqa: E731  (the intensity after "-" is drawn too)
    assert [stem(r) for r in first] == [stem(r) for r in other]
    for x, y in zip(first, other):  # same speaker, sentence and emotion; other jitter
        assert x["audio"] != y["audio"] and x["arousal"] != y["arousal"]
    assert demo.sentence_subset(0, 0, 5) != demo.sentence_subset(1, 0, 5)
    rec = a[0]
    assert set(rec) == set(RECORD_KEYS)
    wave, sr = soundfile.read(io.BytesIO(rec["audio"]))
    assert sr == 22050 and len(wave) > sr
    acted, level = demo.acted_emotion(rec["id"])
    assert rec["label"] == rec["emotion"] and acted in demo.LABELS and (level is None) == (acted == "neutral")
    assert 1.0 <= rec["arousal"] <= 7.0


def test_dimensions_follow_the_emotion():
    recs = list(demo.scan(None, "default", {"discover": True, "num_speakers": 16, "sentences_per_speaker": 36}))
    mean = {e: np.mean([[r["arousal"], r["valence"], r["dominance"]] for r in recs if r["emotion"] == e], axis=0)
            for e in demo.LABELS}
    assert mean["angry"][0] > mean["neutral"][0] > mean["sad"][0]  # arousal
    assert mean["happy"][1] > mean["neutral"][1] > mean["angry"][1]  # valence
    assert mean["angry"][2] > mean["neutral"][2] > mean["sad"][2]  # dominance


def test_splits_are_speaker_disjoint_and_complete():
    recs = list(demo.scan(None, "default", {"discover": True}))  # default size, no synthesis
    assert len(recs) == 16 * 15 * 4 + 12 * 36 * 4 and all(r["audio"] is None for r in recs)
    assert len({r["id"] for r in recs}) == len(recs)
    speakers, emotions, genders = defaultdict(set), defaultdict(set), defaultdict(set)
    for r in recs:
        speakers[r["split"]].add(r["speaker"])
        emotions[r["split"]].add(r["emotion"])
        genders[r["split"]].add(r["gender"])
    assert set(speakers) == {"train", "validation", "test"}
    assert not (speakers["train"] & speakers["test"] or speakers["train"] & speakers["validation"]
                or speakers["validation"] & speakers["test"])
    for split in speakers:
        assert emotions[split] == set(demo.LABELS) and genders[split] == {"male", "female"}
    assert [len(speakers[s]) for s in ("train", "validation", "test")] == [16, 6, 6]  # power: 6 voices each
    for n in range(6, len(demo.SPEAKERS) + 1):  # every size from 6 speakers on
        splits = demo.speaker_splits(n)
        for split in ("train", "validation", "test"):
            assert {g for s, (_, _, g, *_) in zip(splits.values(), demo.SPEAKERS) if s == split} == {"male", "female"}


def test_split_hint_yields_only_that_split():
    only = list(demo.scan(None, "default", {"discover": True, "split": "test"}))
    full = [r for r in demo.scan(None, "default", {"discover": True}) if r["split"] == "test"]
    assert only == full and len(only) > 0


def test_bad_options_raise_corpus_error():
    for bad in ({"num_speakers": 0}, {"num_speakers": 29}, {"eval_sentences": 37}, {"sentences_per_speaker": "many"},
                {"sentences_per_speaker": 2.5}):
        with pytest.raises(CorpusError):
            next(demo.scan(None, "default", bad))
    with pytest.raises(CorpusError):
        next(demo.scan(None, "nope", {}))


def test_labels_are_the_annotators_majority_and_weaker_expressions_are_more_ambiguous():
    recs = list(demo.scan(None, "default", {"discover": True}))
    agree, levels = defaultdict(list), set()
    for r in recs:
        speaker = int(r["speaker"][3:]) - 1
        sentence = int(r["id"].split("_s")[1][:2])
        acted, level = demo.acted_emotion(r["id"])
        votes = demo.annotator_votes(0, speaker, sentence, demo.LABELS.index(acted))
        assert len(votes) >= demo.NUM_ANNOTATORS and r["label"] == demo.majority(votes)
        ranked = sorted((votes.count(x) for x in set(votes)), reverse=True)
        assert len(ranked) == 1 or ranked[0] > ranked[1]  # a plurality, never a tie
        agree[level].append(r["label"] == acted)
        levels.add(level)
    assert levels == {None, "weak", "medium", "strong"}
    rate = {level: np.mean(v) for level, v in agree.items()}
    assert rate["weak"] < rate["medium"] < rate["strong"] and 0.6 < rate["weak"] < 0.95, rate
    assert 0.85 < np.mean([x for v in agree.values() for x in v]) < 0.98  # labels mostly, not always, the acted one


def test_a_voice_baseline_is_not_the_label():
    """Speaker-level prosody: the loudest voice's neutral is louder (before jitter) than the quietest
    voice's medium anger, and the highest voice's sad is higher than the lowest voice's neutral."""
    loudness = [s[7] for s in demo.SPEAKERS]
    pitch = [s[4] for s in demo.SPEAKERS]
    medium = demo.INTENSITIES["medium"]
    assert 100 * max(loudness) > 100 * min(loudness) * (1 + medium * demo.PROSODY["angry"][3])
    assert max(pitch) + medium * demo.PROSODY["sad"][0] > min(pitch)


# --------------------------------------------------------------------------- end to end
@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "ds"
    dd = build("demo", None, out, num_workers=1, options={"num_speakers": 8, "sentences_per_speaker": 2,
                                                                  "eval_sentences": 2})
    return out, dd


def test_build_through_build(built):
    out, dd = built
    assert set(dd) == {"train", "validation", "test"}
    assert {s: len(d) for s, d in dd.items()} == {"train": 32, "validation": 16, "test": 16}
    assert dd.build_report.skipped_rows == 0
    labels, texts = label_texts(out)
    assert labels == demo.CONFIGS["default"].labels and texts == demo.CONFIGS["default"].query_texts
    for split, ds in dd.items():
        assert list(ds.column_names) == DOCUMENTED_COLUMNS
        names = ds.features["label"].names
        for row in ds:
            assert row["split"] == split and names[row["label"]] == row["emotion"]
            assert row["tags"].startswith(f"emotion: {row['emotion']}, gender: {row['gender']}, arousal: ")
            assert "pitch: " in row["tags"] and "loudness: " in row["tags"]
            parts = row["caption"].split(" and ")
            assert parts[-1] == row["tag_sentences"][0] and set(parts) <= set(row["tag_sentences"])  # emotion last (reference)
            assert len(row["egemaps"]) == 88 and row["duration"] > 0.8
    audio = dd["test"][0]["audio"]
    assert audio["path"].endswith(".wav") and soundfile.info(io.BytesIO(audio["bytes"])).samplerate == 22050


def test_prosody_shows_in_egemaps(built):
    _, dd = built
    pitch, loud = defaultdict(list), defaultdict(list)
    per_speaker = defaultdict(lambda: defaultdict(list))
    for ds in dd.values():
        for row in ds.select_columns(["id", "speaker", "pitch_mean", "loudness"]):
            acted, _ = demo.acted_emotion(row["id"])  # what was synthesised (the label is the annotators')
            pitch[acted].append(row["pitch_mean"])
            loud[acted].append(row["loudness"])
            per_speaker[row["speaker"]][acted].append(row["pitch_mean"])
    m = {e: np.mean(v) for e, v in pitch.items()}
    assert m["sad"] < m["neutral"] < min(m["angry"], m["happy"]), m
    assert np.mean(loud["sad"]) < np.mean(loud["neutral"]) < np.mean(loud["angry"])
    for speaker, by_emotion in per_speaker.items():  # within every voice, not only on average
        assert np.mean(by_emotion["sad"]) < np.mean(by_emotion["angry"]), speaker

"""MSP-Podcast scanner and the full build on generated MSP-Podcast trees (offline).

The scanner tests read label files only. The build tests share one module-scoped fixture
tree (one-second harmonic tones; some stereo, some 44.1 kHz; a missing, a corrupt, a
zero-length and a too-short file) built twice: through the CLI with one worker and
through ``build()`` with two workers; the two datasets must be identical.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from smoothclap.data import build, label_texts, msp_podcast  # noqa: E402
from smoothclap.data.builder import TAG_COLUMNS  # noqa: E402
from smoothclap.data.corpus import CorpusError, validate_record  # noqa: E402
from smoothclap.data.report import BuildReport  # noqa: E402
from smoothclap.data.writer import add_tags  # noqa: E402

COLUMNS = ["FileName", "EmoClass", "EmoAct", "EmoVal", "EmoDom", "SpkrID", "Gender", "Split_Set"]


# --------------------------------------------------------------------------- fixtures
def write_tone(path: Path, f0: float, seconds: float = 1.0, sr: int = 16000, channels: int = 1, level: float = 0.1):
    """A harmonic tone with a slow vibrato (voiced for openSMILE)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(round(sr * seconds))) / sr
    phase = 2 * np.pi * f0 * (t + 0.02 / (2 * np.pi * 4) * np.sin(2 * np.pi * 4 * t))
    wave = sum(np.sin(k * phase) / k for k in range(1, 6)) * level
    if channels > 1:
        wave = np.stack([wave * (1 - 0.1 * c) for c in range(channels)], axis=1)
    sf.write(path, wave.astype(np.float32), sr, subtype="PCM_16")


def row(n, code, split, spk="12", gender="Female", act=4.0, val=4.0, dom=4.0):
    return {
        "FileName": f"MSP-PODCAST_0001_{n:04d}.wav",
        "EmoClass": code,
        "EmoAct": act,
        "EmoVal": val,
        "EmoDom": dom,
        "SpkrID": spk,
        "Gender": gender,
        "Split_Set": split,
    }


def write_labels(root: Path, rows: list[dict], fmt: str = "csv") -> Path:
    labels = root / "Labels"
    labels.mkdir(parents=True, exist_ok=True)
    if fmt == "json":
        path = labels / "labels_consensus.json"
        path.write_text(json.dumps({r["FileName"]: {k: v for k, v in r.items() if k != "FileName"} for r in rows}))
        return path
    path = labels / ("labels_concensus.csv" if fmt == "csv_old" else "labels_consensus.csv")
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return path


def make_tree(root: Path, rows: list[dict], fmt: str = "csv", audio: bool = True) -> Path:
    (root / "Audios").mkdir(parents=True, exist_ok=True)
    write_labels(root, rows, fmt)
    if audio:
        for i, r in enumerate(rows):
            write_tone(root / "Audios" / r["FileName"], 110 + 15 * i, seconds=0.3)
    return root


SCAN_ROWS = [
    row(0, "A", "Train", spk="127", gender="Male", act=6.2, val=2.0, dom=5.8),
    row(1, "H", "Train", spk="Unknown", gender="Female", act=5.0, val=6.4, dom=4.2),
    row(2, "N", "Development", spk="35", gender="Unknown"),
    row(3, "X", "Train"),
    row(4, "O", "Test1"),
    row(5, "S", "Test1", spk="35", gender="Male", act=2.4, val=2.2, dom=3.0),
    row(6, "C", "Test2"),
    row(7, "X", "Test2"),
]


def scan(root, **options):
    report = BuildReport("msp_podcast", "default")
    records = list(msp_podcast.scan(root, "default", dict(options, report=report)))
    return records, report


# --------------------------------------------------------------------------- scanner
@pytest.mark.parametrize("fmt", ["csv", "csv_old", "json"])
def test_scan_rows_labels_speakers_splits(tmp_path, fmt):
    root = make_tree(tmp_path / "msp", SCAN_ROWS, fmt=fmt, audio=False)
    for r in SCAN_ROWS:  # flat Audios/ layout, file contents do not matter for scanning
        (root / "Audios" / r["FileName"]).write_bytes(b"")
    records, report = scan(root)
    by_id = {r["id"]: r for r in records}
    assert list(by_id) == [  # every row but the two X (no agreement) rows, O included (the paper's selection)
        "MSP-PODCAST_0001_0000",
        "MSP-PODCAST_0001_0001",
        "MSP-PODCAST_0001_0002",
        "MSP-PODCAST_0001_0004",
        "MSP-PODCAST_0001_0005",
        "MSP-PODCAST_0001_0006",
    ]
    a = by_id["MSP-PODCAST_0001_0000"]
    assert (a["label"], a["emotion"], a["speaker"], a["gender"], a["split"]) == ("anger", "angry", "127", "male", "train")
    assert (a["arousal"], a["valence"], a["dominance"]) == (6.2, 2.0, 5.8)
    assert a["audio"] == str(root / "Audios" / "MSP-PODCAST_0001_0000.wav")
    h = by_id["MSP-PODCAST_0001_0001"]
    assert (h["emotion"], h["speaker"], h["gender"]) == ("happy", None, "female")
    n = by_id["MSP-PODCAST_0001_0002"]
    assert (n["split"], n["gender"], n["emotion"]) == ("validation", None, "neutral")
    assert by_id["MSP-PODCAST_0001_0005"]["split"] == "test1"
    assert by_id["MSP-PODCAST_0001_0006"]["emotion"] == "contemptuous"
    assert by_id["MSP-PODCAST_0001_0006"]["split"] == "test2"
    other = by_id["MSP-PODCAST_0001_0004"]  # "other" is a label, not an emotion word for captions
    assert (other["label"], other["emotion"], other["split"]) == ("other", None, "test1")
    assert report.dropped == {msp_podcast.DROP_NO_AGREEMENT: 2}
    for record in records:  # every record satisfies the contract
        validate_record(record, msp_podcast.CONFIGS["default"])


def test_exclude_other_drops_and_counts_o_rows(tmp_path):
    root = make_tree(tmp_path / "msp", SCAN_ROWS, audio=False)
    records, report = scan(root, exclude_other=True)
    assert "MSP-PODCAST_0001_0004" not in {r["id"] for r in records} and len(records) == 5
    assert report.dropped == {msp_podcast.DROP_NO_AGREEMENT: 2, msp_podcast.DROP_OTHER: 1}
    assert "exclude_other" in msp_podcast.DROP_OTHER


@pytest.mark.parametrize(
    "names, expected",
    [
        (["Train", "Validation", "Test"], ["train", "validation", "test"]),  # releases with one test set
        (["Train", "Development", "Test1", "Test2", "Test3"], ["train", "validation", "test1", "test2", "test3"]),
    ],
)
def test_release_split_names_are_normalised(tmp_path, names, expected):
    rows = [row(i, "N", name) for i, name in enumerate(names)]
    root = make_tree(tmp_path / "msp", rows, audio=False)
    records, _ = scan(root)
    assert [r["split"] for r in records] == expected


def test_unknown_codes_and_splits_error_or_drop(tmp_path):
    rows = SCAN_ROWS + [row(20, "Z", "Train"), row(21, "Q", "Train"), row(22, "N", "Holdout"), row(23, "Z", "Test1")]
    root = make_tree(tmp_path / "msp", rows, audio=False)
    with pytest.raises(CorpusError) as info:
        scan(root)
    message = str(info.value)
    assert "'Z' (2 rows)" in message and "'Q' (1 rows)" in message and "'Holdout'" in message
    assert "labels_consensus.csv" in message and "drop" in message

    records, report = scan(root, drop_unknown=True)
    assert len(records) == 6  # the known rows are untouched
    assert report.dropped["unknown EmoClass 'Z' (drop_unknown)"] == 2
    assert report.dropped["unknown EmoClass 'Q' (drop_unknown)"] == 1
    assert report.dropped["unknown Split_Set 'Holdout' (drop_unknown)"] == 1
    assert report.dropped_rows == 2 + 4  # X, X + the four unknown rows, each counted once


def test_missing_root_audios_or_labels_name_the_paths(tmp_path):
    with pytest.raises(CorpusError, match="root not found.*nope"):
        scan(tmp_path / "nope")
    (tmp_path / "msp").mkdir()
    with pytest.raises(CorpusError, match=r"Audios"):
        scan(tmp_path / "msp")
    (tmp_path / "msp" / "Audios").mkdir()
    with pytest.raises(CorpusError) as info:
        scan(tmp_path / "msp")
    assert "labels_consensus.csv" in str(info.value) and "labels_concensus.csv" in str(info.value)
    (tmp_path / "msp" / "Labels").mkdir()
    (tmp_path / "msp" / "Labels" / "labels_consensus.csv").write_text("FileName,EmoClass\nx.wav,N\n")
    with pytest.raises(CorpusError, match="lacks column.*Split_Set"):
        scan(tmp_path / "msp")


def test_audio_in_subfolders_is_found(tmp_path):
    rows = [row(0, "A", "Train"), row(1, "N", "Train")]
    root = tmp_path / "msp"
    write_labels(root, rows)
    (root / "Audios" / "part1").mkdir(parents=True)
    (root / "Audios" / "part1" / rows[0]["FileName"]).write_bytes(b"x")
    (root / "Audios" / rows[1]["FileName"]).write_bytes(b"x")
    records, _ = scan(root)
    assert records[0]["audio"] == str(root / "Audios" / "part1" / rows[0]["FileName"])
    assert records[1]["audio"] == str(root / "Audios" / rows[1]["FileName"])


# --------------------------------------------------------------------------- build
BUILD_ROWS = [
    # train: tones of different pitch, level and length; one stereo, one 44.1 kHz
    row(0, "A", "Train", spk="1", gender="Male", act=6.5, val=2.0, dom=6.0),
    row(1, "H", "Train", spk="2", gender="Female", act=5.5, val=6.5, dom=4.5),
    row(2, "S", "Train", spk="3", gender="Female", act=2.0, val=2.5, dom=2.5),
    row(3, "N", "Train", spk="Unknown", gender="Male", act=4.0, val=4.0, dom=4.0),
    row(4, "U", "Train", spk="4", gender="Male", act=5.0, val=5.0, dom=3.5),
    row(5, "F", "Train", spk="5", gender="Female", act=4.5, val=3.0, dom=3.0),
    row(6, "D", "Train", spk="6", gender="Male", act=3.5, val=3.5, dom=5.0),
    row(7, "X", "Train"),  # no agreement: dropped
    row(8, "O", "Train", spk="10", gender="Male", act=4.2, val=3.9, dom=4.1),  # other: kept, no emotion sentence
    row(9, "N", "Train"),  # labels row without audio file: skipped
    row(10, "A", "Train"),  # corrupt file: skipped
    row(11, "H", "Development", spk="7", gender="Female", act=6.8, val=6.8, dom=6.8),
    row(12, "S", "Development", spk="8", gender="Male", act=1.5, val=1.5, dom=1.5),
    row(13, "C", "Test1", spk="9", gender="Female", act=3.0, val=3.0, dom=6.0),
    row(14, "N", "Test1"),  # zero-length file: skipped
    row(15, "N", "Test1"),  # 0.05 s, too short for eGeMAPS: skipped
]
# (f0, seconds, sample rate, channels, level) of the generated files
TONES = {
    0: (220, 1.0, 16000, 1, 0.3),
    1: (260, 1.2, 16000, 2, 0.2),
    2: (110, 0.8, 16000, 1, 0.05),
    3: (150, 1.0, 44100, 1, 0.1),
    4: (180, 0.9, 16000, 1, 0.15),
    5: (200, 1.1, 44100, 2, 0.08),
    6: (130, 1.0, 16000, 1, 0.12),
    7: (140, 1.0, 16000, 1, 0.1),
    8: (160, 1.0, 16000, 1, 0.1),
    11: (420, 1.5, 16000, 1, 0.4),  # validation / test are outliers: fitting on them would move p30/p70
    12: (400, 1.6, 16000, 1, 0.4),
    13: (380, 1.4, 16000, 1, 0.4),
    15: (200, 0.05, 16000, 1, 0.1),
}
SKIPPED = {
    "MSP-PODCAST_0001_0009": "not found",
    "MSP-PODCAST_0001_0010": "unreadable",
    "MSP-PODCAST_0001_0014": "unreadable",
    "MSP-PODCAST_0001_0015": "too short",
}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """One tree, built by the CLI (1 worker) and by build() (2 workers)."""
    from smoothclap.data.__main__ import main

    base = tmp_path_factory.mktemp("msp_build")
    root = base / "MSP-PODCAST"
    write_labels(root, BUILD_ROWS)
    audios = root / "Audios"
    for n, (f0, seconds, sr, channels, level) in TONES.items():
        sub = "part2" if n == 6 else ""  # one file in a subfolder
        write_tone(audios / sub / f"MSP-PODCAST_0001_{n:04d}.wav", f0, seconds, sr, channels, level)
    (audios / "MSP-PODCAST_0001_0010.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunkjunkjunk" * 4)
    (audios / "MSP-PODCAST_0001_0014.wav").write_bytes(b"")

    out1, out2 = base / "out1", base / "out2"
    rc = main(["build", "msp_podcast", "--data-dir", str(root), "--output", str(out1), "--num-workers", "1"])
    assert rc == 0
    # fork: the workers inherit the imported decoder (the default forkserver re-imports
    # torch + transformers once, ~10 s; bench/builder_memory.py runs that default path)
    dd2 = build("msp_podcast", root, out2, num_workers=2, seed=0, start_method="fork")
    return {"root": root, "out1": out1, "out2": out2, "dd2": dd2, "base": base}


def test_build_rows_columns_and_report(built, capsys):
    import datasets

    dd = datasets.load_from_disk(str(built["out1"]))
    assert list(dd) == ["train", "validation", "test1"]
    assert {s: len(d) for s, d in dd.items()} == {"train": 8, "validation": 2, "test1": 1}
    expected = [
        "id", "audio", "split", "speaker", "gender", "label", "emotion", "arousal", "valence", "dominance",
        "duration", "pitch_mean", "pitch_variation", "loudness", "jitter", "shimmer", "egemaps",
        "tag_sentences", "caption", "tags",
    ]
    assert dd["train"].column_names == expected
    train = {r["id"]: r for r in dd["train"]}
    r0 = train["MSP-PODCAST_0001_0000"]
    assert (r0["label"], r0["emotion"], r0["speaker"], r0["gender"], r0["split"]) == ("anger", "angry", "1", "male", "train")
    assert r0["arousal"] == pytest.approx(6.5) and len(r0["egemaps"]) == 88
    assert r0["audio"]["path"] == "Audios/MSP-PODCAST_0001_0000.wav"
    o_row = train["MSP-PODCAST_0001_0008"]  # EmoClass O: kept, captioned without an emotion sentence
    assert (o_row["label"], o_row["emotion"]) == ("other", None) and o_row["caption"]
    assert "other" not in o_row["caption"] and "emotion" not in o_row["tags"]
    assert not any("other" in sentence for sentence in o_row["tag_sentences"])
    assert r0["audio"]["bytes"] == (built["root"] / "Audios" / "MSP-PODCAST_0001_0000.wav").read_bytes()
    assert train["MSP-PODCAST_0001_0006"]["audio"]["path"] == "Audios/part2/MSP-PODCAST_0001_0006.wav"
    assert train["MSP-PODCAST_0001_0003"]["speaker"] is None  # "Unknown"
    # 44.1 kHz stereo decoded, downmixed, resampled: duration from the 16 kHz wave
    assert train["MSP-PODCAST_0001_0005"]["duration"] == pytest.approx(1.1, abs=1e-3)
    assert train["MSP-PODCAST_0001_0001"]["duration"] == pytest.approx(1.2, abs=1e-3)
    assert all(r["pitch_mean"] is not None and r["caption"] for r in dd["train"])
    # the audio column is Audio's Arrow layout
    from datasets import Audio

    dd["validation"].cast_column("audio", Audio(decode=False))

    report = json.loads((built["out1"] / "build_report.json").read_text())
    assert report["input_rows"] == report["built_rows"] + report["skipped_rows"] == 15
    assert report["input_equals_built_plus_skipped"] is True
    assert report["built_rows"] == 11 and report["skipped_rows"] == 4
    assert {s["id"]: s for s in report["skipped"]}.keys() == SKIPPED.keys()
    for skipped in report["skipped"]:
        assert SKIPPED[skipped["id"]] in skipped["reason"], skipped
        assert skipped["path"].endswith(skipped["id"] + ".wav")
    assert report["dropped"] == {msp_podcast.DROP_NO_AGREEMENT: 1}
    assert report["splits"]["test1"] == {"input": 3, "built": 1, "skipped": 2}

    card = (built["out1"] / "README.md").read_text()
    assert "built 11 + skipped 4" in card and "may not be redistributed" in card
    assert "| train | 8 |" in card
    assert "'other' class" in card and "no emotion sentence" in card
    assert label_texts(built["out1"]) == (None, None)


def test_thresholds_fitted_on_train_only_and_reused(built):
    import datasets

    from smoothclap.data import captions

    dd = datasets.load_from_disk(str(built["out1"]))
    saved = captions.load_thresholds(built["out1"] / "thresholds.json")
    columns = [*captions.BINNED_ATTRIBUTES, "egemaps"]  # sound_level comes from the eGeMAPS vector
    train_only = captions.fit_thresholds_from_columns({c: dd["train"][c] for c in columns})
    everything = captions.fit_thresholds_from_columns({c: [v for d in dd.values() for v in d[c]] for c in columns})
    assert saved.keys() == set(captions.THRESHOLD_ATTRIBUTES)
    for attr in saved:
        assert saved[attr] == pytest.approx(train_only[attr], rel=1e-6)
    assert saved["pitch_mean"] != pytest.approx(everything["pitch_mean"])  # the outliers were not used
    for split in ("validation", "test1"):
        for r in dd[split]:  # other splits are tagged with the train cut points
            assert r["tags"] == captions.compact_tags(r, saved)
            assert "pitch: high" in r["tags"]


def test_two_workers_give_the_same_dataset_and_captions_are_seeded(built):
    import datasets

    dd1 = datasets.load_from_disk(str(built["out1"]))
    dd2 = built["dd2"]
    assert list(dd1) == list(dd2)
    for split in dd1:
        assert dd1[split].to_dict() == dd2[split].to_dict()
    assert json.loads((built["out1"] / "thresholds.json").read_text()) == json.loads(
        (built["out2"] / "thresholds.json").read_text()
    )
    # another seed gives other captions (same tags), deterministically
    thr = json.loads((built["out1"] / "thresholds.json").read_text())["thresholds"]
    a = add_tags(dd1["train"].remove_columns(list(TAG_COLUMNS)), thr, seed=1)
    b = add_tags(dd1["train"].remove_columns(list(TAG_COLUMNS)), thr, seed=1)
    assert a["caption"] == b["caption"]
    assert a["caption"] != dd1["train"]["caption"] and a["tags"] == dd1["train"]["tags"]


def test_export_captions_has_no_audio(built, capsys):
    from smoothclap.data.__main__ import main

    out = built["base"] / "captions"
    assert main(["export-captions", "--input", str(built["out1"]), "--output", str(out)]) == 0
    assert "no audio" in capsys.readouterr().out
    import datasets

    exported = datasets.load_from_disk(str(out))
    original = datasets.load_from_disk(str(built["out1"]))
    for split in original:
        assert "audio" not in exported[split].column_names
        assert exported[split]["id"] == original[split]["id"]
        assert exported[split]["caption"] == original[split]["caption"]
        assert exported[split]["egemaps"] == original[split]["egemaps"]
    assert (out / "thresholds.json").is_file() and (out / "build_report.json").is_file()
    card = (out / "README.md").read_text()
    assert "no audio column" in card and "captions only" in card
    assert json.loads((out / "smoothclap.json").read_text())["captions_only"] is True


def test_cli_errors_exit_2_with_one_line(tmp_path, capsys):
    from smoothclap.data.__main__ import main

    rc = main(["build", "msp_podcast", "--data-dir", str(tmp_path / "missing"), "--output", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("error: MSP-Podcast root not found") and err.count("\n") == 1
    assert not (tmp_path / "o").exists()  # a failed build leaves no output folder behind

    root = make_tree(tmp_path / "msp", [row(0, "Z", "Train"), row(1, "N", "Train")], audio=False)
    rc = main(["build", "msp_podcast", "--data-dir", str(root), "--output", str(tmp_path / "o2")])
    err = capsys.readouterr().err
    assert rc == 2 and "Unknown values" in err and "'Z' (1 rows)" in err and "Traceback" not in err


def test_cli_subprocess_error_exit_code(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "dataset_scripts", "build", "msp_podcast", "--data-dir", str(tmp_path / "none"),
         "--output", str(tmp_path / "out")],
        cwd=str(ROOT),
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "HF_DATASETS_OFFLINE": "1"},
    )
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [f"error: MSP-Podcast root not found: {tmp_path / 'none'} "
                                               "(expected a folder with Audios/ and Labels/)."]


def test_cli_exclude_other_counts_o_rows_and_only_msp_podcast_has_it(tmp_path, capsys):
    from smoothclap.data.__main__ import main

    root = make_tree(tmp_path / "msp", [row(0, "O", "Train"), row(1, "N", "Train"), row(2, "X", "Train")])
    out = tmp_path / "out"
    rc = main(["build", "msp_podcast", "--data-dir", str(root), "--output", str(out), "--no-features",
               "--exclude-other"])
    assert rc == 0
    assert f"dropped 1: {msp_podcast.DROP_OTHER}" in capsys.readouterr().out
    report = json.loads((out / "build_report.json").read_text())
    assert report["dropped"] == {msp_podcast.DROP_NO_AGREEMENT: 1, msp_podcast.DROP_OTHER: 1}
    assert report["input_rows"] == report["built_rows"] == 1

    rc = main(["build", "demo", "--output", str(tmp_path / "demo"), "--exclude-other"])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1
    assert err.startswith("error: Unknown option 'exclude_other' for corpus 'demo'") and "num_speakers" in err
    assert not (tmp_path / "demo").exists()

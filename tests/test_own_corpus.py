"""A user's own corpus in the folder layout (issue 24, items 1 and 2): nothing dropped unseen,
label folders that collide, speaker patterns that miss, splits that do not leak.

Every test writes a small tree of generated tones in tmp_path. Builds run with
features=False (eGeMAPS is not what is tested here).
"""

import io
import json
import os

import numpy as np
import pytest
import soundfile as sf

from smoothclap.data import build, folder
from smoothclap.data.corpus import CorpusError
from smoothclap.data.report import BuildReport

SPEAKER = r"^(s\d+)_"


def _audio(fmt: str = "WAV", seconds: float = 0.3) -> bytes:
    t = np.arange(int(seconds * 16000)) / 16000
    x = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    buf = io.BytesIO()
    sf.write(buf, x, 16000, format=fmt)
    return buf.getvalue()


WAV, FLAC, OGG, MP3 = _audio("WAV"), _audio("FLAC"), _audio("OGG"), _audio("MP3")


def _put(root, rel, data: bytes = WAV):
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _all_files(root) -> set[str]:
    return {os.path.relpath(os.path.join(d, f), root).replace(os.sep, "/") for d, _, fs in os.walk(root) for f in fs}


def _messy(root):
    """Mixed extensions and cases, nested folders, hidden files, bad files, an mp3, an m4a."""
    for rel, data in {
        "angry/s01_a.wav": WAV, "angry/s02_a.WAV": WAV, "angry/sub/s01_b.flac": FLAC,
        "angry/take_without_speaker.wav": WAV,          # the speaker pattern misses it
        "sad/s01_a.wav": WAV, "sad/s02_a.ogg": OGG, "sad/bad.wav": b"not audio at all",
        "sad/s03_empty.wav": b"", "sad/s03_phone.m4a": b"\x00\x00\x00\x20ftypM4A isom",
        "sad/notes.txt": b"recorded in 2026",
        "calm/deep/er/s03_c.mp3": MP3,                   # libsndfile >= 1.1 reads MP3
        ".DS_Store": b"x", "angry/._s01_a.wav": b"x", ".cache/s01_z.wav": WAV,
        "stray.wav": WAV, "README.md": b"my corpus",
    }.items():
        _put(root, rel, data)


def test_messy_corpus_every_file_is_accounted_for(tmp_path):
    data, out = tmp_path / "mine", tmp_path / "out"
    _messy(data)
    dd = build("folder", data, out, options={"speaker_regex": SPEAKER}, features=False)
    report = json.loads((out / "build_report.json").read_text())
    built = {row["audio"]["path"] for ds in dd.values() for row in ds}
    skipped = {row["path"]: row["reason"] for row in report["skipped"]}
    ignored = {row["path"]: row["reason"] for row in report["ignored"]}
    # every file is exactly one of built, skipped, ignored, and the report says it adds up
    assert built | set(skipped) | set(ignored) == _all_files(data)
    assert len(built) + len(skipped) + len(ignored) == len(_all_files(data)) == report["files"]["total"] == 16
    assert report["files"]["total_equals_built_plus_skipped_plus_ignored"] is True
    assert built == {"angry/s01_a.wav", "angry/s02_a.WAV", "angry/sub/s01_b.flac", "angry/take_without_speaker.wav",
                     "sad/s01_a.wav", "sad/s02_a.ogg", "calm/deep/er/s03_c.mp3"}
    assert set(skipped) == {"sad/bad.wav", "sad/s03_empty.wav"}
    assert ignored["sad/s03_phone.m4a"].startswith("audio format .m4a cannot be read")
    assert "ffmpeg -i 'sad/s03_phone.m4a' 'sad/s03_phone.wav'" in ignored["sad/s03_phone.m4a"]
    for rel in (".DS_Store", "angry/._s01_a.wav", ".cache/s01_z.wav"):
        assert ignored[rel] == "hidden file or folder"
    assert ignored["stray.wav"].startswith("outside a label folder")
    assert ignored["sad/notes.txt"].startswith("not an audio file (extension .txt")
    assert ignored["README.md"].startswith("not an audio file")
    # the labels come from folders with readable audio; the mp3 is a row with its speaker
    rows = {row["id"]: row for row in dd["full"]}
    assert dd["full"].features["label"].names == ["angry", "calm", "sad"]
    assert rows["calm/deep/er/s03_c"]["speaker"] == "s03"
    # the pattern's miss is counted and listed, and the row says so (speaker None)
    assert rows["angry/take_without_speaker"]["speaker"] is None
    (miss,) = [w for w in report["warnings"] if w["message"].startswith("speaker_regex")]
    assert "found no speaker in 2 of 9 files" in miss["message"]
    assert miss["files"] == ["angry/take_without_speaker.wav", "sad/bad.wav"]
    summary = dd.build_report.summary()
    assert "files under the corpus folder: 16 = built 7 + skipped 2 + ignored 7 (checked)" in summary
    assert "skipped sad/bad.wav: " in summary and "skipped sad/s03_empty.wav: " in summary  # named in full
    assert "warning: 1 .m4a files were not read" in summary and "warning: speaker_regex" in summary
    assert "ignored 3 (.DS_Store, .cache/s01_z.wav, angry/._s01_a.wav): hidden file or folder" in summary
    card = (out / "README.md").read_text()
    assert "Files under the corpus folder: 16 = built 7 + skipped 2 + ignored 7" in card


def test_report_refuses_files_that_do_not_add_up():
    report = BuildReport("folder", "default")
    report.set_inventory(5, [{"path": "x.txt", "reason": "not an audio file"}])
    report.add_input("full", 3)
    report.add_built("full", 3)
    assert not report.consistent
    with pytest.raises(RuntimeError, match="every file: 5 files != input 3 \\+ ignored 1"):
        report.check()
    assert "(DOES NOT ADD UP)" in report.summary()
    again = BuildReport.from_dict(report.to_dict())  # what a reused cache reads back
    assert again.files_total == 5 and again.ignored == report.ignored


@pytest.mark.parametrize("first,second", [("Angry", "angry"), ("very happy", "very_happy")])
def test_label_folders_differing_in_case_or_spacing_are_an_error_until_mapped(tmp_path, first, second):
    for label in (first, second, "sad"):
        _put(tmp_path, f"{label}/s01_x.wav")
    with pytest.raises(CorpusError, match=f"label folders '{first}/' and '{second}/' differ only in case or spacing"):
        folder.resolve_config(tmp_path)
    cfg = folder.resolve_config(tmp_path, "default", {"label_map": {first: second}})
    assert cfg.labels == sorted([second, "sad"])
    records = list(folder.scan(tmp_path, "default", {"label_map": json.dumps({first: second})}))  # CLI: a JSON string
    assert sorted(r["label"] for r in records) == sorted([second, second, "sad"])
    (tmp_path / "map.json").write_text(json.dumps({first: second}))  # or a file, relative to the corpus folder
    assert folder.resolve_config(tmp_path, "default", {"label_map": "map.json"}).labels == cfg.labels
    with pytest.raises(CorpusError, match="label_map names \\['Agnry'\\], which are not label folders"):
        folder.resolve_config(tmp_path, "default", {"label_map": {"Agnry": "angry", first: second}})


def test_cli_label_clash_is_one_error_line_before_work(tmp_path, capsys):
    from smoothclap.data.__main__ import main

    for label in ("Angry", "angry"):
        _put(tmp_path / "data", f"{label}/s01_x.wav")
    out = tmp_path / "out"
    assert main(["build", "folder", "--data-dir", str(tmp_path / "data"), "--output", str(out), "--no-features"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: folder: label folders 'Angry/' and 'angry/'")
    assert "label_map='{\"Angry\": \"angry\"}'" in err[0]
    assert not out.exists()
    assert main(["build", "folder", "--data-dir", str(tmp_path / "data"), "--output", str(out), "--no-features",
                 "--option", 'label_map={"Angry": "angry"}']) in (0, None)
    assert json.loads((out / "smoothclap.json").read_text())["labels"] == ["angry"]


# --------------------------------------------------------------------------- speaker split
def _speakers_corpus(root, speakers=10, labels=("angry", "happy", "neutral", "sad"), clips=3, reverse=False):
    items = [(f"s{s:02d}", label, k) for s in range(speakers) for label in labels for k in range(clips)]
    for spk, label, k in reversed(items) if reverse else items:  # another creation order on disk
        _put(root, f"{label}/{spk}_{k}.wav")


def _assignment(root, **options):
    report = BuildReport("folder", "default")
    records = list(folder.scan(root, "default", dict(options, report=report)))
    return {r["id"]: (r["split"], r["speaker"], r["label"]) for r in records}, report


def test_speaker_split_is_disjoint_stratified_and_the_same_on_a_rebuild(tmp_path):
    _speakers_corpus(tmp_path / "a")
    _speakers_corpus(tmp_path / "b", reverse=True)
    options = {"speaker_regex": SPEAKER, "split": "speaker:80/10/10", "split_seed": 7}
    first, report = _assignment(tmp_path / "a", **options)
    speakers = {}
    for split, speaker, _ in first.values():
        speakers.setdefault(split, set()).add(speaker)
    assert sorted(speakers) == ["test", "train", "validation"]
    assert sum(len(s) for s in speakers.values()) == len(set.union(*speakers.values())) == 10  # disjoint
    assert [len(speakers[s]) for s in ("train", "validation", "test")] == [8, 1, 1]
    for split in speakers:  # every label in every split
        assert {label for s, _, label in first.values() if s == split} == {"angry", "happy", "neutral", "sad"}
    described = report.split_assignment
    assert described["method"] == "speaker" and described["seed"] == 7
    assert {s: set(v) for s, v in described["speakers"].items()} == speakers
    # the same files created in another order, scanned again: the same assignment
    assert _assignment(tmp_path / "b", **options)[0] == first
    assert _assignment(tmp_path / "a", **options)[0] == first
    # another seed moves speakers (the seed is not ignored)
    assert any(_assignment(tmp_path / "a", **dict(options, split_seed=seed))[0] != first for seed in range(1, 4))


def test_speaker_split_stratifies_speakers_with_one_label_each(tmp_path):
    for k in range(4):  # four speakers who only sound angry, four who only sound sad
        _put(tmp_path, f"angry/s0{k}_x.wav")
        _put(tmp_path, f"sad/s1{k}_x.wav")
    found, _ = _assignment(tmp_path, speaker_regex=SPEAKER, split="speaker:50/50")
    for split in ("train", "test"):
        labels = [label for s, _, label in found.values() if s == split]
        assert sorted(labels) == ["angry", "angry", "sad", "sad"]


def test_files_without_a_speaker_are_an_error_or_ignored_by_choice(tmp_path):
    _speakers_corpus(tmp_path, speakers=4, labels=("angry", "sad"), clips=1)
    _put(tmp_path, "sad/nameless.wav")
    options = {"speaker_regex": SPEAKER, "split": "speaker:50/25/25"}
    with pytest.raises(CorpusError, match="finds no speaker in 1 files \\(sad/nameless.wav\\).*no_speaker=ignore"):
        folder.resolve_config(tmp_path, "default", options)
    found, report = _assignment(tmp_path, no_speaker="ignore", **options)
    assert "sad/nameless" not in found and len(found) == 8
    assert [r["path"] for r in report.ignored] == ["sad/nameless.wav"]
    assert "no speaker id" in report.ignored[0]["reason"]
    assert report.split_assignment["no_speaker"] == {"policy": "ignore", "files": 1}


@pytest.mark.parametrize("options,message", [
    ({"split": "speaker:80/10/10"}, "needs speaker ids: pass --option speaker_regex"),
    ({"split": "random:80/20", "speaker_regex": SPEAKER}, "split must look like speaker:80/10/10"),
    ({"split": "speaker:80/10/10/5", "speaker_regex": SPEAKER}, "split must look like"),
    ({"split": "speaker:80/10/10", "speaker_regex": "^(s0[01])_"}, "needs at least 3 speakers .* found 2"),
    ({"split_seed": 3}, "split_seed only applies with --option split="),
    ({"split": "speaker:80/20", "split_file": "x.json", "speaker_regex": SPEAKER}, "either --option split"),
])
def test_bad_split_options_are_one_error(tmp_path, options, message):
    _speakers_corpus(tmp_path, speakers=2, labels=("angry", "sad"), clips=1)
    with pytest.raises(CorpusError, match=message):
        folder.resolve_config(tmp_path, "default", options)


def test_split_option_refused_when_the_corpus_has_split_folders(tmp_path):
    for split in ("train", "test"):
        _put(tmp_path, f"{split}/angry/s01_x.wav")
    with pytest.raises(CorpusError, match="already has split folders \\(test, train\\)"):
        folder.resolve_config(tmp_path, "default", {"split": "speaker:80/20", "speaker_regex": SPEAKER})


def test_build_with_speaker_split_records_it_in_card_and_metadata(tmp_path):
    data = tmp_path / "mine"
    _speakers_corpus(data, speakers=6, labels=("angry", "sad"), clips=2)
    options = {"speaker_regex": SPEAKER, "split": "speaker:60/20/20", "split_seed": 1}
    dd = build("folder", data, tmp_path / "out", options=options, features=False)
    again = build("folder", data, tmp_path / "again", options=options, features=False)
    assert list(dd) == ["train", "validation", "test"]
    for split in dd:
        assert sorted(dd[split]["id"]) == sorted(again[split]["id"])  # a rebuild: the same split
    meta = json.loads((tmp_path / "out" / "smoothclap.json").read_text())
    assigned = meta["split_assignment"]
    assert assigned["method"] == "speaker" and assigned["shares"] == {"train": 0.6, "validation": 0.2, "test": 0.2}
    assert {s: sorted(set(dd[s]["speaker"])) for s in dd} == assigned["speakers"]
    card = (tmp_path / "out" / "README.md").read_text()
    assert "## How the splits were made" in card and "`split=speaker:60/20/20`" in card
    assert "`split_seed=1`" in card and "| angry | " in card


# --------------------------------------------------------------------------- split files
def test_split_file_json_lists_ids_reports_unknown_and_unlisted(tmp_path):
    data = tmp_path / "mine"
    _speakers_corpus(data, speakers=3, labels=("angry", "sad"), clips=1)
    split_file = tmp_path / "splits.json"
    split_file.write_text(json.dumps({
        "train": ["angry/s00_0", "sad/s00_0.wav", "s01_0"],   # id, path, bare file name (ambiguous: 2 labels)
        "dev": ["angry/s01_0"],
        "test": ["sad/s02_0", "angry/s02_0", "sad/s99_0"],    # s99 does not exist
    }))
    dd = build("folder", data, tmp_path / "out", options={"split_file": str(split_file), "speaker_regex": SPEAKER},
               features=False)
    assert {s: sorted(dd[s]["id"]) for s in dd} == {
        "train": ["angry/s00_0", "sad/s00_0"], "validation": ["angry/s01_0"], "test": ["angry/s02_0", "sad/s02_0"]}
    report = json.loads((tmp_path / "out" / "build_report.json").read_text())
    warnings = {w["message"].split(" ")[1]: w for w in report["warnings"]}
    assert warnings["ids"]["files"] == ["s01_0", "sad/s99_0"]  # not found (s01_0 names two files)
    assert [r["path"] for r in report["ignored"]] == ["sad/s01_0.wav"]  # not listed
    assert report["ignored"][0]["reason"] == "not listed in split_file splits.json"
    assert report["files"]["total"] == 6 and report["files"]["ignored"] == 1
    assigned = report["split_assignment"]
    assert assigned["file"] == "splits.json" and assigned["not_found"] == 2 and assigned["not_listed"] == 1


def test_split_file_emobox_jsonl_per_split_and_folds(tmp_path):
    _speakers_corpus(tmp_path / "data", speakers=3, labels=("angry", "sad"), clips=1)
    folds = tmp_path / "fold_1"
    folds.mkdir()
    for split, speakers in (("train", ("s00", "s01")), ("test", ("s02",))):
        lines = [json.dumps({"key": f"mine-{spk}_0", "wav": f"downloads/mine/{label}/{spk}_0.wav", "emo": label})
                 for spk in speakers for label in ("angry", "sad")]
        (folds / f"mine_{split}_fold_1.jsonl").write_text("\n".join(lines) + "\n")
    files = [str(folds / "mine_train_fold_1.jsonl"), str(folds / "mine_test_fold_1.jsonl")]
    found, report = _assignment(tmp_path / "data", split_file=files, speaker_regex=SPEAKER)
    assert sorted(k for k, v in found.items() if v[0] == "test") == ["angry/s02_0", "sad/s02_0"]
    assert len(found) == 6 and report.ignored == [] and report.warnings == []
    # folds in one JSON file: a fold must be chosen; a clip in two splits is an error
    both = tmp_path / "folds.json"
    both.write_text(json.dumps({"fold_1": {"train": ["angry/s00_0"], "test": ["sad/s00_0"]},
                                "fold_2": {"train": ["angry/s00_0"], "test": ["angry/s00_0"]}}))
    with pytest.raises(CorpusError, match="holds folds \\['fold_1', 'fold_2'\\]: choose one with --option split_fold"):
        _assignment(tmp_path / "data", split_file=str(both))
    found, report = _assignment(tmp_path / "data", split_file=str(both), split_fold="fold_1")
    assert found["sad/s00_0"][0] == "test" and len(report.ignored) == 4
    with pytest.raises(CorpusError, match="lists 1 clips in two splits: angry/s00_0 \\(train and test\\)"):
        _assignment(tmp_path / "data", split_file=str(both), split_fold="fold_2")


def test_split_file_that_is_not_speaker_disjoint_is_a_warning(tmp_path):
    _speakers_corpus(tmp_path / "data", speakers=2, labels=("angry", "sad"), clips=1)
    split_file = tmp_path / "s.json"
    split_file.write_text(json.dumps({"train": ["angry/s00_0", "angry/s01_0"], "test": ["sad/s00_0", "sad/s01_0"]}))
    _, report = _assignment(tmp_path / "data", split_file=str(split_file), speaker_regex=SPEAKER)
    assert report.warnings[0]["message"] == ("split_file s.json is not speaker-disjoint: 2 speakers are in more "
                                             "than one split (s00, s01)")

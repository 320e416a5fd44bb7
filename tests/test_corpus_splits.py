"""Splits for the named corpora without official ones (issue 24, item 2): TESS, CREMA-D and
RAVDESS take the folder corpus' split options (split_options.py).

Every test writes a small tree in the corpus' published layout with generated tones and runs
the real builder (features=False: eGeMAPS is not what is tested here).
"""

import io
import json

import numpy as np
import pytest
import soundfile as sf

from smoothclap.data import build, crema_d, ravdess, tess
from smoothclap.data.builder import SmoothClapBuilder
from smoothclap.data.corpus import CorpusError
from smoothclap.data.report import BuildReport


def _tone(seconds: float = 0.2) -> bytes:
    t = np.arange(int(seconds * 16000)) / 16000
    buf = io.BytesIO()
    sf.write(buf, (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), 16000, format="WAV")
    return buf.getvalue()


WAV = _tone()
CREMA_EMOTIONS = ("ANG", "DIS", "FEA", "HAP", "NEU", "SAD")


def _put(path, data: bytes = WAV):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _crema(root, actors=range(1001, 1011), reverse=False):
    """AudioWAV/ACTOR_SEN_EMO_LVL.wav, two sentences per actor and emotion, plus the demographics table."""
    names = [f"{actor}_{sentence}_{emo}_XX"
             for actor in actors for emo in CREMA_EMOTIONS for sentence in ("DFA", "IEO")]
    for name in reversed(names) if reverse else names:  # another creation order on disk
        _put(root / "AudioWAV" / f"{name}.wav")
    (root / "VideoDemographics.csv").write_text(
        "ActorID,Age,Sex,Race,Ethnicity\n" + "".join(f"{a},30,{'Male' if a % 2 else 'Female'},x,y\n" for a in actors))
    return names


def _ravdess(root, actors=range(1, 9)):
    """Actor_XX/03-01-EE-01-01-01-XX.wav for the 8 emotions, and a song file (dropped, counted)."""
    for actor in actors:
        for emo in range(1, 9):
            _put(root / f"Actor_{actor:02d}" / f"03-01-{emo:02d}-01-01-01-{actor:02d}.wav")
    _put(root / "Actor_01" / "03-02-03-01-01-01-01.wav")


def _tess(root):
    for speaker in ("OAF", "YAF"):
        for emotion in ("angry", "fear", "happy", "neutral", "sad"):
            for word in ("back", "bite"):
                _put(root / f"{speaker}_{emotion}" / f"{speaker}_{word}_{emotion}.wav")


def _scan(module, root, **options):
    report = BuildReport(module.NAME, "default")
    records = list(module.scan(root, "default", dict(options, report=report)))
    return {r["id"]: (r["split"], r["speaker"], r["label"]) for r in records}, report


def _speakers(dd) -> dict:
    return {split: set(dd[split]["speaker"]) for split in dd}


def _check_built(out, dd, spec: str, seed: int):
    """Speaker-disjoint, every label in every split, and the assignment recorded everywhere."""
    speakers = _speakers(dd)
    assert list(dd) == ["train", "validation", "test"]
    assert sum(len(s) for s in speakers.values()) == len(set.union(*speakers.values()))  # disjoint
    labels = set(dd["train"].features["label"].names)
    for split in dd:
        assert {dd[split].features["label"].int2str(x) for x in dd[split]["label"]} == labels  # stratified
        assert set(dd[split]["split"]) == {split}
    meta = json.loads((out / "smoothclap.json").read_text())
    assigned = meta["split_assignment"]
    assert assigned["method"] == "speaker" and assigned["seed"] == seed
    assert {s: set(v) for s, v in assigned["speakers"].items()} == speakers
    report = json.loads((out / "build_report.json").read_text())
    assert report["split_assignment"] == assigned
    card = (out / "README.md").read_text()
    assert "## How the splits were made" in card and f"`split=speaker:{spec}`" in card
    assert f"`split_seed={seed}`" in card and "Files without a speaker id" not in card


def test_crema_d_speaker_split_is_disjoint_reproducible_and_in_the_card(tmp_path):
    _crema(tmp_path / "a")
    _crema(tmp_path / "b", reverse=True)
    options = {"split": "speaker:60/20/20", "split_seed": 5}
    dd = build("crema_d", tmp_path / "a", tmp_path / "out", options=options, features=False)
    _check_built(tmp_path / "out", dd, "60/20/20", 5)
    assert [len(_speakers(dd)[s]) for s in dd] == [6, 2, 2]
    # a rebuild, and the same files created in another order: the same assignment
    again = build("crema_d", tmp_path / "b", tmp_path / "again", options=options, features=False)
    assert {s: sorted(again[s]["id"]) for s in again} == {s: sorted(dd[s]["id"]) for s in dd}
    assert set(dd["train"]["gender"]) == {"male", "female"}  # the scanner's other fields survive


def test_ravdess_speaker_split_is_disjoint_reproducible_and_in_the_card(tmp_path):
    _ravdess(tmp_path / "data")
    options = {"split": "speaker:50/25/25", "split_seed": 2}
    dd = build("ravdess", tmp_path / "data", tmp_path / "out", options=options, features=False)
    _check_built(tmp_path / "out", dd, "50/25/25", 2)
    assert [len(_speakers(dd)[s]) for s in dd] == [4, 2, 2]
    report = json.loads((tmp_path / "out" / "build_report.json").read_text())
    assert report["dropped"] == {"song file (vocal channel 02)": 1}  # exclusions still counted
    again = build("ravdess", tmp_path / "data", tmp_path / "again", options=options, features=False)
    assert {s: sorted(again[s]["id"]) for s in again} == {s: sorted(dd[s]["id"]) for s in dd}
    # the seed is not ignored: some other seed moves actors
    first, _ = _scan(ravdess, tmp_path / "data", **options)
    assert any(_scan(ravdess, tmp_path / "data", **dict(options, split_seed=s))[0] != first for s in range(3, 7))


def test_without_split_options_every_clip_stays_in_one_split(tmp_path):
    _ravdess(tmp_path)
    found, report = _scan(ravdess, tmp_path)
    assert {split for split, _, _ in found.values()} == {"all"} and report.split_assignment is None
    assert "split_assignment" not in report.to_dict()


def test_a_changed_split_option_rebuilds_instead_of_reusing_the_cache(tmp_path):
    _ravdess(tmp_path / "data")
    first, _ = _scan(ravdess, tmp_path / "data", split="speaker:50/25/25", split_seed=0)
    seed = next(s for s in range(1, 20)
                if _scan(ravdess, tmp_path / "data", split="speaker:50/25/25", split_seed=s)[0] != first)
    cache = tmp_path / "cache"
    built = {}
    for n, value in enumerate((0, seed)):
        options = {"split": "speaker:50/25/25", "split_seed": value}
        fingerprint = SmoothClapBuilder("ravdess", data_dir=tmp_path / "data", options=options,
                                        cache_dir=tmp_path / "fp").fingerprint()
        built[fingerprint] = build("ravdess", tmp_path / "data", tmp_path / f"out{n}", options=options,
                                   features=False, cache_dir=cache)
    assert len(built) == 2  # two cache keys
    first_dd, second_dd = built.values()
    assert {s: sorted(first_dd[s]["id"]) for s in first_dd} != {s: sorted(second_dd[s]["id"]) for s in second_dd}
    expected, _ = _scan(ravdess, tmp_path / "data", split="speaker:50/25/25", split_seed=seed)
    assert {i: s for s in second_dd for i in second_dd[s]["id"]} == {i: v[0] for i, v in expected.items()}


def test_tess_has_two_speakers_three_splits_is_one_error_line_and_two_work(tmp_path, capsys):
    from smoothclap.data.__main__ import main

    _tess(tmp_path / "data")
    out = tmp_path / "out"
    args = ["build", "tess", "--data-dir", str(tmp_path / "data"), "--output", str(out), "--no-features"]
    assert main(args + ["--option", "split=speaker:80/10/10"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("error: tess: split=speaker needs at least 3 speakers for the splits "
                             "['train', 'validation', 'test'], found 2 (OAF, YAF)")
    assert "split=speaker:80/0/20" in err[0] and "split_file=PATH" in err[0]
    assert not out.exists()
    # two splits from two speakers: one speaker each
    assert main(args + ["--option", "split=speaker:50/0/50", "--option", "split_seed=1"]) in (0, None)
    meta = json.loads((out / "smoothclap.json").read_text())
    speakers = meta["split_assignment"]["speakers"]
    assert sorted(speakers) == ["test", "train"] and sorted(speakers["train"] + speakers["test"]) == ["OAF", "YAF"]


@pytest.mark.parametrize("module,options,message", [
    (tess, {"split_fold": "1"}, "tess: --option split_fold only applies with --option split_file="),
    (crema_d, {"split_seed": 3}, "crema_d: --option split_seed only applies with --option split="),
    (ravdess, {"split": "speaker:80/10/10", "split_seed": "x"}, "ravdess: split_seed must be an integer"),
    (ravdess, {"split": "random:80/20"}, "split must look like speaker:80/10/10"),
    (crema_d, {"split": "speaker:80/20", "split_file": "s.json"}, "either --option split"),
])
def test_bad_split_options_are_one_error(tmp_path, module, options, message):
    {tess: _tess, crema_d: _crema, ravdess: _ravdess}[module](tmp_path)
    with pytest.raises(CorpusError, match=message):
        _scan(module, tmp_path, **options)


def test_crema_d_emobox_split_files_name_clips_by_key_or_path(tmp_path):
    data = tmp_path / "CREMA-D"
    names = _crema(data, actors=range(1001, 1005))
    folds = tmp_path / "emobox"
    folds.mkdir()
    for split, actors in (("train", ("1001", "1002")), ("test", ("1003",))):  # actor 1004 is not listed
        lines = [json.dumps({"key": f"crema-d-{n}", "wav": f"downloads/crema-d/AudioWAV/{n}.wav", "emo": n[9:12]})
                 for n in names if n[:4] in actors]
        (folds / f"crema-d_{split}_fold_1.jsonl").write_text("\n".join(lines) + "\n")
    files = [str(folds / "crema-d_train_fold_1.jsonl"), str(folds / "crema-d_test_fold_1.jsonl")]
    dd = build("crema_d", data, tmp_path / "out", options={"split_file": files}, features=False)
    assert {s: sorted(set(dd[s]["speaker"])) for s in dd} == {"train": ["1001", "1002"], "test": ["1003"]}
    assert len(dd["train"]) == 24 and len(dd["test"]) == 12
    report = json.loads((tmp_path / "out" / "build_report.json").read_text())
    left_out = "not listed in split_file crema-d_train_fold_1.jsonl, crema-d_test_fold_1.jsonl"
    assert report["dropped"] == {left_out: 12}  # never silent: counted, and named in a warning
    assert report["warnings"][0]["message"].startswith("12 files are not listed in split_file")
    assert report["warnings"][0]["files"][0] == "AudioWAV/1004_DFA_ANG_XX.wav"
    assigned = report["split_assignment"]
    assert assigned["method"] == "split_file" and assigned["not_listed"] == 12 and assigned["not_found"] == 0
    card = (tmp_path / "out" / "README.md").read_text()
    assert "From the split file `crema-d_train_fold_1.jsonl, crema-d_test_fold_1.jsonl`" in card


def test_split_file_relative_to_the_corpus_folder_and_edits_rebuild(tmp_path):
    data = tmp_path / "data"
    _ravdess(data, actors=range(1, 4))
    split_file = data / "splits.json"
    split_file.write_text(json.dumps({"train": ["Actor_01"], "test": ["Actor_09/03-01-05-01-01-01-09.wav"]}))
    with pytest.raises(CorpusError, match="no clip id in split_file splits.json matches"):
        _scan(ravdess, data, split_file="splits.json")
    before = SmoothClapBuilder("ravdess", data_dir=data, options={"split_file": "splits.json"},
                               cache_dir=tmp_path / "c").fingerprint()
    split_file.write_text(json.dumps({"train": ["03-01-01-01-01-01-02"],
                                      "test": ["Actor_03/03-01-05-01-01-01-03.wav"]}))
    found, report = _scan(ravdess, data, split_file="splits.json")
    assert {i: v[0] for i, v in found.items()} == {"03-01-01-01-01-01-02": "train", "03-01-05-01-01-01-03": "test"}
    assert report.dropped["not listed in split_file splits.json"] == 22
    after = SmoothClapBuilder("ravdess", data_dir=data, options={"split_file": "splits.json"},
                              cache_dir=tmp_path / "c").fingerprint()
    assert after != before  # an edited split file is a new cache key

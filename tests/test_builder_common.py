"""The shared builder (corpus contract, builder, report, writer, build()) on toy corpus modules.

Fast: the toy builds use ``features=False`` (duration from the file header, no eGeMAPS);
the eGeMAPS path is covered by tests/test_msp_podcast.py.
"""

from __future__ import annotations

import io
import json
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import datasets  # noqa: E402

from smoothclap.data import build, label_texts  # noqa: E402
from smoothclap.data.builder import CHUNK_SIZE, SmoothClapBuilder, iter_chunks  # noqa: E402
from smoothclap.data.corpus import (  # noqa: E402
    CORPUS_MODULES,
    RECORD_KEYS,
    CorpusConfig,
    CorpusError,
    count_drop,
    get_corpus,
    list_corpora,
    normalise_split,
    reject_unknown,
    validate_record,
)
from smoothclap.data.report import BuildReport  # noqa: E402
from smoothclap.data.writer import add_tags  # noqa: E402


def wav_bytes(seconds: float, sr: int = 16000, f0: float = 200.0) -> bytes:
    t = np.arange(int(sr * seconds)) / sr
    buf = io.BytesIO()
    sf.write(buf, (0.1 * np.sin(2 * np.pi * f0 * t)).astype(np.float32), sr, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def toy_module(records, labels=("yes", "no"), name="toy", pulled=None, rating_scale=(1, 7), options=None,
               seen_options=None):
    """A corpus module object following the contract; ``records`` is a list or a callable
    (called with the scan options). ``options``: its OPTIONS; ``seen_options`` collects
    the options dict of every scan call."""
    module = types.ModuleType(f"toy_corpus_{name}")
    module.NAME = name
    module.OPTIONS = dict(options or {})
    module.CONFIGS = {
        "default": CorpusConfig(
            labels=list(labels) if labels else None,
            query_texts=[f"the answer is {x}." for x in labels] if labels else None,
            description="A toy corpus.",
            license="CC-BY-4.0",
            needs_data_dir=False,
            rating_scale=rating_scale,
        )
    }

    def scan(data_dir, config_name, options):
        count_drop(options, "toy exclusion", 2)
        if seen_options is not None:
            seen_options.append(dict(options))
        source = records(options) if callable(records) else records
        for rec in source:
            if pulled is not None:
                pulled.append(rec["id"])
            yield dict(rec)

    module.scan = scan
    return module


def toy_records(n=6, split=lambda i: "all"):
    return [
        {
            "id": f"utt{i:02d}",
            "audio": wav_bytes(0.2 + 0.1 * i, f0=150 + 20 * i),
            "split": split(i),
            "speaker": f"spk{i % 2}",
            "gender": ("male", "female")[i % 2],
            "label": ("yes", "no")[i % 2],
            "emotion": ("happy", "sad")[i % 2],
            "arousal": 1.0 + i,
            "valence": None,
        }
        for i in range(n)
    ]


# --------------------------------------------------------------------------- small parts
def test_normalise_split_and_chunks():
    names = ["Train", "training", "Development", "Validation", "dev", "Test", "Test1", "test_2", "Test 3", "All", "??"]
    assert [normalise_split(n) for n in names] == [
        "train", "train", "validation", "validation", "validation", "test", "test1", "test2", "test3", "all", None,
    ]
    chunks = list(iter_chunks(iter(range(130)), 64))
    assert [len(c) for c in chunks] == [64, 64, 2]


def test_corpus_config_checks():
    cfg = CorpusConfig(labels=["a", "b"])
    assert cfg.query_texts == ["a", "b"]
    with pytest.raises(ValueError, match="one text per label"):
        CorpusConfig(labels=["a", "b"], query_texts=["only one"])
    with pytest.raises(ValueError, match="unique"):
        CorpusConfig(labels=["a", "a"])


@pytest.mark.parametrize(
    "record, message",
    [
        ({"id": "u1", "audio": "x.wav", "split": "train", "speeker": "s"}, r"'u1'.*unknown key.*speeker"),
        ({"id": "u1", "audio": "x.wav"}, r"'u1'.*missing required key 'split'"),
        ({"id": "u1", "audio": "x.wav", "split": "Train"}, r"'u1'.*'split'.*'Train'"),
        ({"id": "u1", "audio": 3, "split": "train"}, r"'u1'.*'audio'"),
        ({"id": "u1", "audio": "x.wav", "split": "train", "gender": "M"}, r"'u1'.*'gender'"),
        ({"id": "u1", "audio": "x.wav", "split": "train", "label": "maybe"}, r"'u1'.*'label'.*'maybe'"),
        ({"id": "u1", "audio": "x.wav", "split": "train", "arousal": "high"}, r"'u1'.*'arousal'"),
        ({"id": "u1", "audio": "x.wav", "split": "train", "valence": 7.5}, r"'u1'.*'valence' is 7.5, outside .* 1-7"),
        ({"id": "", "audio": "x.wav", "split": "train"}, r"'id'"),
    ],
)
def test_validate_record_names_id_and_key(record, message):
    with pytest.raises(CorpusError, match=message):
        validate_record(record, CorpusConfig(labels=["yes", "no"], rating_scale=(1, 7)), "toy")


def test_ratings_need_a_declared_scale():
    with pytest.raises(CorpusError, match=r"'u1'.*'arousal'.*declares no rating scale.*rating_scale="):
        validate_record({"id": "u1", "audio": "x.wav", "split": "train", "arousal": 3.0}, CorpusConfig(), "toy")
    with pytest.raises(ValueError, match="rating_scale"):
        CorpusConfig(rating_scale=(5, 1))


def test_validate_record_normalises():
    rec = validate_record(
        {"id": "u", "audio": Path("/a/b.wav"), "split": "test1", "arousal": float("nan"), "valence": 3},
        CorpusConfig(rating_scale=(1, 7)),
    )
    assert rec["audio"] == "/a/b.wav" and rec["arousal"] is None and rec["valence"] == 3.0
    assert rec["speaker"] is None and set(rec) == set(RECORD_KEYS)


def test_build_report_arithmetic_and_json(tmp_path):
    report = BuildReport("c", "default")
    report.add_input("train", 3)
    report.add_built("train", 2)
    report.skip("u3", "/x/u3.wav", "train", "empty audio")
    report.drop("no agreement", 4)
    report.check()
    assert report.consistent and "input 3 rows = built 2 + skipped 1 (checked)" in report.summary()
    report.write_json(tmp_path / "r.json")
    again = BuildReport.read_json(tmp_path / "r.json")
    assert again.to_dict() == report.to_dict()
    assert json.loads((tmp_path / "r.json").read_text())["dropped"] == {"no agreement": 4}
    report.add_input("test", 1)
    with pytest.raises(RuntimeError, match="'test'"):
        report.check()


def test_reject_unknown_raises_or_counts():
    with pytest.raises(CorpusError, match=r"Unknown label code in f.csv: 'Q' \(2 rows\)"):
        reject_unknown({}, "label code", {"Q": 2}, "f.csv")
    report = BuildReport()
    reject_unknown({"drop_unknown": True, "report": report}, "label code", {"Q": 2}, "f.csv")
    assert report.dropped == {"unknown label code 'Q' (drop_unknown)": 2}


def test_registry():
    with pytest.raises(CorpusError, match="Unknown corpus 'nope'.*msp_podcast"):
        get_corpus("nope")
    assert get_corpus("msp-podcast").NAME == "msp_podcast"
    assert get_corpus("smoothclap.data.msp_podcast").NAME == "msp_podcast"
    with pytest.raises(CorpusError, match="not a corpus module"):
        get_corpus(types.ModuleType("empty"))
    names = [entry["name"] for entry in list_corpora()]
    assert names[0] == "msp_podcast" and len(names) == len(CORPUS_MODULES)


# --------------------------------------------------------------------------- builds
def test_toy_build_labels_thresholds_on_all_rows_and_label_texts(tmp_path):
    module = toy_module(toy_records())
    out = tmp_path / "out"
    dd = build(module, None, out, features=False, seed=3)
    assert list(dd) == ["full"] and len(dd["full"]) == 6  # record split "all" (reserved by datasets)
    ds = dd["full"]
    assert set(ds["split"]) == {"full"}
    assert isinstance(ds.features["label"], datasets.ClassLabel) and ds.features["label"].names == ["yes", "no"]
    assert ds["label"] == [0, 1, 0, 1, 0, 1]
    assert ds[0]["audio"]["path"] == "utt00.wav" and ds[0]["audio"]["bytes"][:4] == b"RIFF"
    assert ds[2]["duration"] == pytest.approx(0.4) and ds[2]["pitch_mean"] is None and ds[2]["egemaps"] is None
    assert all(ds["caption"])
    # no train split, no thresholds given: fitted on all rows, and the card says so
    thr = json.loads((out / "thresholds.json").read_text())["thresholds"]
    assert set(thr) == {"arousal", "duration"}
    assert "no train split" in (out / "README.md").read_text()
    report = json.loads((out / "build_report.json").read_text())
    assert report["dropped"] == {"toy exclusion": 2}
    assert any("no train split" in n for n in report["notes"])
    expected = (["yes", "no"], ["the answer is yes.", "the answer is no."])
    assert label_texts(out) == expected
    assert label_texts(dd) == expected
    assert label_texts(datasets.load_from_disk(str(out / "full"))) == expected  # from info.description
    (out / "smoothclap.json").unlink()
    assert label_texts(out) == expected


def test_given_thresholds_are_used_verbatim_and_splits_ordered(tmp_path):
    splits = ["test", "train", "validation", "train", "test2", "train"]
    module = toy_module(toy_records(6, split=lambda i: splits[i]))
    given = {"arousal": [2.0, 3.0], "duration": [0.25, 0.3]}
    dd = build(module, None, tmp_path / "out", features=False, thresholds=given)
    assert list(dd) == ["train", "validation", "test", "test2"]
    assert json.loads((tmp_path / "out" / "thresholds.json").read_text())["thresholds"] == given
    row = dd["test"][0]  # utt00: arousal 1.0 -> low, duration 0.2 -> low
    assert "arousal: low" in row["tags"] and "duration: low" in row["tags"]


def test_skips_are_reported_and_add_up(tmp_path):
    records = toy_records(4)
    records[1]["audio"] = b""  # zero-length
    records[2]["audio"] = b"not audio at all"
    records[3]["audio"] = str(tmp_path / "missing.wav")
    dd = build(toy_module(records), None, tmp_path / "out", features=False)
    assert dd["full"]["id"] == ["utt00"]
    report = dd.build_report
    assert report.input_rows == report.built_rows + report.skipped_rows == 4
    assert [s["id"] for s in report.skipped] == ["utt01", "utt02", "utt03"]
    assert report.skipped[2]["path"] == str(tmp_path / "missing.wav")


def test_paths_only_and_relative_paths(tmp_path):
    data = tmp_path / "data"
    (data / "sub").mkdir(parents=True)
    records = toy_records(2)
    for rec in records:
        path = data / "sub" / f"{rec['id']}.wav"
        path.write_bytes(rec["audio"])
        rec["audio"] = str(path)
    module = toy_module(records)
    module.CONFIGS["default"].needs_data_dir = True
    dd = build(module, data, tmp_path / "full", features=False)
    assert dd["full"][0]["audio"]["path"] == "sub/utt00.wav"
    assert dd["full"][0]["audio"]["bytes"] == (data / "sub" / "utt00.wav").read_bytes()
    dd = build(module, data, tmp_path / "paths", features=False, paths_only=True)
    cell = dd["full"][1]["audio"]
    assert cell["bytes"] is None and cell["path"] == str((data / "sub" / "utt01.wav").resolve())
    with pytest.raises(CorpusError, match="needs a data directory"):
        build(module, None, tmp_path / "nodata", features=False)


def test_bad_records_duplicates_and_empty_corpora_are_corpus_errors(tmp_path):
    bad = toy_records(2)
    bad[1]["gender"] = "x"
    with pytest.raises(CorpusError, match="'utt01'.*'gender'"):
        build(toy_module(bad), None, tmp_path / "a", features=False)
    dup = toy_records(2)
    dup[1]["id"] = "utt00"
    with pytest.raises(CorpusError, match="duplicate record id 'utt00'"):
        build(toy_module(dup), None, tmp_path / "b", features=False)
    with pytest.raises(CorpusError, match="no usable records.*toy exclusion"):
        build(toy_module([]), None, tmp_path / "c", features=False)


def test_output_dir_overwrite_rules(tmp_path):
    module = toy_module(toy_records(2))
    out = tmp_path / "out"
    build(module, None, out, features=False)
    with pytest.raises(CorpusError, match="not empty"):
        build(module, None, out, features=False)
    build(module, None, out, features=False, overwrite=True, seed=1)
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("precious")
    with pytest.raises(CorpusError, match="does not look like"):
        build(module, None, foreign, features=False, overwrite=True)
    assert (foreign / "thesis.tex").read_text() == "precious"


def test_generation_streams_in_chunks(tmp_path):
    """The builder never pulls more than one chunk of records ahead of the rows it yields."""
    pulled: list[str] = []
    n = 3 * CHUNK_SIZE + 5
    audio = wav_bytes(0.2)

    def records(options):
        for i in range(n):
            yield {"id": f"u{i:04d}", "audio": audio, "split": "train"}

    builder = SmoothClapBuilder(
        toy_module(records, labels=None, pulled=pulled), cache_dir=tmp_path / "cache", features=False
    )
    assert builder.discover_splits() == {"train": n}
    pulled.clear()
    ahead = 0
    for count, (key, row) in enumerate(builder._generate_examples("train"), start=1):
        ahead = max(ahead, len(pulled) - count)
    assert count == n and ahead < CHUNK_SIZE
    assert builder.report.input["train"] == builder.report.built["train"] == n


def test_cache_dir_reuse_keeps_report(tmp_path):
    module = toy_module(toy_records(3))
    cache = tmp_path / "cache"
    first = build(module, None, tmp_path / "a", features=False, cache_dir=cache)
    second = build(module, None, tmp_path / "b", features=False, cache_dir=cache, seed=5)
    assert first["full"]["id"] == second["full"]["id"]
    assert second.build_report.built_rows == 3 and any("reused" in n for n in second.build_report.notes)
    assert second.build_report.dropped == {"toy exclusion": 2}


def test_streamed_output_equals_builder_data_plus_tags(tmp_path):
    """build() streams the builder's Arrow files into the save_to_disk layout, tag columns
    appended: the result loads with load_from_disk and equals the public-API join
    (add_tags: concatenate_datasets(axis=1)); a split whose rows were all skipped is
    written empty (one empty shard)."""
    splits = ["train", "train", "train", "test", "test", "validation"]
    records = toy_records(6, split=lambda i: splits[i])
    records[5]["audio"] = b"broken"  # the only validation row
    module = toy_module(records)
    cache = tmp_path / "cache"
    dd = build(module, None, tmp_path / "out", features=False, cache_dir=cache, seed=2)
    assert {s: len(d) for s, d in dd.items()} == {"train": 3, "validation": 0, "test": 2}
    assert dd["validation"].column_names == dd["train"].column_names
    builder = SmoothClapBuilder(module, cache_dir=cache, features=False)
    raw = {s: builder.as_dataset(split=s) for s in ("train", "test")}
    thr = json.loads((tmp_path / "out" / "thresholds.json").read_text())["thresholds"]
    for split in ("train", "test"):
        expected = add_tags(raw[split], thr, seed=2)
        assert dd[split].to_dict() == expected.to_dict()
        assert dd[split].features == expected.features
    state = json.loads((tmp_path / "out" / "train" / "state.json").read_text())
    assert state["_split"] == "train" and state["_data_files"] == [{"filename": "data-00000-of-00001.arrow"}]


# --------------------------------------------------------------------------- options
def test_scanner_options_are_one_dict_even_when_named_like_build_arguments(tmp_path):
    seen: list[dict] = []
    module = toy_module(toy_records(2), options={"seed": "a scanner option named like build's seed"},
                        seen_options=seen)
    build(module, None, tmp_path / "out", features=False, seed=3, options={"seed": 7})
    assert seen and all(opts["seed"] == 7 for opts in seen)  # the scanner's seed ...
    settings = json.loads((tmp_path / "out" / "smoothclap.json").read_text())["build"]
    assert settings["seed"] == 3 and settings["options"] == {"seed": 7}  # ... and the captions' seed


def test_unknown_options_are_errors_that_list_the_valid_ones(tmp_path):
    module = toy_module(toy_records(2), options={"num_speakers": "how many", "template": "a text"})
    with pytest.raises(CorpusError, match=r"Unknown option 'num_speaker' for corpus 'toy' \(did you mean "
                                          r"'num_speakers'\?\)\. Valid options: num_speakers, template"):
        build(module, None, tmp_path / "a", features=False, options={"num_speaker": 4})
    with pytest.raises(CorpusError, match=r"'drop_unknown'.*--drop-unknown"):
        build(module, None, tmp_path / "b", features=False, options={"drop_unknown": True})
    with pytest.raises(CorpusError, match=r"Valid options: none \(this corpus takes no options\)"):
        build(toy_module(toy_records(2)), None, tmp_path / "c", features=False, options={"x": 1})
    assert not any(tmp_path.iterdir())  # refused before anything was written


def test_cli_unknown_option_is_one_error_line_and_list_shows_options(tmp_path, capsys):
    from smoothclap.data.__main__ import main

    for typo in ("num_speaker=4", "seed=1"):
        rc = main(["build", "demo", "--output", str(tmp_path / "demo"), "--option", typo])
        err = capsys.readouterr().err
        assert rc == 2 and err.count("\n") == 1 and "Traceback" not in err
        assert err.startswith(f"error: Unknown option '{typo.split('=')[0]}' for corpus 'demo'")
        assert "Valid options: num_speakers, sentences_per_speaker, eval_sentences, synthesis_seed" in err
    assert not (tmp_path / "demo").exists()
    assert main(["list"]) == 0
    listing = capsys.readouterr().out
    assert "--option num_speakers=" in listing and "--option exclude_other=" in listing
    assert "ratings 1-5" in listing and "ratings 1-7" in listing


# --------------------------------------------------------------------------- thresholds across corpora
def test_thresholds_from_a_corpus_on_another_rating_scale_reuse_only_acoustic_cut_points(tmp_path):
    from smoothclap.data import captions

    source = toy_module(toy_records(6, split=lambda i: "train"), name="seven")  # arousal 1..6 on 1-7
    build(source, None, tmp_path / "seven", features=False)
    src_file = tmp_path / "seven" / "thresholds.json"
    src = captions.load_thresholds(src_file)
    assert captions.read_thresholds_metadata(src_file)["rating_scale"] == [1.0, 7.0]

    records = toy_records(6, split=lambda i: "train")
    for i, rec in enumerate(records):
        rec["arousal"] = 1.0 + 0.5 * i  # 1..3.5 on a 1-5 scale
    five = toy_module(records, name="five", rating_scale=(1, 5))
    dd = build(five, None, tmp_path / "five", features=False, thresholds=src_file)
    thr = captions.load_thresholds(tmp_path / "five" / "thresholds.json")
    assert thr["duration"] == src["duration"]  # acoustic: reused
    own = np.percentile([1.0 + 0.5 * i for i in range(6)], [30, 70])
    assert thr["arousal"] == pytest.approx(own) and thr["arousal"] != src["arousal"]  # ratings: own train split
    meta = captions.read_thresholds_metadata(tmp_path / "five" / "thresholds.json")
    assert (meta["corpus"], meta["rating_scale"]) == ("five", [1.0, 5.0])
    # named by its folder and file, not its absolute path (thresholds.json is shared with the data)
    assert meta["acoustic"]["corpus"] == "seven" and meta["acoustic"]["file"] == "seven/thresholds.json"
    assert meta["ratings"] == {"corpus": "five", "config": "default", "fitted_on": "train split"}
    note = next(n for n in dd.build_report.notes if "arousal/valence/dominance" in n)
    assert "scale 1-7" in note and "five rates on 1-5" in note
    assert note in (tmp_path / "five" / "README.md").read_text()

    # same scale: every cut point is reused; a file without metadata: ratings refitted
    again = build(toy_module(records, name="seven_too"), None, tmp_path / "again", features=False,
                  thresholds=src_file)
    assert captions.load_thresholds(tmp_path / "again" / "thresholds.json") == src
    assert not any("arousal/valence/dominance" in n for n in again.build_report.notes)
    legacy = tmp_path / "legacy.json"
    captions.save_thresholds(src, legacy)
    old = build(five, None, tmp_path / "old", features=False, thresholds=legacy)
    assert any("does not say which rating scale" in n for n in old.build_report.notes)


# --------------------------------------------------------------------------- failures leave nothing behind
def test_failed_build_leaves_nothing_behind_and_keeps_what_was_there(tmp_path):
    def breaks_while_generating(options):
        yield from toy_records(2)
        if not options.get("discover"):
            raise CorpusError("the disk went away")

    broken = toy_module(breaks_while_generating)
    fresh = tmp_path / "new" / "deeper" / "out"
    with pytest.raises(CorpusError, match="the disk went away"):
        build(broken, None, fresh, features=False)
    assert not (tmp_path / "new").exists()  # the parents it created are gone too
    mine = tmp_path / "mine"
    mine.mkdir()
    with pytest.raises(CorpusError):
        build(broken, None, mine, features=False)
    assert mine.is_dir() and not any(mine.iterdir())  # the user's (empty) folder stays
    earlier = tmp_path / "earlier"
    build(toy_module(toy_records(3)), None, earlier, features=False)
    with pytest.raises(CorpusError):
        build(broken, None, earlier, features=False, overwrite=True)
    assert datasets.load_from_disk(str(earlier))["full"]["id"] == ["utt00", "utt01", "utt02"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["earlier", "mine"]  # no staging or cache folder
    build(toy_module(toy_records(2)), None, fresh, features=False)  # the next build needs no --overwrite
    (tmp_path / "plain").mkdir()  # the output gets the usual permissions, not a temp folder's 0700
    assert fresh.stat().st_mode & 0o777 == (tmp_path / "plain").stat().st_mode & 0o777


# --------------------------------------------------------------------------- hub
def _closed_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_push_to_hub_without_network_prints_the_summary_then_one_error_line(tmp_path):
    """The Hub is unreachable (HF_ENDPOINT on a closed local port): the build is complete on
    disk, its summary printed, then one error line says how to upload it later."""
    import os
    import subprocess

    for label, f0 in (("happy", 220.0), ("sad", 140.0)):
        (tmp_path / "data" / label).mkdir(parents=True)
        (tmp_path / "data" / label / f"{label}_1.wav").write_bytes(wav_bytes(0.3, f0=f0))
    out = tmp_path / "out"
    env = {k: v for k, v in os.environ.items() if k != "HF_HUB_OFFLINE"}
    env.update(HF_ENDPOINT=f"http://127.0.0.1:{_closed_port()}", HF_TOKEN="hf_not_a_real_token",
               HF_DATASETS_DISABLE_PROGRESS_BARS="1", HF_HUB_DISABLE_TELEMETRY="1")
    proc = subprocess.run(
        [sys.executable, "-m", "dataset_scripts", "build", "folder", "--data-dir", str(tmp_path / "data"),
         "--output", str(out), "--no-features", "--push-to-hub", "me/smoothclap-test"],
        cwd=str(ROOT), env=env, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 1, proc.stderr
    assert "input 2 rows = built 2 + skipped 0 (checked)" in proc.stdout and f"saved to {out}" in proc.stdout
    errors = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(errors) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert errors[0].startswith(f"error: The local build in {out} is complete, but uploading it to me/smoothclap-test failed")
    assert errors[0].endswith(f"Upload it later with: python -m smoothclap.data push-to-hub --input {out} --repo me/smoothclap-test")
    assert len(datasets.load_from_disk(str(out))["full"]) == 2


def test_the_builders_card_survives_datasets_hub_card_update(tmp_path):
    """push_to_hub uploads the builder's card before the data because datasets' push then
    keeps the text of the README.md it finds and only rewrites its YAML header; checked with
    datasets' own card update (the function its push calls) over a local folder."""
    import shutil

    import fsspec
    from datasets.arrow_dataset import _get_updated_dataset_card
    from fsspec.implementations.dirfs import DirFileSystem

    module = toy_module(toy_records(2))
    module.CONFIGS["default"].redistribute_audio = False
    dd = build(module, None, tmp_path / "out", features=False)
    repo = tmp_path / "repo"
    repo.mkdir()
    shutil.copyfile(tmp_path / "out" / "README.md", repo / "README.md")
    card, _ = _get_updated_dataset_card(
        fs=DirFileSystem(path=str(repo), fs=fsspec.filesystem("file")), config_name="default",
        splits_info=[datasets.SplitInfo(name="full", num_bytes=1, num_examples=2)], features=dd["full"].features,
        data_dir="data", set_default=None, uploaded_sizes=[1], deleted_sizes=[], remove_other_splits=True,
    )
    text = str(card)
    assert "does not allow redistributing its audio" in text and "## Bin thresholds" in text
    assert "data/full-*" in text and "pretty_name" in text

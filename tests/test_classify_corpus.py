"""smoothclap classify as a corpus tool: folders, globs, path lists and built datasets in;
JSONL, CSV and Parquet out (embeddings, windows); bad clips reported, bad input refused.
A real tiny model (tests/conftest.py) and generated WAV files; nothing mocked."""

import json
import os

import numpy as np
import pytest
import soundfile as sf
import torch

from conftest import tone


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # conftest.py

LABELS = "happy,sad,angry"


def write_corpus(folder, n=6, seconds=0.6, step=0.25):
    """n good clips of growing length (nested folders, 16 and 22.05 kHz, one stereo) and the bad ones."""
    good = []
    for i in range(n):
        sub = folder / ("a" if i % 2 else "b") / "deep"
        sub.mkdir(parents=True, exist_ok=True)
        path = sub / f"clip{i:02d}.wav"
        rate = 22050 if i == 1 else 16000
        wave = tone(150 + 40 * i, seconds + step * i, sr=rate, seed=i)
        sf.write(path, np.stack([wave, wave], axis=1) if i == 2 else wave, rate)
        good.append(str(path))
    bad = {"garbage.wav": b"this is not audio", "empty.wav": b""}
    for name, data in bad.items():
        (folder / name).write_bytes(data)
    sf.write(folder / "short.wav", tone(200, 0.01), 16000)  # 160 samples: shorter than the encoder's 400
    sf.write(folder / "silent0.wav", np.zeros((0,), np.float32), 16000)  # a valid WAV with no frames
    nan = tone(200, 0.5)
    nan[100] = np.nan
    sf.write(folder / "nan.wav", nan, 16000, subtype="FLOAT")
    (folder / "notes.txt").write_text("not audio, skipped by extension")
    return sorted(good)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("corpus")
    return folder, write_corpus(folder)


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def test_folder_to_jsonl_errors_and_exit_status(corpus, tiny_smoothclap, tmp_path, capsys):
    import smoothclap.inference.classify as smoothclap_classify
    from smoothclap.models.pipeline_smoothclap import audio_embeddings, logit_multiplier, text_embeddings
    from smoothclap.evaluation.predict import load_model
    from smoothclap.models.audio_smoothclap import load_audio

    folder, good = corpus
    out = tmp_path / "labels.jsonl"
    status = smoothclap_classify.cli([str(folder), "--labels", LABELS, "--model", tiny_smoothclap, "--output",
                                      str(out), "--top", "2", "--batch-size", "2", "--num-workers", "1",
                                      "--no-progress"])
    err = capsys.readouterr().err
    assert status == 1, err  # some clips failed, the rest were classified
    rows = read_jsonl(out)
    assert [r["path"] for r in rows] == good  # sorted, recursive, each once, the .txt skipped
    assert "skipped 1 file(s) without an audio extension" in err and "%|" not in err
    assert "template: This is a sound of {}." in err
    errors = {os.path.basename(e["path"]): e["error"] for e in read_jsonl(str(out) + ".errors.jsonl")}
    assert set(errors) == {"garbage.wav", "empty.wav", "short.wav", "silent0.wav", "nan.wav"}
    assert "Could not read audio" in errors["garbage.wav"] and "too short" in errors["short.wav"]
    assert "NaN" in errors["nan.wav"] and "Empty audio clip" in errors["silent0.wav"]
    assert all(len(r["labels"]) == 2 and r["label"] == r["labels"][0] and r["scores"][0] >= r["scores"][1]
               for r in rows)
    durations = {os.path.basename(r["path"]): r["duration"] for r in rows}
    assert durations["clip00.wav"] == pytest.approx(0.6, abs=1e-3) and durations["clip01.wav"] == pytest.approx(0.85)
    assert not (tmp_path / "labels.jsonl.parts").exists()  # merged, then removed

    # the same scores as the model's own functions, one clip at a time
    model, processor = load_model(tiny_smoothclap)
    labels = LABELS.split(",")
    text = text_embeddings(model, processor, labels, ["This is a sound of {}."])
    for row in rows:
        emb = audio_embeddings(model, processor, [load_audio(row["path"], None, 16000)])
        probs = (logit_multiplier(model) * emb @ text.T).softmax(-1)[0]
        assert row["scores"] == pytest.approx(sorted(probs.tolist(), reverse=True)[:2], abs=1e-5)

    # a finished output is not silently redone; --overwrite does
    assert smoothclap_classify.cli([str(folder), "--labels", LABELS, "--model", tiny_smoothclap, "--output",
                                    str(out), "--no-progress"]) == 2
    assert "already exists" in capsys.readouterr().err


def test_glob_file_list_parquet_embeddings_and_windows(corpus, tiny_smoothclap, tmp_path):
    import pyarrow.parquet as pq

    from smoothclap.inference import classify_corpus

    folder, good = corpus
    by_name = {os.path.basename(p): p for p in good}
    listing = tmp_path / "list.txt"
    listing.write_text("# two clips, one relative to this file\n" + by_name["clip00.wav"] + "\n\n" +
                       os.path.relpath(by_name["clip01.wav"], tmp_path) + "\n")
    pattern = str(folder / "**" / "clip0[2-5].wav")
    out = tmp_path / "rows.parquet"
    summary = classify_corpus([pattern], LABELS.split(","), tiny_smoothclap, str(out), file_list=str(listing),
                              embeddings=True, batch_size=3, num_workers=0, progress=False,
                              templates=["a voice that sounds {}."])
    assert summary["failed"] == 0 and summary["rows"] == 6 and summary["template"] == ["a voice that sounds {}."]
    table = pq.read_table(out).to_pylist()
    assert sorted(r["path"] for r in table) == sorted(good)
    assert all(len(r["embedding"]) == 16 and abs(np.linalg.norm(r["embedding"]) - 1) < 1e-4 for r in table)

    # windows: one row per window with start/end, a .npy beside a CSV in the same row order
    import csv

    out_csv = tmp_path / "windows.csv"
    longest = by_name["clip05.wav"]
    summary = classify_corpus([longest], LABELS.split(","), tiny_smoothclap, str(out_csv), window=0.5, hop=0.25,
                              embeddings=True, top=1, progress=False, batch_size=4)
    with open(out_csv, newline="") as f:
        rows = list(csv.DictReader(f))
    duration = 0.6 + 0.25 * 5
    starts = [float(r["start"]) for r in rows]
    assert starts[:3] == [0.0, 0.25, 0.5] and float(rows[-1]["end"]) == pytest.approx(duration)
    assert set(rows[0]) == {"path", "duration", "start", "end", "label_1", "score_1", "embedding_row"}
    npy = np.load(tmp_path / "windows.embeddings.npy")
    assert npy.shape == (len(rows), 16) and [int(r["embedding_row"]) for r in rows] == list(range(len(rows)))

    # a window's embedding is the model's embedding of those samples
    from smoothclap.models.audio_smoothclap import load_audio
    from smoothclap.models.pipeline_smoothclap import audio_embeddings
    from smoothclap.evaluation.predict import load_model

    model, processor = load_model(tiny_smoothclap)
    wave = load_audio(longest, None, 16000)
    second = audio_embeddings(model, processor, [wave[4000:12000]])[0].numpy()
    assert np.allclose(npy[1], second, atol=1e-5)


def test_built_dataset_split(tiny_data, tiny_smoothclap, tmp_path):
    from smoothclap.inference import classify_corpus

    out = tmp_path / "test.jsonl"
    summary = classify_corpus(labels=["happy", "sad"], model=tiny_smoothclap, output=str(out), dataset=tiny_data,
                              split="test", progress=False, batch_size=4, num_workers=1)
    rows = read_jsonl(out)
    assert summary["failed"] == 0 and len(rows) == 8
    assert {r["split"] for r in rows} == {"test"} and rows[0]["id"].startswith("test_0000")
    assert all(0.4 <= r["duration"] <= 1.4 for r in rows)


@pytest.mark.parametrize("args, message", [
    (["EMPTY"], "no audio to classify"),
    (["EMPTY/*.wav"], "matched no files"),
    (["OK", "--model", "/nonexistent/model"], "not found"),
    (["OK", "--output", "x.txt"], "unknown format .txt"),
    (["OK", "--embeddings"], "--embeddings needs --output"),
    (["OK", "--hop", "1"], "--hop 1.0 needs --window"),
    (["--dataset", "EMPTY"], "is not a saved dataset"),
])
def test_bad_input_is_one_line_before_any_work(args, message, tiny_smoothclap, tmp_path, capsys):
    import smoothclap.inference.classify as smoothclap_classify

    (tmp_path / "empty").mkdir()
    sf.write(tmp_path / "ok.wav", tone(220, 0.5), 16000)
    args = [a.replace("EMPTY", str(tmp_path / "empty")).replace("OK", str(tmp_path / "ok.wav")) for a in args]
    if "--model" not in args:
        args += ["--model", tiny_smoothclap]
    assert smoothclap_classify.cli(args + ["--labels", LABELS, "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("error:") == 1 and message in err and "Traceback" not in err, err
    assert "template:" not in err  # refused before the model was loaded


def test_resume_refuses_a_different_command(corpus, tiny_smoothclap, tmp_path, capsys):
    """Parts left by one command are not resumed by another (here: other labels)."""
    import smoothclap.inference.classify as smoothclap_classify
    from smoothclap.inference import parts

    folder, _ = corpus
    out = tmp_path / "o.jsonl"
    parts.prepare(out, {"labels": ["x"]}, is_main=True)
    assert smoothclap_classify.cli([str(folder), "--labels", LABELS, "--model", tiny_smoothclap, "--output",
                                    str(out)]) == 2
    assert "different command" in capsys.readouterr().err


def test_python_m_smoothclap_package_is_light():
    import subprocess
    import sys

    code = "import sys, smoothclap; print(smoothclap.__version__, 'torch' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert proc.stdout.split() == ["0.1.0", "False"], proc.stderr
    assert torch.__version__  # the tests' own import, not the package's

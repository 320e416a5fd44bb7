"""Resume: a real `python -m smoothclap classify ... --output` process killed with kill -9,
started again, stopped with SIGTERM (to its whole process group, DataLoader worker included,
as a scheduler does), started again: the finished output equals an uninterrupted run's,
every clip once."""

import os
import signal
import sys

import numpy as np
import pytest
import soundfile as sf

from conftest import tone


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # conftest.py
from launching import launcher_env, signal_job, start, wait_all, wait_for

N_CLIPS = 80
LABELS = ["happy", "sad", "angry", "neutral"]


def _lines(path) -> int:
    try:
        with open(path, "rb") as f:
            return f.read().count(b"\n")
    except FileNotFoundError:
        return 0


from test_classify_corpus import read_jsonl as _rows  # noqa: E402


def _processes_of(out) -> list:
    import psutil

    found = []
    for p in psutil.process_iter(["pid", "cmdline"]):
        if str(out) in " ".join(p.info["cmdline"] or []):
            found.append(p.info["pid"])
    return found


def test_killed_twice_then_finished_equals_an_uninterrupted_run(tiny_smoothclap, tmp_path):
    from smoothclap.inference import classify_corpus

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for i in range(N_CLIPS):
        sf.write(corpus / f"c{i:03d}.wav", tone(120 + 3 * i, 1.0 + (i % 7) * 0.3, seed=i), 16000)
    reference = tmp_path / "reference.jsonl"
    classify_corpus([str(corpus)], LABELS, tiny_smoothclap, str(reference), batch_size=4, num_workers=0,
                    progress=False)

    out = tmp_path / "out.jsonl"
    part = tmp_path / "out.jsonl.parts" / "rank0.jsonl"
    cmd = [sys.executable, "-m", "smoothclap", "classify", str(corpus), "--labels", ",".join(LABELS), "--model",
           tiny_smoothclap, "--output", str(out), "--batch-size", "2", "--num-workers", "1", "--no-progress"]
    env = launcher_env()

    # 1. kill -9 mid-run; then a torn last line, as a power cut mid-write leaves it
    proc = start(cmd, env, tmp_path / "run1.log")
    assert wait_for(lambda: _lines(part) >= 10, timeout=240), (tmp_path / "run1.log").read_text()[-3000:]
    os.kill(proc.pid, signal.SIGKILL)
    assert wait_all([proc], timeout=60) == [-signal.SIGKILL]
    # its DataLoader worker (which ignores SIGTERM) dies with it instead of hanging as an orphan
    assert wait_for(lambda: not _processes_of(out), timeout=30), _processes_of(out)
    first = _lines(part)
    assert 10 <= first < N_CLIPS and not out.exists()
    with open(part, "ab") as f:
        f.write(b'{"i": 119, "key": "' + str(corpus / "c119.wav").encode() + b'", "dur": 1.')

    # 2. SIGTERM to the job's process groups: it stops after the batch it is on, exit 143
    proc = start(cmd, env, tmp_path / "run2.log")
    assert wait_for(lambda: _lines(part) >= first + 10, timeout=240), (tmp_path / "run2.log").read_text()[-3000:]
    signal_job([proc], signal.SIGTERM)
    assert wait_all([proc], timeout=120) == [143], (tmp_path / "run2.log").read_text()[-3000:]
    log = (tmp_path / "run2.log").read_text()
    assert "resuming: " in log and "run the same command again to continue" in log and "Traceback" not in log
    second = _lines(part)
    assert first + 10 <= second < N_CLIPS and not out.exists()

    # 3. to the end
    proc = start(cmd, env, tmp_path / "run3.log")
    assert wait_all([proc], timeout=300) == [0], (tmp_path / "run3.log").read_text()[-3000:]
    assert f"resuming: {second} of {N_CLIPS} clips" in (tmp_path / "run3.log").read_text()

    got, want = _rows(out), _rows(reference)
    assert [r["path"] for r in got] == [r["path"] for r in want] and len({r["path"] for r in got}) == N_CLIPS
    for a, b in zip(got, want):
        assert a["labels"] == b["labels"] or np.allclose(a["scores"], b["scores"], atol=1e-4)
        by_label = dict(zip(b["labels"], b["scores"]))
        assert [by_label[x] for x in a["labels"]] == pytest.approx(a["scores"], abs=1e-4)
        assert a["duration"] == b["duration"]
    assert not (tmp_path / "out.jsonl.parts").exists() and not (tmp_path / "out.jsonl.errors.jsonl").exists()

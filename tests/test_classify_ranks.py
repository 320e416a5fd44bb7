"""Several processes: the README's launcher line, `ACCELERATE_USE_CPU=true accelerate launch
--multi_gpu --num_processes 2 -m smoothclap classify ...`, gives two real gloo ranks (NOTES.md);
each classifies its shard into its own part, the main process merges after a barrier, and
the rows equal a single process's (a bad clip included, reported once)."""


import numpy as np
import pytest
import soundfile as sf

from conftest import tone
from launching import accelerate_cmd, launcher_env, start, wait_all

LABELS = ["happy", "sad", "angry"]


from test_classify_corpus import read_jsonl as _rows  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # conftest.py


def test_two_processes_give_the_rows_of_one(tiny_smoothclap, tmp_path):
    from processes import free_port

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for i in range(9):
        sf.write(corpus / f"c{i}.wav", tone(150 + 25 * i, 0.5 + 0.1 * i, seed=i), 16000)
    (corpus / "broken.wav").write_bytes(b"not audio")
    args = ["-m", "smoothclap", "classify", str(corpus), "--labels", ",".join(LABELS), "--model", tiny_smoothclap,
            "--batch-size", "2", "--num-workers", "0", "--no-progress", "--window", "0.6", "--embeddings"]

    from smoothclap.inference import classify_corpus

    classify_corpus([str(corpus)], LABELS, tiny_smoothclap, str(tmp_path / "one.parquet"), batch_size=2,
                    num_workers=0, progress=False, window=0.6, embeddings=True)
    two = start(accelerate_cmd("--multi_gpu", "--num_processes", "2", "--main_process_port", free_port(), *args,
                               "--output", str(tmp_path / "two.parquet")),
                launcher_env(ACCELERATE_USE_CPU="true"), tmp_path / "two.log")
    codes = wait_all([two], timeout=300)
    log = (tmp_path / "two.log").read_text()
    assert codes == [1], log[-3000:]  # 1: a clip failed (the launcher adds its own report of that)
    assert "(2 processes)" in log, log[-3000:]  # really two connected ranks, merged once

    import pyarrow.parquet as pq

    a, b = pq.read_table(tmp_path / "one.parquet").to_pylist(), pq.read_table(tmp_path / "two.parquet").to_pylist()
    assert [(r["path"], r["start"], r["end"]) for r in a] == [(r["path"], r["start"], r["end"]) for r in b]
    assert len(a) > 9  # the longer clips have two windows
    for x, y in zip(a, b):
        assert x["labels"][0] == y["labels"][0] or abs(x["scores"][0] - y["scores"][0]) < 1e-4
        assert np.allclose(x["embedding"], y["embedding"], atol=1e-4)
    errors = _rows(tmp_path / "two.parquet.errors.jsonl")
    assert [e["path"] for e in errors] == [str(corpus / "broken.wav")]
    assert errors == _rows(tmp_path / "one.parquet.errors.jsonl")

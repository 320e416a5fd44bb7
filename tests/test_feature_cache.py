"""smoothclap/training/cache.py: one decision per job on several processes/nodes, locks, the key,
the precision of the build, a local extractor's own normalisation, decoding workers.

Real tiny models (hidden 32) and the synthetic dataset; several "nodes" are real gloo
processes on this host, each alone on its node (LOCAL_RANK 0) with its own cache folder.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest
import torch

from conftest import tiny_audio_config
from test_train_accelerate import flags

POLICY_ARGS = dict(length=16000, seed=3, crops_per_clip=2)  # 1 s windows, as the trainer tests use


def quiet(*args, **kwargs):
    pass


@pytest.fixture(autouse=True)
def fresh_accelerate_state():
    from processes import reset_accelerate_state

    reset_accelerate_state()
    yield
    reset_accelerate_state()


@pytest.fixture(scope="module")
def data(tiny_data):
    return tiny_data


@pytest.fixture(scope="module")
def model_dir(tiny_smoothclap):
    return tiny_smoothclap


@pytest.fixture(scope="module")
def parts(data, model_dir):
    """(model, processor, train split, crop policy), loaded as every process loads them."""
    return _load_parts(model_dir, data)


def _load_parts(model_dir, data):
    import datasets

    from smoothclap.models.modeling_smoothclap import SmoothClapModel
    from smoothclap.models.processing_smoothclap import SmoothClapProcessor
    from smoothclap.training.data import CropPolicy

    model = SmoothClapModel.from_pretrained(str(model_dir)).eval()
    model.freeze_encoder("audio")
    processor = SmoothClapProcessor.from_pretrained(str(model_dir))
    return model, processor, datasets.load_from_disk(str(data))["train"], CropPolicy(**POLICY_ARGS)


@pytest.fixture(scope="module")
def reference(parts, tmp_path_factory):
    """The train split's cache built by one process (folder, FeatureCache)."""
    from accelerate import Accelerator

    from smoothclap.training.cache import build_or_load
    from processes import reset_accelerate_state

    model, processor, split, policy = parts
    folder = str(tmp_path_factory.mktemp("reference-cache"))
    reset_accelerate_state()
    cache = build_or_load(Accelerator(cpu=True), model, None, processor, split, "train", policy, folder,
                          batch_size=4, log=quiet, show_progress=False)
    reset_accelerate_state()
    return folder, cache


def _windows(cache, split, processor):
    """(row, offset) of each cached feature row u, in feature order."""
    where = {}
    for row in range(cache.index.shape[0]):
        for k in range(cache.index.shape[1]):
            where[int(cache.index[row, k])] = (row, int(cache.offsets[row, k]))
    waves = [processor.load_audio(split[r]["audio"]) for r in range(len(split))]
    return [where[u] for u in range(len(where))], waves


def _by_window(c):
    """(rows, K, hidden) features by row and window slot (the feature order depends on the sharding)."""
    if isinstance(c, dict):
        return c["audio"][c["index"]]
    return c.audio[c.index]


def _files(folder):
    return sorted(os.path.relpath(os.path.join(r, f), folder) for r, _, fs in os.walk(folder) for f in fs)


# --------------------------------------------------------------------------- the key
def test_fingerprint_takes_zero_dim_buffers_and_sees_them_change():
    from smoothclap.training.cache import module_fingerprint

    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4))  # num_batches_tracked: 0-dim
    before = module_fingerprint(module)
    module[1].num_batches_tracked += 1
    assert module_fingerprint(module) != before


def test_key_holds_pooling_version_precision_and_the_extractors_normalisation(parts, monkeypatch):
    from transformers import Wav2Vec2FeatureExtractor, Wav2Vec2Model

    from smoothclap.training import cache

    model, processor, split, policy = parts
    key, inputs = cache.cache_key(model, None, processor, split, policy, "no")
    assert inputs["pooling"] == cache.POOLING_VERSION and inputs["precision"] == "no"
    assert cache.cache_key(model, None, processor, split, policy, "no")[0] == key  # deterministic
    assert cache.cache_key(model, None, processor, split, policy, "bf16")[0] != key
    monkeypatch.setattr(cache, "POOLING_VERSION", cache.POOLING_VERSION + 1)  # pool_audio_encoder changed
    assert cache.cache_key(model, None, processor, split, policy, "no")[0] != key
    monkeypatch.undo()

    torch.manual_seed(7)
    extractor = Wav2Vec2Model(tiny_audio_config(hidden_size=24)).eval()
    keys = {}
    for do_normalize in (False, True):
        setattr(extractor, cache.INPUT_PROCESSOR_ATTR, Wav2Vec2FeatureExtractor(do_normalize=do_normalize))
        keys[do_normalize], inputs = cache.cache_key(model, extractor, processor, split, policy, "no")
        assert inputs["local_extractor_inputs"]["do_normalize"] is do_normalize
    assert keys[False] != keys[True] and key not in keys.values()


# --------------------------------------------------------------------------- precision
def test_a_bf16_build_has_its_own_key_and_equals_a_bf16_autocast_forward(parts, reference, tmp_path):
    from accelerate import Accelerator

    from smoothclap.training.cache import build_or_load

    model, processor, split, policy = parts
    # all distinct windows (<= 32) in one forward: the same batch as the expected forward below
    bf16 = build_or_load(Accelerator(cpu=True, mixed_precision="bf16"), model, None, processor, split, "train",
                         policy, str(tmp_path), batch_size=64, log=quiet, show_progress=False)
    fp32 = reference[1]
    assert os.path.dirname(bf16.path) != os.path.dirname(fp32.path)  # another key
    assert torch.equal(bf16.index, fp32.index) and bf16.audio.dtype == torch.float32
    windows, waves = _windows(bf16, split, processor)
    inputs = processor(audio=[waves[r] for r, _ in windows], sampling_rate=16000, max_duration=1.0,
                       pad_to_max_duration=True, crop_offsets=[o for _, o in windows])
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        expected = model.pooled_audio(inputs["input_values"], inputs["audio_attention_mask"]).float()
    torch.testing.assert_close(bf16.audio, expected, rtol=0, atol=1e-6)
    assert (bf16.audio - fp32.audio).abs().max() > 1e-3  # bf16 features are not the float32 ones


# --------------------------------------------------------------------------- crop seed
def test_a_seed_sweep_with_one_crop_seed_reuses_one_cache(data, model_dir, tmp_path):
    import smoothclap.training.trainer as train_accelerate
    from smoothclap.training.config import parse_args
    from processes import reset_accelerate_state

    runs = {}
    for seed, crop_seed in ((1, 5), (2, 5), (2, None)):
        extra = ["--seed", seed] + (["--crop-seed", crop_seed] if crop_seed is not None else [])
        args = parse_args(flags(data, model_dir, tmp_path / f"run-{seed}-{crop_seed}", *extra,
                                cache_dir=tmp_path / "cache"))
        logs = []
        run = train_accelerate.setup(args, train_accelerate.make_accelerator(args), log=logs.append)
        runs[seed, crop_seed] = (run.collator.cache.path, run.policy.seed, logs)
        reset_accelerate_state()
    assert runs[1, 5][0] == runs[2, 5][0] and runs[1, 5][1] == runs[2, 5][1] == 5
    assert any("feature cache: computing train" in m for m in runs[1, 5][2])
    assert any(m == f"feature cache: reusing {runs[1, 5][0]}" for m in runs[2, 5][2])  # not rebuilt
    assert runs[2, None][1] == 2 and runs[2, None][0] != runs[2, 5][0]  # default: the crop seed is --seed


# --------------------------------------------------------------------------- local extractor
@pytest.fixture(scope="module")
def raw_extractor(tmp_path_factory):
    """A tiny wav2vec2 whose own feature extractor does NOT normalise (SmoothCLAP's does)."""
    from transformers import Wav2Vec2FeatureExtractor, Wav2Vec2Model

    torch.manual_seed(7)
    path = str(tmp_path_factory.mktemp("extractor") / "w2v-raw")
    Wav2Vec2Model(tiny_audio_config(hidden_size=24)).save_pretrained(path)
    Wav2Vec2FeatureExtractor(do_normalize=False, return_attention_mask=True).save_pretrained(path)
    return path


def _raw_inputs(waves, rows, offsets, length=16000):
    """The raw windows, zero-padded to ``length``, and their masks (no normalisation)."""
    from smoothclap.models.audio_smoothclap import crop_or_pad

    values, mask = torch.zeros(len(rows), length), torch.zeros(len(rows), length, dtype=torch.long)
    for i, (r, o) in enumerate(zip(rows, offsets)):
        window, n = crop_or_pad(waves[r], length, o)
        values[i, :n], mask[i, :n] = torch.from_numpy(window[:n]), 1
    return values, mask


def test_a_local_extractor_gets_its_own_normalisation_cached_and_uncached(data, model_dir, raw_extractor, tmp_path):
    import smoothclap.training.trainer as train_accelerate
    from smoothclap.training.cache import pooled_output
    from smoothclap.training.config import parse_args
    from processes import reset_accelerate_state

    extra = ("--local-features", raw_extractor, "--beta", "0.5", "--gamma", "0.1")
    # cached: the stored local features are the extractor's on the RAW windows
    args = parse_args(flags(data, model_dir, tmp_path / "cached", *extra, cache_dir=tmp_path / "cache"))
    run = train_accelerate.setup(args, train_accelerate.make_accelerator(args), log=quiet)
    cache, extractor, processor = run.collator.cache, run.extractor, run.processor
    windows, waves = _windows(cache, run.data.train, processor)
    values, mask = _raw_inputs(waves, [r for r, _ in windows], [o for _, o in windows])
    with torch.no_grad():
        direct = pooled_output(extractor, values, mask)
        normalised = processor(audio=[waves[r] for r, _ in windows], sampling_rate=16000, max_duration=1.0,
                               pad_to_max_duration=True, crop_offsets=[o for _, o in windows])
        smoothclap_input = pooled_output(extractor, normalised["input_values"], normalised["audio_attention_mask"])
    torch.testing.assert_close(cache.local, direct, rtol=1e-5, atol=1e-5)
    assert (direct - smoothclap_input).abs().max() > 1e-2  # the two normalisations do differ
    from safetensors import safe_open

    with safe_open(cache.path, "pt") as f:
        key_inputs = json.loads(f.metadata()["key"])
    assert key_inputs["local_extractor_inputs"]["do_normalize"] is False
    reset_accelerate_state()

    # uncached: the batch carries the raw windows for the extractor; the loss uses its features on them
    args = parse_args(flags(data, model_dir, tmp_path / "uncached", *extra, "--no-feature-cache"))
    accelerator = train_accelerate.make_accelerator(args)
    run = train_accelerate.setup(args, accelerator, log=quiet)
    run.collator.epoch = 0
    run.loader.set_epoch(0)
    batch = next(iter(run.loader))
    rows = batch["index"].tolist()
    offsets = [run.policy.offset(r, 0, len(waves[r])) for r in rows]
    values, mask = _raw_inputs(waves, rows, offsets)
    assert torch.equal(batch["local_input_values"], values) and torch.equal(batch["local_attention_mask"], mask)
    with torch.no_grad():
        direct = pooled_output(run.extractor, values, mask)
        loss = train_accelerate.compute_loss(accelerator, run.model, batch, run.extractor)
        given = {k: v for k, v in batch.items() if not k.startswith("local_")}
        expected = train_accelerate.compute_loss(accelerator, run.model, dict(given, cached_local_features=direct))
        other = train_accelerate.compute_loss(accelerator, run.model, given, run.extractor)  # SmoothCLAP's inputs
    torch.testing.assert_close(loss, expected, rtol=1e-6, atol=1e-6)
    assert not torch.allclose(loss, other)


def test_a_local_extractor_folder_without_a_feature_extractor_falls_back_with_a_logged_line(parts, tmp_path):
    import argparse

    from transformers import Wav2Vec2Model

    import smoothclap.training.trainer as train_accelerate
    from smoothclap.training.cache import input_processor

    _, processor, _, _ = parts
    torch.manual_seed(7)
    Wav2Vec2Model(tiny_audio_config(hidden_size=24)).save_pretrained(str(tmp_path / "bare"))
    logs = []
    extractor = train_accelerate.load_local_extractor(argparse.Namespace(local_features=str(tmp_path / "bare")),
                                                      "cpu", processor, log=logs.append)
    assert any("no feature extractor config (preprocessor_config.json)" in m for m in logs), logs
    assert input_processor(extractor).do_normalize == processor.feature_extractor.do_normalize


# --------------------------------------------------------------------------- decoding workers
class _SignalDispositions(torch.utils.data.Dataset):
    def __len__(self):
        return 2

    def __getitem__(self, i):
        return [int(signal.getsignal(signal.SIGINT)), int(signal.getsignal(signal.SIGTERM))]


def test_a_build_with_decoding_workers_equals_a_serial_build_and_workers_ignore_stop_signals(parts, reference,
                                                                                            tmp_path):
    from accelerate import Accelerator

    from smoothclap.training.cache import build_or_load
    from smoothclap.processes import ignore_stop_signals

    model, processor, split, policy = parts
    workers = build_or_load(Accelerator(cpu=True), model, None, processor, split, "train", policy, str(tmp_path),
                            batch_size=4, log=quiet, show_progress=False, num_workers=2)
    serial = reference[1]
    for name in ("index", "offsets", "audio"):
        assert torch.equal(getattr(workers, name), getattr(serial, name)), name
    loader = torch.utils.data.DataLoader(_SignalDispositions(), batch_size=None, num_workers=1,
                                         worker_init_fn=ignore_stop_signals)
    assert list(loader) == [[int(signal.SIG_IGN)] * 2] * 2


# --------------------------------------------------------------------------- locks
def _lock(path, token, pid):
    with open(path + ".lock", "w") as f:
        json.dump({"token": token, "host": socket.gethostname(), "pid": pid, "time": time.time()}, f)


def test_a_second_run_waits_for_the_first_runs_lock_and_reuses_its_file(parts, reference, tmp_path):
    from accelerate import Accelerator
    from safetensors.torch import load_file, save_file

    from smoothclap.training.cache import build_or_load, cache_key

    model, processor, split, policy = parts
    key, _ = cache_key(model, None, processor, split, policy, "no")
    path = str(tmp_path / key / "train.safetensors")
    os.makedirs(os.path.dirname(path))
    first = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])  # the first run, alive
    ref = reference[1]
    its_result = {"index": ref.index, "offsets": ref.offsets, "audio": torch.full_like(ref.audio, 7.0)}
    try:
        _lock(path, "the-first-run", first.pid)

        def first_run_finishes():
            time.sleep(2.0)
            save_file(its_result, path + ".its-tmp")
            os.replace(path + ".its-tmp", path)
            os.remove(path + ".lock")

        thread = threading.Thread(target=first_run_finishes)
        thread.start()
        logs = []
        got = build_or_load(Accelerator(cpu=True), model, None, processor, split, "train", policy, str(tmp_path),
                            batch_size=4, log=logs.append, show_progress=False)
        thread.join(timeout=30)
    finally:
        first.kill()
        first.wait()
    assert any("is building" in m and "waiting" in m for m in logs), logs
    assert logs[-1] == f"feature cache: reusing {path}"
    assert torch.equal(got.audio, its_result["audio"])  # its result, not a second computation
    assert torch.equal(load_file(path)["audio"], its_result["audio"])  # and not clobbered
    assert _files(str(tmp_path)) == [f"{key}/train.safetensors"]


def test_a_stale_lock_is_removed_and_a_live_one_is_waited_for_only_so_long(parts, reference, tmp_path):
    from accelerate import Accelerator
    from safetensors.torch import load_file

    from smoothclap.training.cache import build_or_load, cache_key

    model, processor, split, policy = parts
    key, _ = cache_key(model, None, processor, split, policy, "no")
    path = str(tmp_path / "a" / key / "train.safetensors")
    os.makedirs(os.path.dirname(path))
    killed = subprocess.Popen([sys.executable, "-c", "pass"])
    killed.wait()
    _lock(path, "a-killed-run", killed.pid)  # its process is gone
    logs = []
    accelerator = Accelerator(cpu=True)
    got = build_or_load(accelerator, model, None, processor, split, "train", policy, str(tmp_path / "a"),
                        batch_size=4, log=logs.append, show_progress=False, lock_timeout=60)
    assert any("removing the stale lock" in m for m in logs), logs
    assert _files(str(tmp_path / "a")) == [f"{key}/train.safetensors"]  # built, written, lock released
    torch.testing.assert_close(got.audio, reference[1].audio, rtol=0, atol=1e-6)

    path = str(tmp_path / "b" / key / "train.safetensors")
    os.makedirs(os.path.dirname(path))
    stuck = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        _lock(path, "a-stuck-run", stuck.pid)
        logs, started = [], time.time()
        got = build_or_load(accelerator, model, None, processor, split, "train", policy, str(tmp_path / "b"),
                            batch_size=4, log=logs.append, show_progress=False, lock_timeout=1.0)
    finally:
        stuck.kill()
        stuck.wait()
    assert time.time() - started < 30 and any("computing the features here too" in m for m in logs), logs
    assert torch.equal(load_file(path)["audio"], got.audio)  # written atomically
    assert sorted(_files(str(tmp_path / "b"))) == [f"{key}/train.safetensors", f"{key}/train.safetensors.lock"]
    assert json.load(open(path + ".lock"))["token"] == "a-stuck-run"  # the other run's lock: untouched


# --------------------------------------------------------------------------- several nodes
def _node(rank, world, port, model_dir, data, scenarios, out_dir):
    """One rank alone on its "node" (LOCAL_RANK 0): a build with cache folder ``folders[rank]``
    for each ``folders`` in ``scenarios`` (one process group for all: process start-up is slow)."""
    torch.set_num_threads(1)
    from processes import join_cpu_group

    join_cpu_group(rank, world, port, own_node=True)
    from accelerate import Accelerator

    from smoothclap.training.cache import build_or_load

    accelerator = Accelerator(cpu=True)
    assert accelerator.num_processes == world and accelerator.is_local_main_process
    model, processor, split, policy = _load_parts(model_dir, data)
    for n, folders in enumerate(scenarios):
        logs = []
        cache = build_or_load(accelerator, model, None, processor, split, "train", policy, folders[rank],
                              batch_size=4, log=logs.append, show_progress=False)
        torch.save({"index": cache.index, "offsets": cache.offsets, "audio": cache.audio, "logs": logs},
                   os.path.join(out_dir, f"scenario{n}-rank{rank}.pt"))
    torch.distributed.destroy_process_group()


def _run_nodes(scenarios, model_dir, data, out_dir, world=2, timeout=150):
    from processes import free_port, run_ranks

    run_ranks(_node, (world, free_port(), str(model_dir), str(data), scenarios, str(out_dir)), world, timeout)
    return [[torch.load(os.path.join(out_dir, f"scenario{n}-rank{r}.pt")) for r in range(world)]
            for n in range(len(scenarios))]


def test_two_nodes_with_node_local_folders_of_which_one_has_the_cache_and_with_one_shared_folder(
        data, model_dir, reference, tmp_path):
    import shutil

    from safetensors.torch import load_file

    have, empty, shared = str(tmp_path / "node0"), str(tmp_path / "node1"), str(tmp_path / "shared")
    shutil.copytree(reference[0], have)  # node 0's folder holds the cache, node 1's is empty
    before = _files(have)
    node_local, one_folder = _run_nodes([[have, empty], [shared, shared]], model_dir, data, tmp_path)
    for results in (node_local, one_folder):
        for name in ("index", "offsets", "audio"):
            assert torch.equal(results[0][name], results[1][name]), name  # one cache for the whole job
        torch.testing.assert_close(_by_window(results[0]), _by_window(reference[1]), rtol=1e-5, atol=1e-5)
        assert torch.equal(results[0]["offsets"], reference[1].offsets)
        assert all(any("feature cache: computing train" in m for m in r["logs"]) for r in results)
    # node-local: node 0's file untouched; node 1 wrote its own copy (no shards, locks or tmp files)
    assert _files(have) == before and _files(empty) == before
    assert torch.equal(load_file(os.path.join(empty, before[0]))["audio"], node_local[1]["audio"])
    # shared: one merged file, written once
    assert _files(shared) == before
    assert torch.equal(load_file(os.path.join(shared, before[0]))["audio"], one_folder[0]["audio"])

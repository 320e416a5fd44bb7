"""Frozen-feature cache: pooled outputs of the frozen audio encoder (and local extractor).

In the paper's recipe the audio encoder and the local feature extractor are frozen, so
their pooled outputs for a given window of a clip never change. The cache computes them
once and every epoch reads them back: a training step then runs only the text encoder,
the heads and the loss.

Crop policy (``data.CropPolicy`` with K = ``--crops-per-clip``, default 5): K random
windows of ``--max-duration`` seconds per clip, drawn once from (crop seed, row); epoch e
uses window ``perm(crop seed, row)[e % K]``. The crop seed is ``--crop-seed`` (default
``--seed``): a seed sweep with one ``--crop-seed`` reuses one cache. Windows with the same
offset are computed once, so a clip not longer than the window (one zero-padded window)
costs one forward whatever K is. Validation uses the whole clip, one window (the reference
evaluation).

On disk: ``<cache dir>/<key>/<split>.safetensors`` with
  ``index``    (rows, K) int64, row/window -> feature row,
  ``offsets``  (rows, K) int64, the window starts in samples (16 kHz),
  ``audio``    (U, hidden) float32 pooled audio-encoder outputs of the U distinct windows,
  ``local``    (U, hidden') float32 pooled local-extractor outputs (separate extractor only),
and the key's inputs as JSON metadata. ``key`` hashes what changes the features and nothing
else: the audio encoder's weights and config, the local extractor's and ITS OWN input
normalisation (a separate extractor gets the raw crop normalised by its own feature
extractor settings, not SmoothCLAP's), the pooling code (``POOLING_VERSION``), the
SmoothCLAP feature-extractor settings, the mixed precision the features are computed in
(the build runs under ``accelerator.autocast()``, as the training forward does; stored as
float32), the crop policy and the split's fingerprint. Change any of them and a new cache
is built; keep them and a second run starts at once.

Several processes and nodes. Whether the cache exists is ONE decision for the whole job:
each node's local main process (``accelerator.is_local_main_process``) looks at its own
cache folder, the answers are gathered, and only when every node has the file does every
process load it. Otherwise every process computes rows ``rank::N`` (decoding and cropping in
``num_workers`` DataLoader workers), the shards are exchanged through collectives
(``gather_object``, never through files), and each node's local main process writes the
merged file to its own folder: node-local folders (the default, under ``--output-dir`` when that is node-local) and a
shared ``--feature-cache-dir`` (NFS) both work, and no process ever waits for a file that
another node writes. Writes are atomic (a temporary file named by host, pid and a random
id, then ``os.replace``). A writer holds ``<split>.safetensors.lock`` (created with
O_EXCL; holds host, pid, time and the job's id) while the job builds: another node of the
same job that finds it (a shared folder) leaves the writing to its holder, and a second run
with the same key waits (at most ``lock_timeout`` seconds, default 20 min, below the
collectives' 30-min timeout) and then reuses the first run's file instead of rebuilding
it. A lock whose process is gone (same host) or older than ``STALE_LOCK_SECONDS`` is
removed. A run that gave up waiting builds the features itself and replaces the file
atomically with the same features.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import time
import uuid

import torch

from smoothclap.evaluation.predict import module_fingerprint  # noqa: F401  (here since the feature cache began)
from smoothclap.processes import ignore_stop_signals

from .data import SAMPLING_RATE, CropPolicy, crop_windows, extractor_inputs

CACHE_FORMAT = 2
# Bump when modeling_smoothclap.pool_audio_encoder / mean_pool change what they compute:
# every cache built with the old pooling is then rebuilt.
POOLING_VERSION = 1
LOCK_TIMEOUT = 20 * 60.0  # seconds a build waits for another run holding the same key's lock
STALE_LOCK_SECONDS = 6 * 3600.0  # a lock this old (any host) is abandoned
INPUT_PROCESSOR_ATTR = "smoothclap_input_processor"  # the local extractor's own feature extractor

# one node's view of the cache file (gathered from every node's local main process)
HAVE, MINE, SHARED, GAVE_UP = "have", "mine", "shared", "gave-up"


def default_cache_dir(output_dir: str) -> str:
    """Under the run's --output-dir (it went to the user's Hugging Face cache unasked, where it
    outlived the run); --feature-cache-dir shares one cache between runs."""
    return os.path.join(output_dir, "feature_cache")


def pooled_output(encoder, input_values, audio_attention_mask):
    """Mean over valid frames of an encoder's last hidden state (a separate local extractor),
    by the model's own pooling rule."""
    from smoothclap.models.modeling_smoothclap import pool_audio_encoder

    return pool_audio_encoder(encoder, input_values, audio_attention_mask)[0]


# --------------------------------------------------------------------------- extractor inputs
def input_normalization(feature_extractor) -> dict:
    """The settings of a feature extractor that change what the encoder sees."""
    return {"do_normalize": bool(getattr(feature_extractor, "do_normalize", True)),
            "padding_value": float(getattr(feature_extractor, "padding_value", 0.0)),
            "sampling_rate": int(feature_extractor.sampling_rate)}


def input_processor(extractor):
    """The local extractor's own feature extractor (set by train_accelerate.load_local_extractor),
    or None: it then takes SmoothCLAP's inputs."""
    return getattr(extractor, INPUT_PROCESSOR_ATTR, None) if extractor is not None else None


def own_input_processor(extractor, processor):
    """The extractor's feature extractor when its inputs differ from SmoothCLAP's (the collator
    and the cache then build ``local_input_values`` from the raw crop), else None."""
    fe = input_processor(extractor)
    if fe is None or input_normalization(fe) == input_normalization(processor.feature_extractor):
        return None
    return fe


# --------------------------------------------------------------------------- cache
class FeatureCache:
    """Features of one split for one (encoder, extractor, crop policy); see the module doc."""

    def __init__(self, tensors: dict, policy: CropPolicy | None, path: str):
        self.index = tensors["index"]
        self.offsets = tensors["offsets"]
        self.audio = tensors["audio"]
        self.local = tensors.get("local")
        self.policy = policy
        self.path = path

    def lookup(self, indices, epoch: int) -> dict:
        """Batch entries for rows ``indices`` in ``epoch`` (the window the crop policy picks)."""
        if self.policy is None:  # validation: one window
            k = [0] * len(indices)
        else:
            k = [self.policy.crop_index(int(i), epoch) for i in indices]
        rows = self.index[torch.as_tensor(indices, dtype=torch.long), torch.as_tensor(k, dtype=torch.long)]
        out = {"pooled_audio_features": self.audio[rows]}
        if self.local is not None:
            out["cached_local_features"] = self.local[rows]
        return out


def cache_key(model, extractor, processor, split, policy: CropPolicy | None,
              mixed_precision: str = "no") -> tuple[str, dict]:
    """(key, the key's inputs): everything that changes the cached features, nothing else
    (not the run seed: the crop windows come from the policy's own seed)."""
    fe = processor.feature_extractor
    local_fe = input_processor(extractor)
    inputs = {
        "format": CACHE_FORMAT,
        "pooling": POOLING_VERSION,
        "precision": str(mixed_precision or "no"),
        "audio_encoder": module_fingerprint(model.audio_model),
        "local_extractor": module_fingerprint(extractor),
        "local_extractor_inputs": (None if extractor is None else
                                   input_normalization(local_fe) if local_fe is not None else "smoothclap"),
        "feature_extractor": input_normalization(fe),
        "dataset": getattr(split, "_fingerprint", None),
        "rows": len(split),
        "crop": ({"length": policy.length, "seed": policy.seed, "crops_per_clip": policy.crops_per_clip}
                 if policy is not None else "whole clip"),
    }
    digest = hashlib.sha1(json.dumps(inputs, sort_keys=True).encode()).hexdigest()[:20]
    return digest, inputs


def _row_windows(num_samples, row, policy):
    """(offsets of the K slots, [(slots, offset)] of the distinct windows) of one clip."""
    if policy is None:  # validation: the clip from its start
        return [0], [([0], 0)]
    offsets = policy.offsets(row, num_samples)
    return offsets, [([k for k, o in enumerate(offsets) if o == off], off) for off in sorted(set(offsets))]


class _Windows(torch.utils.data.Dataset):
    """Position p in ``rows`` -> (p, the K slots' offsets, [(slots, raw window)]): decoding and
    cropping, done in DataLoader workers."""

    def __init__(self, split, rows, policy, processor):
        self.audio = split.select_columns(["audio"])
        self.rows, self.policy, self.processor = list(rows), policy, processor

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, p):
        row = int(self.rows[p])
        wave = self.processor.load_audio(self.audio[row]["audio"])
        offs, windows = _row_windows(len(wave), row, self.policy)
        if self.policy is None:
            crops = [wave]
        else:
            crops = crop_windows([wave] * len(windows), [off for _, off in windows], self.policy.length)
        return p, offs, [(slots, crop) for (slots, _), crop in zip(windows, crops)]


def _as_is(item):
    return item


@torch.no_grad()
def _compute_shard(model, extractor, processor, split, rows, policy, device, batch_size,
                   progress=None, num_workers=0, autocast=contextlib.nullcontext):
    K = 1 if policy is None else policy.crops_per_clip
    index = torch.full((len(rows), K), -1, dtype=torch.long)
    offsets = torch.zeros((len(rows), K), dtype=torch.long)
    audio_out, local_out, pending = [], [], []  # pending: raw windows (valid samples only)
    local_fe = own_input_processor(extractor, processor)
    pad = policy.length if policy is not None else None

    def flush():
        # the same processor call as the uncached collator: same crops, padding, normalisation
        if policy is not None:
            feats = processor(audio=pending, sampling_rate=SAMPLING_RATE, max_duration=policy.seconds,
                              pad_to_max_duration=True, crop_offsets=[0] * len(pending))
        else:
            feats = processor(audio=pending, sampling_rate=SAMPLING_RATE)
        values, mask = feats["input_values"].to(device), feats["audio_attention_mask"].to(device)
        with autocast():  # the precision of the training forward (stored as float32)
            audio_out.append(model.pooled_audio(values, mask).float().cpu())
            if extractor is not None:
                if local_fe is not None:  # the extractor's own normalisation of the raw windows
                    values, mask = (t.to(device) for t in extractor_inputs(local_fe, pending, pad))
                local_out.append(pooled_output(extractor, values, mask).float().cpu())
        pending.clear()

    loader = torch.utils.data.DataLoader(
        _Windows(split, rows, policy, processor), batch_size=None, collate_fn=_as_is, num_workers=num_workers,
        worker_init_fn=ignore_stop_signals if num_workers else None)
    unique = 0
    for p, offs, windows in loader:
        offsets[p] = torch.as_tensor(offs)
        for slots, crop in windows:
            index[p, slots] = unique
            unique += 1
            pending.append(crop)
            if len(pending) == batch_size:
                flush()
        if progress is not None:
            progress.update(1)
    if pending:
        flush()
    hidden = model.config.audio_config.hidden_size
    out = {"rows": torch.as_tensor(list(rows), dtype=torch.long), "index": index, "offsets": offsets,
           "audio": torch.cat(audio_out) if audio_out else torch.zeros(0, hidden)}
    if extractor is not None:
        out["local"] = torch.cat(local_out) if local_out else torch.zeros(0, extractor.config.hidden_size)
    return out


def _merge(shards: list[dict], num_rows: int) -> dict:
    K = shards[0]["index"].shape[1]
    index = torch.full((num_rows, K), -1, dtype=torch.long)
    offsets = torch.zeros((num_rows, K), dtype=torch.long)
    audio, local, base = [], [], 0
    for shard in shards:
        index[shard["rows"]] = shard["index"] + base
        offsets[shard["rows"]] = shard["offsets"]
        audio.append(shard["audio"])
        if "local" in shard:
            local.append(shard["local"])
        base += shard["audio"].shape[0]
    out = {"index": index, "offsets": offsets, "audio": torch.cat(audio).contiguous()}
    if local:
        out["local"] = torch.cat(local).contiguous()
    assert int(index.min()) >= 0, "every row/window has a feature"
    return out


# --------------------------------------------------------------------------- locking
def _lock_info(lock: str) -> dict | None:
    """The holder written in a lock file; {} while it is being written; None when it is gone."""
    try:
        with open(lock, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return {}


def _try_lock(lock: str, token: str) -> dict | None:
    """Create ``lock`` (O_EXCL) for job ``token``: None when created, else its holder."""
    try:
        fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        info = _lock_info(lock)
        return {} if info is None else info
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump({"token": token, "host": socket.gethostname(), "pid": os.getpid(), "time": time.time()}, f)
    return None


def _is_stale(lock: str, holder: dict) -> bool:
    try:
        age = time.time() - os.path.getmtime(lock)
    except FileNotFoundError:
        return False  # released meanwhile: the caller tries again
    if holder.get("host") == socket.gethostname() and isinstance(holder.get("pid"), int):
        try:
            os.kill(holder["pid"], 0)
        except ProcessLookupError:
            return True  # its process is gone (killed run)
        except PermissionError:
            pass  # alive, another user's
    return age > STALE_LOCK_SECONDS


def _release(lock: str, token: str) -> None:
    if (_lock_info(lock) or {}).get("token") == token:
        with contextlib.suppress(FileNotFoundError):
            os.remove(lock)


def _claim(path: str, token: str, timeout: float, log, poll: float = 0.25) -> str:
    """This node's view of ``path``: HAVE (the file is there), MINE (this process holds the
    lock and writes the file), SHARED (another node of this job holds it: a shared folder) or
    GAVE_UP (another run held it longer than ``timeout``: build and write it anyway)."""
    if os.path.isfile(path):
        return HAVE
    os.makedirs(os.path.dirname(path), exist_ok=True)
    lock, deadline, waiting = path + ".lock", time.monotonic() + timeout, False
    while True:
        holder = _try_lock(lock, token)
        if holder is None:
            if os.path.isfile(path):  # finished by the run that held the lock before
                _release(lock, token)
                return HAVE
            return MINE
        if holder.get("token") == token:
            return SHARED
        if holder and _is_stale(lock, holder):
            log(f"feature cache: removing the stale lock {lock} (host {holder.get('host')}, pid {holder.get('pid')})")
            with contextlib.suppress(FileNotFoundError):
                os.remove(lock)
            continue
        if not waiting:
            log(f"feature cache: another run (host {holder.get('host')}, pid {holder.get('pid')}) is building "
                f"{path}; waiting for it (at most {timeout:g} s)")
            waiting = True
        if time.monotonic() > deadline:
            log(f"feature cache: waited {timeout:g} s for {lock}; computing the features here too")
            return GAVE_UP
        time.sleep(poll)
        if os.path.isfile(path):
            return HAVE


def _write(tensors: dict, path: str, inputs: dict) -> None:
    """Atomically: a uniquely named temporary file, then os.replace (a killed or concurrent
    run never leaves a half-written or mixed cache)."""
    from safetensors.torch import save_file

    tmp = f"{path}.tmp-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:12]}"
    try:
        save_file(tensors, tmp, metadata={"key": json.dumps(inputs, sort_keys=True)})
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)


def build_or_load(accelerator, model, extractor, processor, split, split_name, policy, cache_dir,
                  batch_size=8, log=print, show_progress=True, num_workers=0,
                  lock_timeout=LOCK_TIMEOUT) -> FeatureCache:
    """The split's cache: loaded when every node's ``cache_dir`` has it, else computed (each
    process its shard of the rows, ``num_workers`` decoding workers) and written by each
    node's local main process (see the module doc). ``model`` is the unwrapped
    SmoothClapModel (its audio encoder frozen, in eval mode); ``policy`` None means
    validation windows. Every process of the job must call it (it runs collectives)."""
    from accelerate.utils import broadcast_object_list, gather_object
    from safetensors.torch import load_file
    from tqdm.auto import tqdm

    key, inputs = cache_key(model, extractor, processor, split, policy, accelerator.mixed_precision)
    path = os.path.join(cache_dir, key, f"{split_name}.safetensors")
    token = broadcast_object_list([uuid.uuid4().hex if accelerator.is_main_process else None])[0]
    claim = None
    if accelerator.is_local_main_process:
        try:
            claim = _claim(path, token, lock_timeout, log)
        except OSError as err:  # told to every process below: none is left waiting in a collective
            claim = f"error: {path}: {err}"
    try:
        claims = [c for c in gather_object([claim]) if c is not None]  # one per node
        errors = [c for c in claims if c.startswith("error")]
        if errors:
            raise RuntimeError(f"feature cache: {'; '.join(errors)}")
        if all(c == HAVE for c in claims):
            log(f"feature cache: reusing {path}")
            return FeatureCache(load_file(path), policy, path)
        rank, world = accelerator.process_index, accelerator.num_processes
        rows = list(range(rank, len(split), world))
        log(f"feature cache: computing {split_name} ({len(split)} clips, "
            f"{'validation: whole clips' if policy is None else policy.describe()}) into {path}")
        bar = tqdm(total=len(rows), desc=f"cache {split_name}",
                   disable=not (show_progress and accelerator.is_main_process))
        was_training = model.audio_model.training
        model.audio_model.eval()
        try:
            shard = _compute_shard(model, extractor, processor, split, rows, policy, accelerator.device,
                                   batch_size, bar, num_workers, accelerator.autocast)
        finally:
            model.audio_model.train(was_training)
            bar.close()
        merged = _merge(gather_object([shard]), len(split))  # every process gets every shard
        if claim in (MINE, GAVE_UP):  # this node's writer
            _write(merged, path, inputs)
        return FeatureCache(merged, policy, path)
    finally:
        if claim == MINE:
            _release(path + ".lock", token)

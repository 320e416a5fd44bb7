"""Frozen-feature cache: pooled outputs of the frozen audio encoder (and local extractor).

In the paper's recipe the audio encoder and the local feature extractor are frozen, so
their pooled outputs for a given window of a clip never change. The cache computes them
once and every epoch reads them back: a training step then runs only the text encoder,
the heads and the loss.

Crop policy (``data.CropPolicy`` with K = ``--crops-per-clip``, default 5): K random
windows of ``--max-duration`` seconds per clip, drawn once from (seed, row); epoch e uses
window ``perm(seed, row)[e % K]``. Windows with the same offset are computed once, so a
clip not longer than the window (one zero-padded window) costs one forward whatever K is.
Validation uses the whole clip, one window (the reference evaluation).

On disk: ``<cache dir>/<key>/<split>.safetensors`` with
  ``index``    (rows, K) int64, row/window -> feature row,
  ``offsets``  (rows, K) int64, the window starts in samples (16 kHz),
  ``audio``    (U, hidden) float32 pooled audio-encoder outputs of the U distinct windows,
  ``local``    (U, hidden') float32 pooled local-extractor outputs (separate extractor only),
and the key's inputs as JSON metadata. ``key`` hashes the audio encoder's weights and
config, the local extractor's, the crop policy, the feature-extractor settings and the
split's fingerprint: change any of them and a new cache is built; keep them and a second
run starts at once. In a run of N processes each process computes rows ``rank::N`` into
its own shard file; the main process merges the shards (then deleted).
"""

from __future__ import annotations

import hashlib
import json
import os

import torch

from .data import SAMPLING_RATE, CropPolicy

CACHE_FORMAT = 1


def default_cache_dir() -> str:
    home = os.environ.get("HF_HOME", os.path.join(os.path.expanduser("~"), ".cache", "huggingface"))
    return os.path.join(home, "smoothclap", "feature_cache")


def module_fingerprint(module: torch.nn.Module | None) -> str:
    """sha1 of a module's config and weights (cheap next to one pass over a corpus)."""
    if module is None:
        return "none"
    h = hashlib.sha1()
    config = getattr(module, "config", None)
    if config is not None:
        h.update(config.to_json_string(use_diff=False).encode())
    for name, tensor in sorted(module.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def pooled_output(encoder, input_values, audio_attention_mask):
    """Mean over valid frames of an encoder's last hidden state (a separate local extractor),
    by the model's own pooling rule."""
    from modeling_smoothclap import pool_audio_encoder

    return pool_audio_encoder(encoder, input_values, audio_attention_mask)[0]


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


def cache_key(model, extractor, processor, split, policy: CropPolicy | None) -> tuple[str, dict]:
    fe = processor.feature_extractor
    inputs = {
        "format": CACHE_FORMAT,
        "audio_encoder": module_fingerprint(model.audio_model),
        "local_extractor": module_fingerprint(extractor),
        "feature_extractor": {"do_normalize": bool(getattr(fe, "do_normalize", True)),
                              "sampling_rate": int(fe.sampling_rate)},
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


@torch.no_grad()
def _compute_shard(model, extractor, processor, split, rows, policy, device, batch_size,
                   progress=None):
    K = 1 if policy is None else policy.crops_per_clip
    index = torch.full((len(rows), K), -1, dtype=torch.long)
    offsets = torch.zeros((len(rows), K), dtype=torch.long)
    audio_out, local_out, pending = [], [], []  # pending: (wave, offset) of distinct windows

    def flush():
        # the same processor call as the uncached collator: same crops, padding, normalisation
        waves, offs = [w for w, _ in pending], [o for _, o in pending]
        if policy is not None:
            feats = processor(audio=waves, sampling_rate=SAMPLING_RATE, max_duration=policy.seconds,
                              pad_to_max_duration=True, crop_offsets=offs)
        else:
            feats = processor(audio=waves, sampling_rate=SAMPLING_RATE)
        values, mask = feats["input_values"].to(device), feats["audio_attention_mask"].to(device)
        audio_out.append(model.pooled_audio(values, mask).float().cpu())
        if extractor is not None:
            local_out.append(pooled_output(extractor, values, mask).float().cpu())
        pending.clear()

    audio = split.select_columns(["audio"])
    unique = 0
    for p, row in enumerate(rows):
        wave = processor.load_audio(audio[int(row)]["audio"])
        offs, windows = _row_windows(len(wave), int(row), policy)
        offsets[p] = torch.as_tensor(offs)
        for slots, off in windows:
            index[p, slots] = unique
            unique += 1
            pending.append((wave, off))
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


def build_or_load(accelerator, model, extractor, processor, split, split_name, policy, cache_dir,
                  batch_size=8, log=print, show_progress=True) -> FeatureCache:
    """The split's cache: loaded from ``cache_dir`` when present, else computed (each process
    its shard of the rows) and written. ``model`` is the unwrapped SmoothClapModel (its
    audio encoder frozen, in eval mode); ``policy`` None means validation windows."""
    from safetensors.torch import load_file, save_file
    from tqdm.auto import tqdm

    key, inputs = cache_key(model, extractor, processor, split, policy)
    folder = os.path.join(cache_dir, key)
    path = os.path.join(folder, f"{split_name}.safetensors")
    if os.path.isfile(path):
        log(f"feature cache: reusing {path}")
        return FeatureCache(load_file(path), policy, path)
    rank, world = accelerator.process_index, accelerator.num_processes
    rows = list(range(rank, len(split), world))
    log(f"feature cache: computing {split_name} ({len(split)} clips, "
        f"{'validation: whole clips' if policy is None else policy.describe()}) into {path}")
    os.makedirs(folder, exist_ok=True)
    bar = tqdm(total=len(rows), desc=f"cache {split_name}", disable=not (show_progress and accelerator.is_main_process))
    was_training = model.audio_model.training
    model.audio_model.eval()
    shard = _compute_shard(model, extractor, processor, split, rows, policy,
                           accelerator.device, batch_size, bar)
    model.audio_model.train(was_training)
    bar.close()
    shard_path = os.path.join(folder, f"{split_name}.shard-{rank:05d}-of-{world:05d}.safetensors")
    save_file(shard, shard_path)
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        names = [os.path.join(folder, f"{split_name}.shard-{r:05d}-of-{world:05d}.safetensors") for r in range(world)]
        merged = _merge([load_file(n) for n in names], len(split))
        tmp = path + ".tmp"
        save_file(merged, tmp, metadata={"key": json.dumps(inputs, sort_keys=True)})
        os.replace(tmp, path)  # atomic: a killed run never leaves a half-written cache
        for n in names:
            os.remove(n)
    accelerator.wait_for_everyone()
    return FeatureCache(load_file(path), policy, path)

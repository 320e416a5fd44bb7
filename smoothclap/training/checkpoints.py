"""Checkpoints: atomic, resumable mid-epoch, rotated; and the best model by validation UAR.

Layout under ``--output-dir``:
  checkpoints/step_00000012/   accelerate ``save_state`` (the TRAINABLE weights, optimizer,
                               scheduler, RNG states, data position) + ``frozen.json`` (the
                               frozen weights' fingerprint) + ``trainer_state.json`` (epoch,
                               batches done in it, global step, best UAR, history)
  best/                        trainable weights of the best epoch by validation UAR +
                               ``best.json`` (its epoch, UAR, the frozen weights' fingerprint)
  model/                       the exported Hub-ready folder (at the end): the full model

A checkpoint is written into ``.tmp-step_N`` and renamed when complete, so a run killed
while saving never leaves a half-written checkpoint that ``latest`` would pick; its
``manifest.json`` (every file's size and SHA-256, written last) lets ``latest`` skip a
checkpoint damaged afterwards (a truncated or missing file), naming it.

Frozen weights (the audio encoder in the paper's recipe, every base weight under LoRA) do
not change during training: checkpoints and ``best/`` leave them out and keep a SHA-1 of
their names, dtypes, shapes and bytes instead (`frozen_fingerprint`, computed once per run
by `install`). Resuming reloads them from ``--model`` (or the encoders) and refuses, with a
`TrainingConfigError`, a checkpoint whose fingerprint or trainable set differs from the run's.
Checkpoints written before this (complete weights, no ``frozen.json``) still load.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from dataclasses import asdict, dataclass, field

from .config import TrainingConfigError

STATE_FILE = "trainer_state.json"
FROZEN_FILE = "frozen.json"
MANIFEST_FILE = "manifest.json"  # written last: every other file's size and SHA-256
_STEP_DIR = re.compile(r"^step_(\d+)$")


@dataclass
class TrainerState:
    global_step: int = 0
    epoch: int = 0
    batches_done: int = 0  # batches of `epoch` already trained on (mid-epoch resume)
    epoch_loss_sum: float = 0.0  # sum of this epoch's batch losses so far (its mean goes in history)
    best_uar: float | None = None
    best_epoch: int | None = None
    history: list = field(default_factory=list)
    settings: dict = field(default_factory=dict)  # what shapes the result (`run_settings`); {} before it existed

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)


def checkpoints_dir(output_dir) -> str:
    return os.path.join(output_dir, "checkpoints")


def list_checkpoints(output_dir) -> list[str]:
    """Complete checkpoints, oldest first."""
    root = checkpoints_dir(output_dir)
    if not os.path.isdir(root):
        return []
    found = []
    for name in os.listdir(root):
        m = _STEP_DIR.match(name)
        if m and os.path.isfile(os.path.join(root, name, STATE_FILE)):
            found.append((int(m.group(1)), os.path.join(root, name)))
    return [path for _, path in sorted(found)]


def resolve_resume(output_dir, resume, log=print) -> str | None:
    """The folder to resume from (``latest`` or a path), or None; a clear error otherwise.
    ``latest`` is the newest checkpoint that passes `verify_checkpoint`; damaged newer ones are
    named in the log and skipped. An explicit path that fails it is an error naming the file."""
    if resume is None:
        if list_checkpoints(output_dir):
            raise TrainingConfigError(
                f"--output-dir {output_dir!r} already holds checkpoints: pass --resume-from-checkpoint "
                "latest to continue that run, or choose another --output-dir.")
        return None
    if resume == "latest":
        found = list_checkpoints(output_dir)
        if not found:
            raise TrainingConfigError(f"--resume-from-checkpoint latest: no checkpoint in {checkpoints_dir(output_dir)!r}.")
        for path in reversed(found):
            problem = verify_checkpoint(path)
            if problem is None:
                return path
            log(f"warning: skipping damaged checkpoint {path}: {problem}")
        raise TrainingConfigError(f"--resume-from-checkpoint latest: every checkpoint in "
                                  f"{checkpoints_dir(output_dir)!r} is damaged (see the warnings above); start "
                                  "a new run in another --output-dir.")
    if not os.path.isfile(os.path.join(resume, STATE_FILE)):
        raise TrainingConfigError(f"--resume-from-checkpoint {resume!r} is not a checkpoint folder "
                                  f"(no {STATE_FILE}); use 'latest' or a checkpoints/step_N folder.")
    problem = verify_checkpoint(resume)
    if problem is not None:
        raise TrainingConfigError(f"--resume-from-checkpoint {resume!r} is damaged: {problem}. Use 'latest' (the "
                                  "newest intact checkpoint) or another checkpoints/step_N folder.")
    return resume


def _digest(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_manifest(folder) -> None:
    """``manifest.json``: size and SHA-256 of every file in a checkpoint; written last, so a
    checkpoint with a manifest is complete and one whose files differ from it is damaged."""
    files = {}
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name)
        if name != MANIFEST_FILE and os.path.isfile(path):
            files[name] = {"size": os.path.getsize(path), "sha256": _digest(path)}
    tmp = os.path.join(folder, MANIFEST_FILE + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump({"files": files}, fh, indent=2)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, os.path.join(folder, MANIFEST_FILE))


def verify_checkpoint(folder) -> str | None:
    """None when the checkpoint is intact, else what is wrong (the file and how). Checkpoints
    written before manifests existed are taken as they are if their state file reads."""
    manifest = os.path.join(folder, MANIFEST_FILE)
    if not os.path.isfile(manifest):
        try:
            read_state(folder)
        except (OSError, ValueError, TypeError) as err:
            return f"{STATE_FILE} unreadable ({type(err).__name__})"
        return None
    try:
        with open(manifest, encoding="utf-8") as fh:
            files = json.load(fh)["files"]
    except (OSError, ValueError, KeyError) as err:
        return f"{MANIFEST_FILE} unreadable ({type(err).__name__})"
    for name, want in files.items():
        path = os.path.join(folder, name)
        if not os.path.isfile(path):
            return f"{name} is missing"
        if os.path.getsize(path) != want["size"]:
            return f"{name} has {os.path.getsize(path)} bytes, {want['size']} were written (truncated?)"
        if _digest(path) != want["sha256"]:
            return f"{name} differs from what was written (SHA-256 mismatch)"
    return None


# options that change what the run computes (loss, batch, optimisation, data draw): a resume with
# other values would silently continue another experiment
RESUME_SETTINGS = ("beta", "gamma", "tau_a2a", "tau_t2t", "tau_pred", "text_target", "caption_variant", "max_tags",
                   "fixed_captions", "max_duration", "batch_size", "global_batch_size", "text_lr", "head_lr",
                   "audio_lr", "lora_lr", "weight_decay", "warmup_steps", "gradient_accumulation_steps",
                   "max_grad_norm", "seed", "crop_seed", "crops_per_clip", "speaker_norm")


def run_settings(args) -> dict:
    return {k: getattr(args, k, None) for k in RESUME_SETTINGS}


def check_resume_settings(saved: dict, current: dict, allow: bool, log=print) -> None:
    """A resume must continue the same run: settings that differ from the checkpoint's are an
    error listing them, or with ``allow`` (--allow-changed-settings) a warning."""
    shown = lambda v: "(default)" if v is None else repr(v)  # noqa: E731  (None: the model's or the script's)
    changed = [f"--{k.replace('_', '-')} {shown(saved[k])} -> {shown(current.get(k))}" for k in sorted(saved)
               if k in current and saved[k] != current[k]]
    if not changed:
        return
    if not allow:
        raise TrainingConfigError("resuming with other settings than the checkpoint's: " + "; ".join(changed)
                                  + ". Use the run's settings, or pass --allow-changed-settings to continue anyway.")
    log("warning: resuming with changed settings (--allow-changed-settings): " + "; ".join(changed))


def read_state(path) -> TrainerState:
    with open(os.path.join(path, STATE_FILE), encoding="utf-8") as fh:
        return TrainerState(**json.load(fh))


# --------------------------------------------------------------------------- trainable vs frozen
def _frozen_tower_modules(model) -> set[int]:
    """ids of the modules inside towers frozen with ``SmoothClapModel.freeze_encoder`` (kept in
    eval mode, so even their buffers, e.g. BatchNorm statistics, never change)."""
    ids = set()
    for module in model.modules():
        towers = getattr(module, "_frozen_encoders", None)
        if towers and hasattr(module, "_tower"):
            for tower in towers:
                ids.update(id(m) for m in module._tower(tower).modules())
    return ids


def split_state_keys(model) -> tuple[list[str], list[str]]:
    """(trainable, frozen) keys of ``model.state_dict()``, in its order.

    Frozen: parameters with ``requires_grad=False`` and persistent buffers of frozen towers.
    Everything else (trainable parameters, LoRA weights, peft's ``modules_to_save`` copies,
    buffers of trained modules, extra state) is trainable, i.e. saved in checkpoints.
    """
    frozen = {name for name, p in model.named_parameters(remove_duplicate=False) if not p.requires_grad}
    towers = _frozen_tower_modules(model)
    for prefix, module in model.named_modules(remove_duplicate=False):
        if id(module) in towers:
            for name, buf in module.named_buffers(prefix=prefix, recurse=False, remove_duplicate=False):
                frozen.add(name)
    keys = list(model.state_dict().keys())
    return [k for k in keys if k not in frozen], [k for k in keys if k in frozen]


def frozen_fingerprint(model) -> dict:
    """SHA-1 over the frozen tensors' names, dtypes, shapes and bytes (about 1 s per GB: call
    it once per run), with their count and size."""
    import torch

    state = model.state_dict()
    digest, numel, nbytes = hashlib.sha1(), 0, 0
    _, frozen = split_state_keys(model)
    for key in sorted(frozen):
        tensor = state[key].detach()
        digest.update(f"{key}|{tensor.dtype}|{tuple(tensor.shape)}\n".encode())
        data = tensor.to("cpu").contiguous().reshape(-1).view(torch.uint8)  # reshape: 0-dim tensors too
        digest.update(data.numpy())
        numel += tensor.numel()
        nbytes += data.numel()
    return {"sha1": digest.hexdigest(), "tensors": len(frozen), "parameters": numel, "bytes": nbytes}


def _describe(fp: dict) -> str:
    return f"{fp['sha1']} ({fp['tensors']} tensors, {fp['parameters']:,} values)"


def check_frozen(saved: dict, current: dict, where: str, source: str | None = None) -> None:
    """A clear error when the frozen weights a checkpoint was trained on are not this run's."""
    if saved["sha1"] == current["sha1"]:
        return
    started = f" (its run started from {saved['source']})" if saved.get("source") else ""
    now = f" (from {source})" if source else ""
    raise TrainingConfigError(
        f"{where} was trained on other frozen weights{started}: their fingerprint is {_describe(saved)}, this "
        f"run's frozen weights{now} give {_describe(current)}. The frozen encoder differs (another --model, "
        "--audio-encoder or --text-encoder, or their files changed). Resume with the model the run started "
        "from, or start a new run in another --output-dir.")


def check_trainable_keys(saved_keys, model_keys, where: str) -> None:
    """The saved tensors must be exactly the ones this run trains (same --lora, --train-audio-encoder...)."""
    saved_keys, model_keys = set(saved_keys), set(model_keys)
    if saved_keys == model_keys:
        return
    extra, missing = sorted(saved_keys - model_keys), sorted(model_keys - saved_keys)
    details = "; ".join(part for part in (
        f"{len(extra)} saved tensor(s) this run does not train, e.g. {extra[:3]}" if extra else "",
        f"{len(missing)} trained tensor(s) not saved, e.g. {missing[:3]}" if missing else "") if part)
    raise TrainingConfigError(
        f"{where} holds other trainable weights than this run trains ({details}). Resume with the options "
        "the run started with (--model, --lora, --lora-targets, --train-audio-encoder), or start a new run in "
        "another --output-dir.")


def _load_trainable(model, state: dict, where: str) -> None:
    """Load ``state`` (the trainable tensors) into ``model``; the missing keys must be the frozen ones."""
    trainable, frozen = split_state_keys(model)
    check_trainable_keys(state.keys(), trainable, where)
    result = model.load_state_dict(state, strict=False)
    if set(result.missing_keys) != set(frozen) or result.unexpected_keys:  # not expected after the check above
        raise RuntimeError(f"loading {where}: missing {result.missing_keys[:5]}, unexpected "
                           f"{result.unexpected_keys[:5]}")


def install(accelerator, model, source: str | None = None) -> dict:
    """Make ``accelerator.save_state``/``load_state`` keep only the trainable tensors of
    ``model`` (the prepared model) plus the frozen weights' fingerprint; returns the
    fingerprint (computed here, once per run: pass it to `save_best`/`load_best`).

    On load the checkpoint's fingerprint and trainable set must match this run's
    (`TrainingConfigError` otherwise, before anything is loaded). Under FSDP, DeepSpeed and
    Megatron-LM accelerate saves the model itself: checkpoints stay complete there.
    """
    from accelerate.utils import DistributedType

    unwrapped = accelerator.unwrap_model(model)
    fingerprint = dict(frozen_fingerprint(unwrapped), source=source)
    if accelerator.distributed_type in (DistributedType.FSDP, DistributedType.DEEPSPEED,
                                        DistributedType.MEGATRON_LM):
        return fingerprint

    def ours(m) -> bool:  # accelerator._models holds the model unwrapped under DDP, as prepared otherwise
        return m is model or m is unwrapped

    def save_hook(models, weights, output_dir):
        for m, state in zip(models, weights):
            if ours(m):
                trainable = set(split_state_keys(m)[0])
                for key in [k for k in state if k not in trainable]:
                    del state[key]
        if accelerator.is_main_process:
            with open(os.path.join(output_dir, FROZEN_FILE), "w", encoding="utf-8") as fh:
                json.dump(fingerprint, fh, indent=2)

    def load_hook(models, input_dir):
        found = [i for i, m in enumerate(models) if ours(m)]
        if not found:
            return
        index = found[0]
        target = models[index]
        ending = f"_{index}" if index else ""
        path = os.path.join(input_dir, f"model{ending}.safetensors")
        if os.path.isfile(path):
            from safetensors.torch import load_file

            state = load_file(path)
        else:
            import torch

            state = torch.load(os.path.join(input_dir, f"pytorch_model{ending}.bin"), map_location="cpu",
                               weights_only=True)
        frozen_file = os.path.join(input_dir, FROZEN_FILE)
        if not os.path.isfile(frozen_file):  # written before checkpoints left the frozen weights out
            target.load_state_dict(state)
        else:
            with open(frozen_file, encoding="utf-8") as fh:
                saved = json.load(fh)
            where = f"checkpoint {input_dir}"
            check_trainable_keys(state.keys(), split_state_keys(target)[0], where)
            check_frozen(saved, fingerprint, where, source)
            _load_trainable(target, state, where)
        models.pop(index)  # loaded: accelerate's own loader skips it (our model is the only one prepared)

    accelerator.register_save_state_pre_hook(save_hook)
    accelerator.register_load_state_pre_hook(load_hook)
    return fingerprint


def save_checkpoint(accelerator, output_dir, state: TrainerState, keep: int) -> str:
    """Save a complete checkpoint of the current step (all processes call this)."""
    root = checkpoints_dir(output_dir)
    name = f"step_{state.global_step:08d}"
    final, tmp = os.path.join(root, name), os.path.join(root, f".tmp-{name}")
    if accelerator.is_main_process:
        shutil.rmtree(tmp, ignore_errors=True)
        os.makedirs(tmp)
    accelerator.wait_for_everyone()
    accelerator.save_state(tmp)
    # every process writes its own random_states_<rank>.pkl and save_state does not wait: a rename
    # before a slow rank is done would leave its file out (and a stray .tmp-step_N behind)
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        with open(os.path.join(tmp, STATE_FILE), "w", encoding="utf-8") as fh:
            fh.write(state.to_json())
        write_manifest(tmp)  # last: a checkpoint is complete, or it is skipped on resume
        if os.path.isdir(final):  # the same step saved twice (step and epoch end): newer wins
            shutil.rmtree(final)
        os.replace(tmp, final)
        for old in list_checkpoints(output_dir)[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()
    return final


def best_dir(output_dir) -> str:
    return os.path.join(output_dir, "best")


def save_best(accelerator, model, output_dir, info: dict, frozen: dict | None = None) -> None:
    """The trainable weights of the best epoch so far + ``info`` and the frozen weights'
    fingerprint ``frozen`` (from `install`; computed here if None) in ``best.json``; main
    process, written atomically."""
    from safetensors.torch import save_file

    state_dict = accelerator.get_state_dict(model)  # all processes (gathers sharded models)
    if accelerator.is_main_process:
        unwrapped = accelerator.unwrap_model(model)
        trainable = split_state_keys(unwrapped)[0]
        frozen = frozen if frozen is not None else frozen_fingerprint(unwrapped)
        final, tmp = best_dir(output_dir), best_dir(output_dir) + ".tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        os.makedirs(tmp)
        tensors = {k: state_dict[k].detach().cpu().contiguous().clone() for k in trainable}
        save_file(tensors, os.path.join(tmp, "model.safetensors"))
        with open(os.path.join(tmp, "best.json"), "w", encoding="utf-8") as fh:
            json.dump(dict(info, frozen=frozen), fh, indent=2)
        shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)
    accelerator.wait_for_everyone()


def load_best(model, output_dir, frozen: dict | None = None) -> dict | None:
    """Load the best epoch's trainable weights into ``model`` (unwrapped; its frozen weights
    must have the fingerprint ``best.json`` holds: ``frozen`` from `install`, computed here if
    None). Returns the best epoch's info, or None if there is no best/."""
    from safetensors.torch import load_file

    folder = best_dir(output_dir)
    if not os.path.isfile(os.path.join(folder, "best.json")):
        return None
    with open(os.path.join(folder, "best.json"), encoding="utf-8") as fh:
        info = json.load(fh)
    state = load_file(os.path.join(folder, "model.safetensors"))
    saved = info.pop("frozen", None)
    if saved is None:  # written before best/ left the frozen weights out: the complete model
        model.load_state_dict(state)
        return info
    where = f"{folder} (the best epoch's weights)"
    check_trainable_keys(state.keys(), split_state_keys(model)[0], where)
    check_frozen(saved, frozen if frozen is not None else frozen_fingerprint(model), where)
    _load_trainable(model, state, where)
    return info

"""Checkpoints: atomic, resumable mid-epoch, rotated; and the best model by validation UAR.

Layout under ``--output-dir``:
  checkpoints/step_00000012/   accelerate ``save_state`` (model, optimizer, RNG states,
                               registered objects) + ``trainer_state.json`` (epoch, batches
                               done in it, global step, best UAR, history)
  best/                        weights of the best epoch by validation UAR + ``best.json``
  model/                       the exported Hub-ready folder (at the end)

A checkpoint is written into ``.tmp-step_N`` and renamed when complete, so a run killed
while saving never leaves a half-written checkpoint that ``latest`` would pick.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import asdict, dataclass, field

from .config import TrainingConfigError

STATE_FILE = "trainer_state.json"
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


def resolve_resume(output_dir, resume) -> str | None:
    """The folder to resume from (``latest`` or a path), or None; a clear error otherwise."""
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
        return found[-1]
    if not os.path.isfile(os.path.join(resume, STATE_FILE)):
        raise TrainingConfigError(f"--resume-from-checkpoint {resume!r} is not a checkpoint folder "
                                  f"(no {STATE_FILE}); use 'latest' or a checkpoints/step_N folder.")
    return resume


def read_state(path) -> TrainerState:
    with open(os.path.join(path, STATE_FILE), encoding="utf-8") as fh:
        return TrainerState(**json.load(fh))


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
    if accelerator.is_main_process:
        with open(os.path.join(tmp, STATE_FILE), "w", encoding="utf-8") as fh:
            fh.write(state.to_json())
        if os.path.isdir(final):  # the same step saved twice (step and epoch end): newer wins
            shutil.rmtree(final)
        os.replace(tmp, final)
        for old in list_checkpoints(output_dir)[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()
    return final


def best_dir(output_dir) -> str:
    return os.path.join(output_dir, "best")


def save_best(accelerator, model, output_dir, info: dict) -> None:
    """Weights of the best epoch so far (main process), written atomically."""
    from safetensors.torch import save_file

    state_dict = accelerator.get_state_dict(model)  # all processes (gathers sharded models)
    if accelerator.is_main_process:
        final, tmp = best_dir(output_dir), best_dir(output_dir) + ".tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        os.makedirs(tmp)
        tensors = {k: v.detach().cpu().contiguous().clone() for k, v in state_dict.items()}
        save_file(tensors, os.path.join(tmp, "model.safetensors"))
        with open(os.path.join(tmp, "best.json"), "w", encoding="utf-8") as fh:
            json.dump(info, fh, indent=2)
        shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)
    accelerator.wait_for_everyone()


def load_best(model, output_dir) -> dict | None:
    """Load the best weights into ``model`` (unwrapped); their info, or None if there are none."""
    from safetensors.torch import load_file

    folder = best_dir(output_dir)
    if not os.path.isfile(os.path.join(folder, "best.json")):
        return None
    model.load_state_dict(load_file(os.path.join(folder, "model.safetensors")))
    with open(os.path.join(folder, "best.json"), encoding="utf-8") as fh:
        return json.load(fh)

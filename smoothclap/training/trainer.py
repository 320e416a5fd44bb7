"""Train SmoothCLAP (or the ParaCLAP baseline, ``--beta 0``) with Hugging Face accelerate.

One script from one CPU to many GPUs and nodes:

    smoothclap train --dataset data/demo --model path/to/smoothclap --output-dir runs/demo
    python train_accelerate.py ...                                  # the same, in a clone
    accelerate launch -m smoothclap train --config msp_podcast.yaml # any accelerate setup
    accelerate launch train_accelerate.py --config configs/msp_podcast.yaml   # the same, in a clone

The defaults are the paper's recipe (SmoothCLAP, section 3.1): audio encoder and local
feature extractor frozen, text encoder lr 1e-5, heads and logit scale lr 1e-3, Adam,
batch 32, 10 epochs, 5 s random crops, captions re-drawn every epoch.

The loss sees the GLOBAL batch: every process gathers all processes' embeddings (with
gradient, ``torch.distributed._functional_collectives.all_gather_single``) and the soft targets' inputs,
and computes the same loss; N processes of batch b give exactly the loss and gradients of
one process with batch N*b. ``python train_accelerate.py --help`` lists every option;
``smoothclap/training/`` holds the parts that are not the loop (options, data, the model's
towers and LoRA, the global-batch loss, feature cache, checkpoints, export, validation UAR). From Python: ``train_accelerate.main([...flags])``
returns a dict of results (``model_dir``, ``validation_uar``, ``history``, ...).
"""

from __future__ import annotations

import math
import os
import signal
import sys
import time
from dataclasses import dataclass

import torch

from smoothclap.processes import ignore_stop_signals
from smoothclap.training import checkpoints as ckpt
from smoothclap.training.config import (TrainingConfigError, lora_towers, parse_args, resolve_batch_size,
                                     resolve_num_workers, run_config, validate_args)
from smoothclap.training.data import (Collator, CropPolicy, EpochSampler, IndexDataset, RowTable, SAMPLING_RATE,
                                   caption_defaults, egemaps_statistics, epochs_needed,
                                   load_train_data, num_update_steps, query_template, validation_references)
from smoothclap.training.export import PushError
from smoothclap.training.loss import (MODEL_INPUTS, NonFiniteLossError, check_finite, compute_loss,  # noqa: F401
                                   gather_with_grad)
from smoothclap.training.towers import (audio_is_trainable, build_model_and_processor, load_local_extractor,  # noqa: F401
                                     parameter_groups, prepare_towers, tower_modes, trainable_per_tower)

DEFAULT_CROPS_PER_CLIP = 5


# --------------------------------------------------------------------------- helpers
def step_seed(args, accelerator, epoch: int, batch_index: int) -> None:
    """Seed dropout etc. from (seed, epoch, batch, rank): a resumed run draws the same masks."""
    torch.manual_seed(((args.seed * 1_000_003 + epoch) * 1_000_033 + batch_index) * 4096 + accelerator.process_index)


class StopFlag:
    """Ctrl-C (SIGINT) and SIGTERM ask the loop to save a checkpoint and stop at the next step.
    A second Ctrl-C interrupts at once."""

    def __init__(self):
        self.requested = False
        self.signal = None  # the first signal received
        self._previous = {}

    def __enter__(self):
        if threading_is_main():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = True
        self.signal = self.signal or signum

    def __exit__(self, *exc):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    def agreed(self, accelerator) -> bool:
        """True on every process as soon as any process was asked to stop."""
        if accelerator.num_processes == 1:
            return self.requested
        flag = torch.tensor([1.0 if self.requested else 0.0], device=accelerator.device)
        return bool(accelerator.reduce(flag, reduction="sum").item() > 0)


def threading_is_main() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def clamp_logit_scale(model) -> None:
    """Keep the stored log scale where the model's clamp (scale <= max_scale) still passes
    gradient (every copy: a peft model holds the trained one and the original)."""
    from smoothclap.models.modeling_smoothclap import SmoothClapLogitScale

    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, SmoothClapLogitScale):
                module.log_scale.clamp_(max=math.log(module.max_scale))


def current_scale(model) -> float:
    return float(model.scale().detach()) if hasattr(model, "scale") else float("nan")


# --------------------------------------------------------------------------- setup
@dataclass
class Run:
    """Everything a training run holds after `setup` (prepared by accelerate)."""

    args: object
    accelerator: object
    data: object
    model: object  # prepared (DDP-wrapped on several processes; a peft model with --lora)
    core: object  # the SmoothClapModel itself
    processor: object
    optimizer: object
    scheduler: object
    loader: object
    collator: object
    extractor: object
    policy: CropPolicy
    val_cache: object
    steps_per_epoch: int
    total_steps: int
    num_epochs: int
    references: list | None
    resume_path: str | None
    frozen: dict | None = None  # fingerprint of the frozen weights (checkpoints.install): checkpoints leave them out


def make_accelerator(args):
    from accelerate import Accelerator
    from accelerate.utils import ProjectConfiguration

    # None lets accelerate decide: `accelerate launch --mixed_precision bf16` or a config's
    # `mixed_precision:` (ACCELERATE_MIXED_PRECISION), else "no"; a flag given here wins
    requested = args.mixed_precision or os.environ.get("ACCELERATE_MIXED_PRECISION", "no")
    if requested == "fp16" and not torch.cuda.is_available():
        raise TrainingConfigError("mixed precision fp16 (from " + ("--mixed-precision" if args.mixed_precision else
                                  "the launcher") + ") needs a GPU; on CPU use bf16 or no.")
    trackers = [t.strip() for t in args.report_to.split(",") if t.strip() and t.strip() != "none"]
    return Accelerator(
        gradient_accumulation_steps=args.gradient_accumulation_steps, mixed_precision=args.mixed_precision,
        log_with=trackers or None,
        project_config=ProjectConfiguration(project_dir=args.output_dir,
                                            logging_dir=os.path.join(args.output_dir, "logs")))


def setup(args, accelerator, log=print) -> Run:
    """Check the dataset and options, build model, caches, loader and optimizer, prepare them."""
    from accelerate.utils import set_seed

    # CPU kernels are deterministic for this model (tests/test_train_accelerate.py checks a
    # resumed run against an uninterrupted one bit for bit); `torch.use_deterministic_algorithms`
    # is left to GPU users (it costs CUDA kernels speed and pulls in torch._dynamo at import).
    set_seed(args.seed)
    # ---- every check before any real work
    resolve_batch_size(args, accelerator.num_processes)
    resolve_num_workers(args, accelerator.device.type, int(os.environ.get("LOCAL_WORLD_SIZE", 1)))
    data = load_train_data(args, accelerator.num_processes, log)
    caption_defaults(args, data.meta)
    if data.thresholds is None:
        log("captions: the stored `caption` column every epoch" + ("" if args.fixed_captions else
            " (the dataset has no thresholds.json/tag columns to re-draw them)"))
    resume_path = ckpt.resolve_resume(args.output_dir, args.resume_from_checkpoint, log)
    if resume_path:  # the same run, or said so (before any model loads)
        ckpt.check_resume_settings(ckpt.read_state(resume_path).settings, ckpt.run_settings(args),
                                   args.allow_changed_settings, log)
    use_cache = not args.no_feature_cache and not audio_is_trainable(args)
    if not use_cache and not args.no_feature_cache:
        log("feature cache: off, the audio encoder is trained (" +
            ("LoRA on the audio encoder" if "audio" in lora_towers(args) else "--train-audio-encoder") + ")")
    if args.speaker_norm:
        check_speaker_norm(args, data, use_cache)
    crops = args.crops_per_clip or (DEFAULT_CROPS_PER_CLIP if use_cache else None)
    crop_seed = args.crop_seed if args.crop_seed is not None else args.seed
    policy = CropPolicy(length=int(round(args.max_duration * SAMPLING_RATE)), seed=crop_seed, crops_per_clip=crops)
    os.makedirs(args.output_dir, exist_ok=True)

    # ---- model, caches, data, optimizer
    model, processor = build_model_and_processor(args)
    model = prepare_towers(model, args, log)
    core = model.get_base_model() if hasattr(model, "get_base_model") else model
    core.to(accelerator.device)
    extractor = load_local_extractor(args, accelerator.device, processor, log)
    from smoothclap.training import cache as feature_cache

    train_cache = val_cache = None
    if use_cache:
        cache_dir = args.feature_cache_dir or feature_cache.default_cache_dir(args.output_dir)
        common = dict(batch_size=args.batch_size, log=log, show_progress=not args.no_progress_bar,
                      num_workers=args.num_workers)
        train_cache = feature_cache.build_or_load(accelerator, core, extractor, processor, data.train,
                                                  data.train_split, policy, cache_dir, **common)
        if data.validation is not None:
            val_cache = feature_cache.build_or_load(accelerator, core, None, processor, data.validation,
                                                    data.validation_split, None, cache_dir, **common)
    if args.speaker_norm:
        speaker_normalization(args, core, data, train_cache, val_cache, log)
    elif getattr(core.config, "speaker_normalization", None):  # --model was trained per speaker; this run is not
        log(f"speaker normalisation: off in this run (--model was trained with --speaker-norm "
            f"{core.config.speaker_normalization['column']}; pass it again to keep it)")
        core.config.speaker_normalization = None
    log(f"crops: {policy.describe()}")
    stats = egemaps_statistics(data.train) if args.local_features == "egemaps" else None
    collator = Collator(data.train, RowTable(data.train, args, data.thresholds, stats), processor, policy, args,
                        cache=train_cache, local_processor=feature_cache.own_input_processor(extractor, processor))
    # Workers are not persistent: each epoch's workers get a fresh copy of the collator,
    # which knows the epoch (captions and crops are drawn from it). They ignore SIGINT/SIGTERM.
    loader = torch.utils.data.DataLoader(IndexDataset(len(data.train)), batch_size=args.batch_size,
                                         sampler=EpochSampler(len(data.train), args.seed), collate_fn=collator,
                                         drop_last=True, num_workers=args.num_workers,
                                         worker_init_fn=ignore_stop_signals if args.num_workers else None,
                                         pin_memory=accelerator.device.type == "cuda")
    # fused Adam: one pass per tensor (3x faster than the default on CPU, where it is not
    # the default); the text tower's embedding table alone is 12-23M parameters
    fused = accelerator.device.type in ("cpu", "cuda")
    optimizer = torch.optim.Adam(parameter_groups(model, args), weight_decay=args.weight_decay, fused=fused or None)
    warmup = args.warmup_steps
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(1.0, (s + 1) / warmup) if warmup else 1.0)
    model, optimizer, loader = accelerator.prepare(model, optimizer, loader)
    accelerator.register_for_checkpointing(scheduler)  # stepped once per optimizer step, by the loop
    # checkpoints keep the trainable weights only, and resume checks the frozen ones' fingerprint (hashed once here)
    frozen = ckpt.install(accelerator, model, args.model or f"{args.audio_encoder} + {args.text_encoder}")
    steps_per_epoch, total_steps = num_update_steps(args, len(loader))
    references = validation_references(data) if data.validation is not None else None
    return Run(args, accelerator, data, model, core, processor, optimizer, scheduler, loader, collator, extractor,
               policy, val_cache, steps_per_epoch, total_steps,
               epochs_needed(total_steps, steps_per_epoch), references, resume_path, frozen=frozen)


def check_speaker_norm(args, data, use_cache: bool) -> None:
    """--speaker-norm COLUMN needs the feature cache and the column in every split it reads."""
    if not use_cache:
        raise TrainingConfigError(f"--speaker-norm {args.speaker_norm} works on the feature cache: the audio encoder "
                                  "must be frozen and the cache on (drop --no-feature-cache / --train-audio-encoder / "
                                  "LoRA on the audio encoder, or drop --speaker-norm).")
    for name, split in (("train", data.train), ("validation", data.validation)):
        if split is not None and args.speaker_norm not in split.column_names:
            raise TrainingConfigError(f"--speaker-norm {args.speaker_norm}: the {name} split has no such column "
                                      f"(its columns: {', '.join(split.column_names)}).")


def speaker_normalization(args, core, data, train_cache, val_cache, log) -> None:
    """Each speaker's cached pooled audio standardised on its own clips
    (smoothclap.evaluation.speakers), the training split's statistics the reference, stored in
    the model's config for export and evaluation."""
    from smoothclap.evaluation import speakers

    reference = speakers.normalize_cache(train_cache, data.train[args.speaker_norm], log=log)
    if val_cache is not None:
        speakers.normalize_cache(val_cache, data.validation[args.speaker_norm], reference, log=log)
    core.config.speaker_normalization = {"column": args.speaker_norm, "min_clips": speakers.MIN_CLIPS, **reference}


# --------------------------------------------------------------------------- main
def main(argv=None, prog: str | None = None) -> dict:
    """Train, select on validation UAR, export. Returns the run's results (see `finish`).
    ``prog``: how --help and errors name the command (default: how it was started)."""
    from smoothclap.evaluation.progress import library_progress_bars

    args = parse_args(argv, prog)
    validate_args(args)
    with library_progress_bars(not args.no_progress_bar):  # transformers' and datasets' bars too
        return train(args)


def make_log(accelerator):
    """``accelerator.print`` (once per node) through tqdm.write: above the progress bar, never glued to it."""
    from tqdm.auto import tqdm

    def log(message) -> None:
        if accelerator.is_local_main_process:
            tqdm.write(str(message))

    return log


def train(args) -> dict:
    """``main`` after the options are parsed and checked."""
    accelerator = make_accelerator(args)
    log = make_log(accelerator)
    run = setup(args, accelerator, log)
    state, last_checkpoint = ckpt.TrainerState(settings=ckpt.run_settings(args)), None
    if run.resume_path:
        accelerator.load_state(run.resume_path)
        state, last_checkpoint = ckpt.read_state(run.resume_path), run.resume_path
        state.settings = ckpt.run_settings(args)  # allowed changes: later checkpoints hold the new values
        log(f"resumed from {run.resume_path}: step {state.global_step}, epoch {state.epoch}, "
            f"{state.batches_done} batches into it")
    elif accelerator.is_main_process:
        import shutil

        shutil.rmtree(ckpt.best_dir(args.output_dir), ignore_errors=True)  # a stale best of another run
    config = run_config(args)
    config.update(num_processes=accelerator.num_processes, global_batch_size=args.global_batch_size,
                  mixed_precision=str(accelerator.mixed_precision))
    accelerator.init_trackers(args.project_name, config={k: v for k, v in config.items() if v is not None})
    log(f"{accelerator.num_processes} process(es) x batch {args.batch_size} = global {args.global_batch_size} "
        f"(the batch the loss and the soft targets see); mixed precision: {accelerator.mixed_precision}; "
        f"{args.num_workers} DataLoader worker(s) per process")
    warn_if_fewer_processes(accelerator, log)
    dropped = len(run.data.train) % args.global_batch_size
    if dropped:  # drop_last: every global batch is full, so that the soft targets see a whole batch
        log(f"each epoch leaves out {dropped} of {len(run.data.train)} clips (the last, incomplete global batch; "
            "drop_last)")
    log(f"training: {len(run.data.train)} clips, {run.steps_per_epoch} optimizer steps/epoch "
        f"(gradient accumulation {args.gradient_accumulation_steps}), {run.total_steps} steps, "
        f"beta={run.core.config.beta} gamma={run.core.config.gamma}")
    started = time.time()
    interrupted, last_checkpoint, timing = train_loop(run, state, last_checkpoint, log)
    results = {"interrupted": interrupted.name if interrupted else None, "global_step": state.global_step, "checkpoint": last_checkpoint,
               "mixed_precision": str(accelerator.mixed_precision), "timing": timing}
    if not interrupted:
        results.update(finish(run, state, config, log, timing))
    results["seconds"] = round(time.time() - started, 2)
    accelerator.end_training()
    if results.get("push_error"):
        raise PushError(results["push_error"])
    return results


def warn_if_fewer_processes(accelerator, log) -> None:
    """Say so when the launcher meant more processes than this run has: accelerate's
    MULTI_CPU without an MPI hostfile starts ONE process (it still sets MASTER_ADDR), and
    MULTI_GPU with use_cpu starts unconnected ones (each sees WORLD_SIZE > 1 but a world of 1)."""
    world = int(os.environ.get("WORLD_SIZE", "0") or 0)
    if world > accelerator.num_processes:
        log(f"WARNING: the launcher started {world} processes (WORLD_SIZE) but this one is in a group of "
            f"{accelerator.num_processes}: they train unconnected copies. On CPU launch with "
            "`ACCELERATE_USE_CPU=true accelerate launch --multi_gpu --num_processes N ...`.")
    elif accelerator.num_processes == 1 and world == 0 and "MASTER_ADDR" in os.environ:
        log("WARNING: the launcher prepared a multi-process run (MASTER_ADDR is set) but started ONE process: "
            "accelerate's MULTI_CPU without an MPI hostfile (and `--cpu --num_processes N`) runs one. For N "
            "connected CPU processes: `ACCELERATE_USE_CPU=true accelerate launch --multi_gpu --num_processes N ...`.")


def train_step(run: Run, batch, state, last_checkpoint=None) -> torch.Tensor:
    """One forward/backward on ``batch`` (an optimizer step when accumulation is complete)."""
    accelerator, model = run.accelerator, run.model
    with accelerator.accumulate(model):
        step_seed(run.args, accelerator, state.epoch, state.batches_done)
        loss = compute_loss(accelerator, model, batch, run.extractor)
        check_finite(accelerator, loss, batch, state, last_checkpoint)
        accelerator.backward(loss)
        if accelerator.sync_gradients and run.args.max_grad_norm > 0:
            accelerator.clip_grad_norm_(model.parameters(), run.args.max_grad_norm)
        run.optimizer.step()
        run.optimizer.zero_grad()
    return loss


class Timing:
    """Where a process's training time goes: waiting for the next batch vs the step itself."""

    def __init__(self):
        self.wait = self.step = 0.0
        self.batches = self.samples = 0
        self._ready = None

    def batch_arrived(self) -> None:
        now = time.perf_counter()
        if self._ready is not None:
            self.wait += now - self._ready
        self._arrived = now

    def step_done(self, samples: int) -> None:
        self._ready = time.perf_counter()
        self.step += self._ready - self._arrived
        self.batches += 1
        self.samples += samples

    def pause(self) -> None:  # validation, checkpoints: neither waiting nor training
        self._ready = None

    def summary(self, device) -> dict:
        total = self.wait + self.step
        out = {"dataloader_wait_share": round(self.wait / total, 4) if total else None,
               "seconds_waiting_for_data": round(self.wait, 3), "seconds_in_steps": round(self.step, 3),
               "samples_per_second": round(self.samples / total, 2) if total else None}
        if device.type == "cuda":
            out["peak_memory_bytes"] = int(torch.cuda.max_memory_allocated(device))
        else:
            import resource

            out["peak_rss_bytes"] = int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024
        return out


def train_loop(run: Run, state, last_checkpoint, log):
    """Epochs of optimizer steps from ``state`` on; returns (interrupted signal or None, last
    checkpoint, timing). A stop request (SIGINT/SIGTERM on any process) is agreed by all
    processes at the next optimizer-step boundary, so every rank saves the same step."""
    from tqdm.auto import tqdm

    args, accelerator, model = run.args, run.accelerator, run.model
    bar = tqdm(total=run.total_steps, initial=state.global_step, desc="train",
               disable=args.no_progress_bar or not accelerator.is_local_main_process)
    window = {"loss": 0.0, "n": 0, "t": time.time(), "samples": 0}
    timing = Timing()
    interrupted = None

    def save():
        timing.pause()
        return ckpt.save_checkpoint(accelerator, args.output_dir, state, args.keep_checkpoints)

    def stop_here(where):
        nonlocal interrupted, last_checkpoint
        last_checkpoint = save()
        interrupted = signal.Signals(stop.signal or signal.SIGTERM)  # signalled elsewhere: the same stop
        bar.clear()
        log(f"interrupted ({interrupted.name}, {where}): checkpoint saved to {last_checkpoint}; "
            "continue with --resume-from-checkpoint latest")

    with StopFlag() as stop:
        while state.global_step < run.total_steps and state.epoch < run.num_epochs:
            epoch = state.epoch
            run.collator.epoch = epoch
            run.loader.set_epoch(epoch)
            loader = accelerator.skip_first_batches(run.loader, state.batches_done) if state.batches_done else run.loader
            model.train()
            timing.pause()
            for batch in loader:
                timing.batch_arrived()
                loss = train_step(run, batch, state, last_checkpoint)
                state.batches_done += 1
                loss_value = loss.item()
                state.epoch_loss_sum += loss_value
                window["loss"] += loss_value
                window["n"] += 1
                window["samples"] += len(batch["ids"]) * accelerator.num_processes
                timing.step_done(len(batch["ids"]) * accelerator.num_processes)
                if not accelerator.sync_gradients:
                    continue
                run.scheduler.step()
                clamp_logit_scale(model)
                state.global_step += 1
                bar.update(1)
                bar.set_postfix(loss=f"{loss_value:.4f}", epoch=epoch)
                if state.global_step % args.log_every == 0 or state.global_step == run.total_steps:
                    log_window(accelerator, run.core, run.scheduler, state, window)
                done = state.global_step >= run.total_steps
                if stop.agreed(accelerator):  # one small all-reduce per optimizer step
                    stop_here(f"step {state.global_step}")
                    break
                if args.checkpoint_every and state.global_step % args.checkpoint_every == 0 and not done:
                    last_checkpoint = save()
                if done:
                    break
            if interrupted:
                break
            timing.pause()
            end_epoch(run, state, log)
            last_checkpoint = save()
            more = state.global_step < run.total_steps and state.epoch < run.num_epochs
            if more and stop.agreed(accelerator):  # asked during validation or the save
                interrupted = signal.Signals(stop.signal or signal.SIGTERM)
                log(f"interrupted ({interrupted.name}, end of epoch {state.epoch - 1}): checkpoint "
                    f"saved to {last_checkpoint}; continue with --resume-from-checkpoint latest")
                break
    bar.close()
    return interrupted, last_checkpoint, timing.summary(accelerator.device)


def log_window(accelerator, core, scheduler, state, window) -> None:
    elapsed = max(time.time() - window["t"], 1e-9)
    values = {"train/loss": window["loss"] / max(window["n"], 1), "train/logit_scale": current_scale(core),
              "train/samples_per_second": window["samples"] / elapsed, "train/epoch": state.epoch}
    for i, lr in enumerate(scheduler.get_last_lr()):
        values[f"train/lr_{scheduler.optimizer.param_groups[i].get('name', i)}"] = lr
    accelerator.log(values, step=state.global_step)
    window.update(loss=0.0, n=0, t=time.time(), samples=0)


def end_epoch(run: Run, state, log) -> None:
    """Validation UAR, best-model bookkeeping, history; then the epoch counter moves on."""
    args, accelerator = run.args, run.accelerator
    entry = {"epoch": state.epoch, "step": state.global_step,
             "train_loss": state.epoch_loss_sum / max(state.batches_done, 1), "validation_uar": None}
    if run.data.validation is not None:
        from smoothclap.training.zeroshot import validation_uar

        core = accelerator.unwrap_model(run.model)
        value = validation_uar(accelerator, core, run.processor, run.data, run.references, args.batch_size,
                               run.val_cache)
        entry["validation_uar"] = value
        accelerator.log({"validation/uar": value}, step=state.global_step)
        if state.best_uar is None or value > state.best_uar:
            state.best_uar, state.best_epoch = value, state.epoch
            ckpt.save_best(accelerator, run.model, args.output_dir,
                           {"epoch": state.epoch, "step": state.global_step, "validation_uar": value}, run.frozen)
        log(f"epoch {state.epoch}: validation UAR {value:.4f} (best {state.best_uar:.4f}, epoch {state.best_epoch})")
    log(f"epoch {state.epoch}: mean train loss {entry['train_loss']:.4f}")
    state.history.append(entry)
    state.epoch += 1
    state.batches_done, state.epoch_loss_sum = 0, 0.0


def finish(run: Run, state, config, log, timing=None) -> dict:
    """Load the best epoch (by validation UAR), export the Hub-ready folder, push if asked."""
    from smoothclap.training import export

    args, accelerator, data = run.args, run.accelerator, run.data
    core = accelerator.unwrap_model(run.model)
    best = ckpt.load_best(core, args.output_dir, run.frozen) if data.validation is not None else None
    uar, best_epoch = (best["validation_uar"], best["epoch"]) if best else (None, None)
    if best is None and data.validation is not None:  # e.g. resumed from a checkpoint copied without best/
        last = state.history[-1] if state.history else {}
        uar, best_epoch = last.get("validation_uar"), None
        log(f"warning: no best/ in {args.output_dir}: the LAST epoch ({last.get('epoch')}) is exported, not a "
            "validation-selected one (a checkpoint copied from another run has no best/).")
    results = {"validation_uar": uar, "best_epoch": best_epoch,
               "selected": None if data.validation is None else best is not None,
               "exported_epoch": best_epoch if best else max(state.epoch - 1, 0), "history": state.history,
               "epochs_trained": state.epoch, "num_processes": accelerator.num_processes,
               "global_batch_size": args.global_batch_size, "query_texts": data.query_texts,
               "labels": data.labels, "mixed_precision": str(accelerator.mixed_precision), "timing": timing,
               "corpus": data.meta.get("corpus")}
    results["query_template"] = core.config.query_template = query_template(args, data)
    model_dir = os.path.join(args.output_dir, "model")
    if accelerator.is_main_process:
        base = args.model or f"{args.audio_encoder} + {args.text_encoder}"
        adapters = os.path.join(args.output_dir, "adapter") if args.export_adapters else None
        export.export_model(core, run.processor, model_dir, config, dict(results, global_step=state.global_step),
                            base, adapters_dir=adapters)
        from smoothclap.evaluation.leakage import training_record, write_record

        used = {data.train_split: data.train, **({data.validation_split: data.validation} if data.validation else {})}
        write_record(model_dir, training_record(data.meta, export.public_name(args.dataset), used))
        log(f"exported {'the best epoch (' + str(best['epoch']) + ')' if best else 'the last epoch'} to {model_dir}")
        if args.push_to_hub:
            try:
                export.push_to_hub(model_dir, args.push_to_hub, args.hub_private, log)
            except export.PushError as err:
                results["push_error"] = str(err)  # raised by main() once the run is closed
    accelerator.wait_for_everyone()
    results["model_dir"] = model_dir
    return results


def cli(argv=None, prog: str | None = None) -> int:
    """Console script (`smoothclap-train`, `smoothclap train`): the exit status. 0 done, 1 a
    failed run, 2 bad options (one ``error:`` line), 128 + signal when stopped."""
    try:
        results = main(argv, prog)
    except (TrainingConfigError, NonFiniteLossError, PushError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2 if isinstance(err, TrainingConfigError) else 1
    # interrupted: 128 + the signal, as a shell reports it (130 Ctrl-C, 143 SIGTERM); a
    # scheduler script can requeue on 143 and resume with --resume-from-checkpoint latest
    return 128 + int(signal.Signals[results["interrupted"]]) if results.get("interrupted") else 0


if __name__ == "__main__":
    sys.exit(cli())

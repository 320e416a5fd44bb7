"""`classify_corpus`: zero-shot labels for a whole corpus, streamed, resumable, sharded.

    summary = classify_corpus(["corpus/"], ["angry", "happy", "sad", "neutral"], "path/to/model",
                              output="labels.parquet", batch_size=8, num_workers=2)

Order of work: every option and input is checked first (InputError, a ValueError, before the
model is loaded); the labels are embedded once; each process (rank) takes every world-th
clip of the deterministic input list, skips the clips its output's part files already hold,
and streams the rest through DataLoader workers (stream.py) into its own part file
(parts.py); after a barrier the main process merges the parts into the output
(outputs.py). Without ``output`` the rows stay in memory and come back in the summary
(the terminal tables of ``smoothclap classify clip.wav ...``).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

import torch

from smoothclap.inference import outputs, parts
from smoothclap.inference.inputs import InputError, resolve_inputs, shard
from smoothclap.inference.stream import ClipStream, loader


class Stopped(Exception):
    """The run was stopped by a signal after flushing what it had; resume with the same command."""

    def __init__(self, signum: int):
        super().__init__(f"stopped by signal {signum}")
        self.signum = signum


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _templates(model, user_templates):
    """(templates, where they came from): --template, else the model's own query_template,
    else (older folders) the stock pipeline's default (pipeline_smoothclap.resolve_templates)."""
    from smoothclap.models.pipeline_smoothclap import resolve_templates

    return resolve_templates(model.config, user_templates)


def _distributed(device):
    """(rank, world, device, barrier). Under ``accelerate launch``/torchrun (WORLD_SIZE > 1)
    accelerate's state joins the process group and picks this rank's device."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1:
        from accelerate import PartialState
        from accelerate.utils import parse_flag_from_env

        # without cpu=True, PartialState on a machine without GPUs leaves the ranks unconnected
        cpu = parse_flag_from_env("ACCELERATE_USE_CPU") or not torch.cuda.is_available() or str(device) == "cpu"
        state = PartialState(cpu=cpu)
        if state.num_processes != world:  # unconnected processes would each classify (and merge) everything
            raise InputError(f"WORLD_SIZE is {world} but accelerate joined {state.num_processes} process(es): on "
                             "CPUs launch with ACCELERATE_USE_CPU=true accelerate launch --multi_gpu ...")
        return state.process_index, state.num_processes, state.device, state.wait_for_everyone
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    return 0, 1, torch.device(device), lambda: None


def check_options(labels, templates, multi_label, window, hop, top, batch_size, num_workers, dtype, output,
                  embeddings):
    """Normalised (labels, dtype); InputError naming the option and the fix."""
    from smoothclap.models.pipeline_smoothclap import check_audio_dtype, check_labels, check_templates

    try:
        labels = check_labels(labels)
        if templates:
            check_templates(templates)
        dtype = check_audio_dtype(dtype)
    except ValueError as err:
        raise InputError(str(err)) from None
    for name, value in (("--top", top), ("--batch-size", batch_size)):
        if value is not None and value < 1:
            raise InputError(f"{name} must be >= 1, got {value}.")
    if num_workers is not None and num_workers < 0:
        raise InputError(f"--num-workers must be >= 0, got {num_workers}.")
    if window is not None and window <= 0:
        raise InputError(f"--window must be > 0 seconds, got {window}.")
    if hop is not None and (window is None or not 0 < hop <= window):
        raise InputError(f"--hop {hop} needs --window and 0 < hop <= window (a longer hop would skip audio).")
    if output is not None:
        outputs.output_format(output)
        from smoothclap.data.outdir import check_output_location

        check_output_location(output, "--output", "file", InputError)  # a folder, under a file, /proc: now
    elif embeddings:
        raise InputError("--embeddings needs --output FILE (.parquet: an embedding column; .jsonl/.csv: a .npy "
                         "beside it).")
    return labels, dtype


def _load(model, device, dtype, backend):
    """smoothclap.evaluation.predict.load_model; says which audio path --dtype/--backend chose and why."""
    from smoothclap.evaluation.predict import load_model

    try:
        loaded, processor = load_model(model, device, dtype, backend=backend)
    except ValueError as err:  # no onnxruntime, no export, a CPU fast path on a GPU: one line
        raise InputError(str(err)) from None
    _log(f"audio encoder: {loaded.audio_backend} {loaded._cpu_fast_path} ({loaded.audio_backend_reason})")
    trained = getattr(loaded.config, "speaker_normalization", None)
    if trained:  # classify scores each clip alone: say what that means for such a model
        _log(f"note: the model was trained with speaker normalisation (--speaker-norm {trained['column']}); classify "
             "scores each clip alone, as the average speaker (`smoothclap evaluate` scores a labelled dataset per "
             "speaker)")
    return loaded, processor


def _label_embeddings(model, processor, labels, templates, multi_label):
    from smoothclap.models.pipeline_smoothclap import DEFAULT_NEGATION, text_embeddings

    texts = list(labels) + ([DEFAULT_NEGATION.format(x) for x in labels] if multi_label else [])
    return text_embeddings(model, processor, texts, templates)


class _Scorer:
    """Audio embeddings of a batch's segments, pooled or kept per window, scored against the
    label embeddings; a clip's record is complete when all of its windows are in."""

    def __init__(self, model, processor, label_embeds, multi_label, pool, keep_embeddings, items):
        from smoothclap.models.pipeline_smoothclap import logit_multiplier

        self.model, self.processor, self.label_embeds = model, processor, label_embeds
        self.multi_label, self.pool, self.keep, self.items = multi_label, pool, keep_embeddings, items
        self.scale = logit_multiplier(model)
        self.open: dict = {}  # item index -> {"dur", "n", "w": [(start, end, emb)]}

    def _embed(self, waves):
        from smoothclap.models.pipeline_smoothclap import audio_embeddings

        try:
            return audio_embeddings(self.model, self.processor, waves, batch_size=len(waves)).cpu(), [None] * len(waves)
        except Exception:  # one bad clip must not sink its neighbours: retry one by one
            out, errors = [], []
            for wave in waves:
                try:
                    out.append(audio_embeddings(self.model, self.processor, [wave])[0].cpu())
                    errors.append(None)
                except Exception as err:
                    out.append(None)
                    errors.append(f"{type(err).__name__}: {err}")
            return out, errors

    def records(self, batch) -> list:
        done = [{"i": i, "key": self.items[i].key, "error": reason} for i, reason in batch.errors]
        if not batch.waves:
            return done
        embeds, errors = self._embed(batch.waves)
        for (i, start, end, n, dur), emb, err in zip(batch.segments, embeds, errors):
            clip = self.open.setdefault(i, {"dur": dur, "n": n, "w": [], "error": None})
            clip["error"] = clip["error"] or err
            clip["w"].append((start, end, emb))
            if len(clip["w"]) == n:
                done.append(self._finish(i, self.open.pop(i)))
        return done

    def _finish(self, i, clip) -> dict:
        from smoothclap.models.pipeline_smoothclap import scores_from_logits

        if clip["error"]:
            return {"i": i, "key": self.items[i].key, "error": clip["error"]}
        windows = sorted(clip["w"], key=lambda w: w[0])
        embeds = torch.stack([w[2] for w in windows]).float()
        if self.pool:  # one row per clip: the mean of its windows' embeddings (audio_embeddings' recipe)
            embeds = torch.nn.functional.normalize(embeds.mean(dim=0, keepdim=True), dim=-1)
            windows = [(0.0, clip["dur"], None)]
        scores = scores_from_logits(self.scale * embeds @ self.label_embeds.T.cpu(), self.multi_label)
        n_labels = self.label_embeds.shape[0] // (2 if self.multi_label else 1)
        w = [[s, e, [float(x) for x in row[:n_labels]], outputs.encode_embedding(emb) if self.keep else None]
             for (s, e, _), row, emb in zip(windows, scores.tolist(), embeds)]
        return {"i": i, "key": self.items[i].key, "dur": clip["dur"], "w": w}


class _Signals:
    """SIGTERM/SIGINT set a flag; the loop stops after the batch it is on, with it on disk."""

    def __init__(self, enabled: bool):
        self.signum, self.old = None, {}
        if enabled:
            for sig in (signal.SIGTERM, signal.SIGINT):
                self.old[sig] = signal.signal(sig, self._set)

    def _set(self, signum, _frame):
        self.signum = signum

    def restore(self):
        for sig, handler in self.old.items():
            signal.signal(sig, handler)


def _manifest(input_set, labels, templates, model, dtype, backend, window, hop, pool, multi_label, embeddings):
    source = os.path.abspath(model) if os.path.exists(model) else model
    return {"version": 1, "inputs": input_set.fingerprint(), "clips": len(input_set.items), "labels": labels,
            "templates": list(templates or []), "model": source, "dtype": dtype, "backend": backend or "auto",
            "window": window, "hop": hop, "pool_windows": pool, "multi_label": multi_label, "embeddings": embeddings}


def _warm_decoders() -> None:
    """Import what decoding and resampling need (seconds for scipy.signal on a busy machine),
    so that the first batch does not wait for a worker's imports."""
    try:
        import scipy.signal  # noqa: F401
        import soundfile  # noqa: F401
    except ImportError:
        pass  # decoding reports the missing package per clip


def _default_workers(n_pending: int) -> int:
    """Decoding workers: none for a handful of clips (starting one costs more than it saves),
    else half the cores, 1 to 4 (the encoder keeps the rest)."""
    if n_pending <= 8:
        return 0
    return min(4, max(1, (os.cpu_count() or 2) // 2))


def classify_corpus(inputs=(), labels=(), model=None, output=None, *, file_list=None, dataset=None,
                    split: str = "all", templates=None, multi_label: bool = False, window: float | None = None,
                    hop: float | None = None, pool_windows: bool = False, top: int | None = None,
                    embeddings: bool = False, batch_size: int | None = None, num_workers: int | None = None,
                    dtype: str = "float32", backend: str = "auto", device=None, progress: bool = True,
                    overwrite: bool = False, handle_signals: bool = False, chunk_clips: int | None = None) -> dict:
    """Classify every clip of ``inputs`` (files, folders, globs), ``file_list`` or ``dataset``
    (a saved dataset folder, ``split``: "all" or names) against ``labels``; see the module
    docstring and ``smoothclap classify --help`` for the options.

    Returns {"clips", "failed", "rows", "output", "errors_file", "template", "seconds",
    "rank", "world"}; without ``output`` also "results" ({name: [{label, score}] best first})
    and "errors" ({name: reason}). Raises InputError (a ValueError) for bad input before any
    work, and ``Stopped`` when ``handle_signals`` is on and SIGTERM/SIGINT stopped the run
    (what was done is on disk; the same call resumes it).
    """
    from smoothclap.evaluation.progress import library_progress_bars

    with library_progress_bars(progress):  # transformers' "Loading weights" and datasets' bars too
        return _classify(inputs, labels, model, output, file_list=file_list, dataset=dataset, split=split,
                         templates=templates, multi_label=multi_label, window=window, hop=hop,
                         pool_windows=pool_windows, top=top, embeddings=embeddings, batch_size=batch_size,
                         num_workers=num_workers, dtype=dtype, backend=backend, device=device, progress=progress,
                         overwrite=overwrite, handle_signals=handle_signals, chunk_clips=chunk_clips)


def _classify(inputs, labels, model, output, *, file_list, dataset, split, templates, multi_label, window, hop,
              pool_windows, top, embeddings, batch_size, num_workers, dtype, backend, device, progress, overwrite,
              handle_signals, chunk_clips) -> dict:
    started = time.time()
    labels, dtype = check_options(labels, templates, multi_label, window, hop, top, batch_size, num_workers, dtype,
                                  output, embeddings)
    input_set = resolve_inputs(inputs, file_list, dataset, split)
    from smoothclap.evaluation.predict import check_model_source

    if model is None:
        raise InputError("no --model: give a SmoothCLAP folder (save_pretrained) or a Hub repo id.")
    try:
        check_model_source(model)
    except ValueError as err:
        raise InputError(str(err)) from None
    rank, world, device, barrier = _distributed(device)
    if world > 1 and output is None:
        raise InputError(f"{world} processes need --output FILE (each writes its part, the main process merges "
                         "them); the terminal tables are for one process.")
    main = rank == 0
    for note in input_set.notes if main else []:
        _log(f"note: {note}")
    pool = pool_windows or window is None
    if output is not None:
        manifest = _manifest(input_set, labels, templates, model, dtype, backend, window, hop, pool, multi_label,
                             embeddings)
        parts.prepare(output, manifest, main, overwrite)
        barrier()  # the state folder exists (or was cleared) before any rank reads or writes it
    warm = threading.Thread(target=_warm_decoders, daemon=True)
    warm.start()  # the decoders' imports overlap the model load (forked workers inherit them)
    try:
        loaded, processor = _load(model, device, dtype, backend)
    except InputError:
        raise
    except (ValueError, OSError) as err:
        raise InputError(str(err).splitlines()[0]) from None
    finally:
        warm.join()  # never fork DataLoader workers while another thread may hold the import lock
    used, described = _templates(loaded, templates)
    if main:
        _log(f"template: {' | '.join(used)} ({described})")
    label_embeds = _label_embeddings(loaded, processor, labels, used, multi_label)

    indexed = list(enumerate(input_set.items))
    mine = shard(indexed, rank, world)
    done = parts.done_keys(output) if output is not None else set()
    pending = [(i, item) for i, item in mine if item.key not in done]
    if main and len(pending) < len(mine):
        _log(f"resuming: {len(mine) - len(pending)} of {len(mine)} clips of this process already done")
    batch_size = batch_size or (16 if device.type == "cuda" else 1)
    workers = _default_workers(len(pending)) if num_workers is None else num_workers
    stats = _run(loaded, processor, label_embeds, input_set, pending, output, rank, batch_size, workers,
                 window, hop, pool, multi_label, embeddings, progress and main, len(mine), handle_signals,
                 chunk_clips)
    summary = {"clips": len(input_set.items), "template": used, "rank": rank, "world": world,
               "output": None if output is None else str(output), "errors_file": None}
    if output is None:
        results, errors = outputs.terminal_results(stats["records"], input_set.kind, labels, not pool)
        if top:
            results = {name: ranked[:top] for name, ranked in results.items()}
        summary.update(results=results, errors=errors, failed=len(errors), rows=len(results))
    else:
        barrier()  # every rank's part is complete before the merge reads them
        summary.update(failed=stats["failed"], rows=None)
        if main:
            merged = outputs.merge_parts(output, input_set.items, input_set.kind, labels, top, not pool, embeddings)
            parts.remove(output)
            summary.update(merged, errors_file=str(parts.errors_path(output)) if merged["failed"] else None)
        summary["failed"] = _from_main(summary["failed"], world)  # every rank exits with the run's status
    summary["seconds"] = round(time.time() - started, 3)
    return summary


def _from_main(value, world: int):
    """The main process's ``value`` on every rank (also the barrier after the merge)."""
    if world == 1:
        return value
    from accelerate.utils import broadcast_object_list

    return broadcast_object_list([value], from_process=0)[0]


def _run(model, processor, label_embeds, input_set, pending, output, rank, batch_size, workers, window, hop, pool,
         multi_label, embeddings, show, total, handle_signals, chunk_clips) -> dict:
    """Stream this rank's pending clips into its part file (or memory); {"records", "failed"}."""
    from tqdm.auto import tqdm

    from smoothclap.models.pipeline_smoothclap import min_audio_samples

    rate = int(processor.feature_extractor.sampling_rate)
    stream = ClipStream(pending, input_set.dataset, rate, min_audio_samples(model), batch_size, window, hop,
                        chunk_clips=chunk_clips or max(64, 16 * batch_size))
    scorer = _Scorer(model, processor, label_embeds.cpu(), multi_label, pool, embeddings, input_set.items)
    writer = parts.PartWriter(output, rank) if output is not None else None
    signals = _Signals(handle_signals)
    records, failed = [], 0
    bar = tqdm(total=total, initial=total - len(pending), unit="clip", disable=not show, dynamic_ncols=True,
               smoothing=0.1)
    try:
        with torch.inference_mode():
            for batch in loader(stream, workers):
                done = scorer.records(batch)
                failed += sum("error" in r for r in done)
                if writer is not None:
                    writer.write(done)  # with the OS before the next batch (parts.PartWriter)
                else:
                    records += done
                bar.update(len(done))
                if signals.signum is not None:
                    break
    finally:
        bar.close()
        signals.restore()
        if writer is not None:
            writer.close()
    if signals.signum is not None:
        raise Stopped(signals.signum)
    return {"records": records, "failed": failed}

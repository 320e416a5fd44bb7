"""Zero-shot predictions: label embeddings, every row of a dataset scored (sharded over
accelerate processes), the model loaded with clear errors, and one dataset end to end."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from smoothclap.models.pipeline_smoothclap import audio_embeddings, logit_multiplier, text_embeddings, to_cpu_fast_path
from smoothclap.evaluation import PAPER_TABLE1, EvaluationError
from smoothclap.evaluation.metrics import zero_shot_report

HF_FILES = ("audio_smoothclap.py", "configuration_smoothclap.py", "modeling_smoothclap.py", "processing_smoothclap.py")


def label_embeddings(model, processor, texts, templates=None, batch_size: int = 64) -> torch.Tensor:
    """(n_labels, d) L2-normalised label embeddings (a template ensemble when several)."""
    return text_embeddings(model, processor, texts, templates, batch_size=batch_size)


@dataclass
class ZeroShotPredictions:
    predictions: np.ndarray  # (n,) label index, -1 where the clip failed
    logits: np.ndarray  # (n, n_labels) float32, NaN rows where the clip failed
    failures: list = field(default_factory=list)  # [{"index", "id", "error"}]

    @property
    def scored(self) -> np.ndarray:
        return self.predictions >= 0


class _Clips(torch.utils.data.Dataset):
    """Rows in a fixed order, decoded to 16 kHz mono; a clip that fails is returned with
    its error instead of stopping the run."""

    def __init__(self, dataset, order, audio_column, rate):
        self.dataset, self.order, self.audio_column, self.rate = dataset, order, audio_column, rate

    def __len__(self):
        return len(self.order)

    def __getitem__(self, i):
        from smoothclap.models.audio_smoothclap import load_audio

        index = int(self.order[i])
        try:
            return index, load_audio(self.dataset[index][self.audio_column], None, self.rate), None
        except Exception as err:  # any decoding problem: report the clip, go on
            return index, None, f"{type(err).__name__}: {err}"


def _collate(items):
    return [item[0] for item in items], [item[1] for item in items], [item[2] for item in items]


def _length_order(dataset) -> list[int]:
    """Longest first (little padding per batch, and any out-of-memory shows at once); the
    stored `duration` column when there is one, else dataset order."""
    columns = getattr(dataset, "column_names", None) or []
    if "duration" not in columns:
        return list(range(len(dataset)))
    durations = np.asarray(dataset["duration"], dtype=np.float64)
    return sorted(range(len(durations)), key=lambda i: (-durations[i], i))


def _row_ids(dataset, id_column):
    columns = getattr(dataset, "column_names", None)
    if columns is not None:
        return list(dataset[id_column]) if id_column in columns else [str(i) for i in range(len(dataset))]
    return [str(row.get(id_column, i)) for i, row in enumerate(dataset)]


def _each_clip_on_failure(ok, run, errors) -> None:
    """``run(ok)`` at once; if that fails, clip by clip, so one bad clip cannot sink its
    neighbours (its error is recorded in ``errors``)."""
    try:
        if ok:
            run(ok)
    except Exception:
        for i in ok:
            try:
                run([i])
            except Exception as err:
                errors[i] = f"{type(err).__name__}: {err}"


def _batch_logits(model, processor, waves, label_embeds, window, hop, batch_size):
    """(B, L) logits for decoded clips (None = failed: NaN row), and each clip's error."""
    out = torch.full((len(waves), label_embeds.shape[0]), float("nan"))
    errors = [None] * len(waves)
    scale = logit_multiplier(model)

    def run(indices):
        emb = audio_embeddings(model, processor, [waves[i] for i in indices], window, hop, batch_size)
        out[indices] = (scale * emb @ label_embeds.T).float().cpu()

    _each_clip_on_failure([i for i, w in enumerate(waves) if w is not None], run, errors)
    return out, errors


def _batch_pooled(model, processor, waves, rate):
    """(B, hidden) pooled audio-encoder outputs of decoded clips (NaN rows where they failed)."""
    device = next(model.parameters()).device
    out = torch.full((len(waves), model.config.audio_config.hidden_size), float("nan"))
    errors = [None] * len(waves)

    def run(indices):  # pooled over valid frames only: padding does not change a clip's row
        enc = processor(audio=[waves[i] for i in indices], sampling_rate=rate, return_tensors="pt")
        mask = enc.get("audio_attention_mask")
        out[indices] = model.pooled_audio(enc["input_values"].to(device),
                                          None if mask is None else mask.to(device)).float().cpu()

    _each_clip_on_failure([i for i, w in enumerate(waves) if w is not None], run, errors)
    return out, errors


def module_fingerprint(module: torch.nn.Module | None) -> str:
    """sha1 of a module's config and weights (cheap next to one pass over a corpus): the key of
    the trainer's feature cache (smoothclap.training.cache) and of ``pooled_cache`` below."""
    import hashlib

    if module is None:
        return "none"
    h = hashlib.sha1()
    config = getattr(module, "config", None)
    if config is not None:
        h.update(config.to_json_string(use_diff=False).encode())
    for name, tensor in sorted(module.state_dict().items()):
        t = tensor.detach().cpu().contiguous()
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)}".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())  # reshape: 0-dim buffers too
    return h.hexdigest()


def _pooled_key(model, processor, dataset):
    """What a clip's pooled encoder output depends on: the dataset (its fingerprint), the audio
    encoder (config, weights and dtype; its CPU backend) and the feature extractor's settings;
    None when the dataset has no fingerprint (then nothing is cached)."""
    fingerprint = getattr(dataset, "_fingerprint", None)
    if fingerprint is None:
        return None
    return (fingerprint, module_fingerprint(model.audio_model), str(getattr(model, "audio_backend", None)),
            processor.feature_extractor.to_json_string())


def _pooled_rows(model, processor, dataset, batch_size, accelerator, audio_column, progress, desc, cache):
    """((n, hidden) pooled audio-encoder outputs in row order, NaN rows where a clip failed; the
    failures) of every row. ``cache`` (a dict, or None) keeps them for the next call with the same
    audio encoder, feature extractor and dataset: models that share one frozen encoder (the demo's
    two), per speaker and clip by clip, run it once. The matrix returned is a fresh copy."""
    key = _pooled_key(model, processor, dataset) if cache is not None else None
    if key is not None and key in cache:
        indices, pooled, failures = cache[key]
    else:
        rate = int(processor.feature_extractor.sampling_rate)
        indices, pooled, failures = _every_row(model, processor, dataset,
                                               lambda waves: _batch_pooled(model, processor, waves, rate),
                                               batch_size, accelerator, audio_column, progress, desc)
        if key is not None:
            cache[key] = indices, pooled, failures
    full = torch.full((len(dataset), pooled.shape[1]), float("nan"))
    full[indices] = pooled
    return full, failures


def _head_logits(model, pooled, label_embeds):
    """(n, L) logits of pooled encoder outputs (NaN rows stay NaN): the audio head and the labels."""
    device = next(model.parameters()).device
    good = ~torch.isnan(pooled).any(1)
    logits = torch.full((len(pooled), label_embeds.shape[0]), float("nan"))
    was_training = model.training
    model.eval()
    try:
        embeds = model.get_audio_features(pooled_audio_features=pooled[good].float().to(device)).pooler_output
    finally:
        model.train(was_training)
    logits[good] = (logit_multiplier(model) * embeds @ label_embeds.to(device).T).float().cpu()
    return logits


def _every_row(model, processor, dataset, per_batch, batch_size, accelerator, audio_column, progress, desc):
    """(row indices, per_batch's rows, failures) for every row of ``dataset``, each process its
    share (gathered): ``per_batch(waves)`` -> ((B, k) tensor, errors). The model in eval mode."""
    from tqdm.auto import tqdm

    rate = int(processor.feature_extractor.sampling_rate)
    loader = torch.utils.data.DataLoader(_Clips(dataset, _length_order(dataset), audio_column, rate),
                                         batch_size=max(1, int(batch_size)), shuffle=False, collate_fn=_collate)
    if accelerator is not None:
        loader = accelerator.prepare_data_loader(loader)
    main = accelerator is None or accelerator.is_main_process
    was_training = model.training
    model.eval()
    indices, values, failures = [], [], []
    try:
        for rows, waves, errors in tqdm(loader, desc=desc, unit="batch", disable=not (progress and main)):
            batch, model_errors = per_batch(waves)
            failures += [{"index": int(r), "error": e or m} for r, e, m in zip(rows, errors, model_errors) if e or m]
            rows_t = torch.tensor(rows, dtype=torch.long)
            if accelerator is not None:
                rows_t, batch = accelerator.gather_for_metrics((rows_t.to(accelerator.device),
                                                                batch.to(accelerator.device)))
            indices.append(rows_t.cpu())
            values.append(batch.cpu())
    finally:
        model.train(was_training)
    if accelerator is not None and accelerator.num_processes > 1:
        from accelerate.utils import gather_object

        failures = gather_object(failures)
    return torch.cat(indices), torch.cat(values), failures


@torch.no_grad()
def zero_shot_predict(model, processor, dataset, label_embeds, batch_size: int = 1, accelerator=None,
                      window: float | None = None, hop: float | None = None, audio_column: str = "audio",
                      id_column: str = "id", progress: bool = True, desc: str | None = None,
                      pooled_cache: dict | None = None) -> ZeroShotPredictions:
    """Zero-shot predictions for every row of ``dataset`` (see the module docstring). With
    ``pooled_cache`` (a dict) and whole clips (no window), the clips' pooled encoder outputs
    are kept there and reused (see ``_pooled_rows``): the same logits, the encoder run once."""
    if accelerator is not None:
        model = accelerator.unwrap_model(model)
    label_embeds = label_embeds.to(next(model.parameters()).device)
    if pooled_cache is not None and window is None:
        full, failures = _pooled_rows(model, processor, dataset, batch_size, accelerator, audio_column, progress,
                                      desc or "zero-shot", pooled_cache)
        return _assemble(len(dataset), torch.arange(len(dataset)), _head_logits(model, full, label_embeds),
                         failures, _row_ids(dataset, id_column))
    indices, logits, failures = _every_row(
        model, processor, dataset,
        lambda waves: _batch_logits(model, processor, waves, label_embeds, window, hop, batch_size),
        batch_size, accelerator, audio_column, progress, desc or "zero-shot")
    return _assemble(len(dataset), indices, logits, failures, _row_ids(dataset, id_column))


@torch.no_grad()
def speaker_normalized_predict(model, processor, dataset, label_embeds, column: str, batch_size: int = 1,
                               accelerator=None, audio_column: str = "audio", id_column: str = "id",
                               progress: bool = True, desc: str | None = None, pooled_cache: dict | None = None):
    """``zero_shot_predict`` with speaker normalisation: every clip's pooled encoder output
    first (each process its share, gathered; kept in ``pooled_cache`` when given), then each
    speaker's standardised with the model's ``config.speaker_normalization`` reference, then
    the audio head and the labels. Returns (ZeroShotPredictions, report)."""
    from smoothclap.evaluation.speakers import normalize_by_speaker

    if accelerator is not None:
        model = accelerator.unwrap_model(model)
    n = len(dataset)
    full, failures = _pooled_rows(model, processor, dataset, batch_size, accelerator, audio_column, progress,
                                  desc or "zero-shot (per speaker)", pooled_cache)
    good = ~torch.isnan(full).any(1)
    speakers = [s for s, g in zip(dataset[column], good.tolist()) if g]
    normalized, report = normalize_by_speaker(full[good], speakers, model.config.speaker_normalization)
    full[good] = normalized.float()
    return _assemble(n, torch.arange(n), _head_logits(model, full, label_embeds), failures,
                     _row_ids(dataset, id_column)), report


def _assemble(n, indices, logits, failures, ids) -> ZeroShotPredictions:
    """Put gathered rows back in dataset order; every row must be there exactly once."""
    full = np.full((n, logits.shape[1]), np.nan, dtype=np.float32)
    seen = np.zeros(n, dtype=bool)
    full[indices.numpy()] = logits.numpy()
    seen[indices.numpy()] = True
    if not seen.all():  # would mean a sharding bug: never score a subset silently
        raise RuntimeError(f"{int((~seen).sum())} of {n} rows came back from no process.")
    unique = {f["index"]: f for f in failures}  # padding rows of an uneven shard repeat
    failed = [{"index": i, "id": str(ids[i]), "error": unique[i]["error"]} for i in sorted(unique)]
    bad = np.isnan(full).any(axis=1)
    predictions = np.where(bad, -1, np.nan_to_num(full, nan=-np.inf).argmax(axis=1))
    return ZeroShotPredictions(predictions=predictions.astype(np.int64), logits=full, failures=failed)


# --------------------------------------------------------------------------- model
def check_model_source(name_or_path: str) -> str:
    """The path or repo id to load; a local-looking path must be a saved SmoothCLAP folder."""
    path = Path(name_or_path).expanduser()
    looks_local = path.exists() or name_or_path.startswith((".", "/", "~")) or name_or_path.count("/") > 1
    if not looks_local:
        return name_or_path  # a Hub repo id
    if not path.is_dir():
        raise EvaluationError(f"Model folder {name_or_path!r} not found.")
    missing = [f for f in ("config.json",) + HF_FILES if not (path / f).is_file()]
    if missing:
        raise EvaluationError(
            f"Model folder {name_or_path!r} lacks {missing}: save a SmoothCLAP with model.save_pretrained(DIR) "
            "and processor.save_pretrained(DIR) (they copy the .py files), or train one with train_accelerate.py.")
    from smoothclap.evaluation.model_files import check_model_folder

    check_model_folder(path)  # damaged weights, config or tokenizer: one line, before transformers sees it
    return str(path)


def load_model(name_or_path: str, device=None, dtype: str = "auto", backend: str = "auto"):
    """AutoModel + AutoProcessor with trust_remote_code, with clear errors for a bad folder.

    ``dtype`` ("auto" | "float32" | "int8" | "bfloat16") and ``backend`` ("auto" | "torch" | "onnx"):
    the audio encoder's CPU path (pipeline_smoothclap.to_cpu_fast_path; the folder on disk is not
    changed). "auto": bfloat16 where the CPU has native bf16, else ONNX Runtime int8 where the
    folder has onnx/audio.int8.onnx (``smoothclap export-onnx``), else float32; on a GPU the model
    as loaded. The choice: ``model.audio_backend``, ``model._cpu_fast_path``, ``model.audio_backend_reason``.
    A bad dtype/backend, or backend onnx without onnxruntime or without the export, is an EvaluationError."""
    from transformers import AutoModel, AutoProcessor

    from smoothclap.models.pipeline_smoothclap import check_audio_dtype
    from smoothclap.models.onnx_smoothclap import check_backend

    try:  # bad values fail before the (slow) load
        check_audio_dtype(dtype), check_backend(backend)
    except ValueError as err:
        raise EvaluationError(str(err)) from None
    source = check_model_source(name_or_path)
    try:
        model = AutoModel.from_pretrained(source, trust_remote_code=True)
        processor = AutoProcessor.from_pretrained(source, trust_remote_code=True)
    except OSError as err:
        raise EvaluationError(f"Could not load model {name_or_path!r}: {str(err).splitlines()[0]}") from None
    if device is not None:
        model.to(device)
    try:
        to_cpu_fast_path(model, dtype, backend=backend)  # float32/torch: unchanged
    except ValueError as err:  # no onnxruntime, no export, bf16 without native bf16, a fast path on GPU
        raise EvaluationError(str(err)) from None
    return model.eval(), processor


def speaker_column(model, dataset, speaker_norm: str, window=None) -> tuple[str | None, dict]:
    """(the column to normalise by or None, how the clips were scored, for the results)."""
    trained = getattr(model.config, "speaker_normalization", None)
    if speaker_norm == "off" or not trained:
        return None, {"mode": "clip", "why": "--speaker-norm off" if trained else "the model was trained clip by clip"}
    column = trained["column"]
    if column not in (getattr(dataset, "column_names", None) or []):
        return None, {"mode": "clip", "why": f"the dataset has no {column!r} column (the model's speaker column)"}
    if window is not None:
        raise EvaluationError("speaker normalisation scores whole clips: drop --window/--hop, or pass "
                              "--speaker-norm off.")
    return column, {"mode": "speaker", "column": column}


# --------------------------------------------------------------------------- one dataset
def evaluate_model(model, processor, eval_set, templates=None, batch_size: int = 1, accelerator=None,
                   window=None, hop=None, bootstrap: int = 1000, seed: int = 0, progress: bool = True,
                   cache: dict | None = None, speaker_norm: str = "auto", pooled_cache: dict | None = None) -> dict:
    """Predict and score one dataset (a data.EvalSet); ``cache`` keeps label embeddings across datasets.
    ``speaker_norm``: "auto" normalises per speaker when the model was trained so (its config's
    ``speaker_normalization``) and the dataset has its speaker column; "off" scores clip by clip.
    ``pooled_cache`` (a dict): whole clips' pooled audio-encoder outputs kept across calls, for
    models sharing one frozen audio encoder (``zero_shot_predict``)."""
    key = (tuple(eval_set.texts), tuple(templates or ["{}"]))
    if cache is not None and key in cache:
        label_embeds = cache[key]
    else:
        label_embeds = label_embeddings(model, processor, eval_set.texts, templates)
        if cache is not None:
            cache[key] = label_embeds
    column, how = speaker_column(model, eval_set.dataset, speaker_norm, window)
    if column:
        preds, report = speaker_normalized_predict(model, processor, eval_set.dataset, label_embeds, column,
                                                   batch_size=batch_size, accelerator=accelerator,
                                                   progress=progress, desc=eval_set.key, pooled_cache=pooled_cache)
        how = dict(how, **report)
    else:
        preds = zero_shot_predict(model, processor, eval_set.dataset, label_embeds, batch_size=batch_size,
                                  accelerator=accelerator, window=window, hop=hop, progress=progress,
                                  desc=eval_set.key, pooled_cache=pooled_cache)
    references = eval_set.dataset["label"]
    result = zero_shot_report(preds, references, eval_set.labels, bootstrap=bootstrap, seed=seed)
    result.update(splits=eval_set.splits, texts=eval_set.texts, path=eval_set.path,
                  templates=list(templates or ["{}"]), speaker_normalization=how)
    ids = _row_ids(eval_set.dataset, "id")
    result["_rows"] = [  # per-clip output (written to predictions_*.jsonl, not results.json)
        {"id": str(i), "label": eval_set.labels[r], "prediction": eval_set.labels[p] if p >= 0 else None,
         "logits": [round(float(x), 6) for x in row] if p >= 0 else None}
        for i, r, p, row in zip(ids, references, preds.predictions.tolist(), preds.logits)]
    ref = PAPER_TABLE1.get((eval_set.corpus, eval_set.config))
    if ref:
        result["paper"] = {"smoothclap_uar": ref[2], "paraclap_uar": ref[1]}
    return result


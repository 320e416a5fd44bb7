"""Validation zero-shot UAR per epoch (model selection).

TODO(evaluation helper): ``uar`` is the one stand-in the issue allows until
``metrics/uar`` and ``evaluate_zeroshot.py`` land on main; then this module calls
``evaluate_zeroshot.label_embeddings`` and the UAR metric instead.
"""

from __future__ import annotations

import numpy as np
import torch

from .data import SAMPLING_RATE


def uar(predictions, references, num_classes: int) -> float:
    """Unweighted average recall: mean over the classes present of per-class recall.
    Rows with reference -1 (outside the query classes) are left out."""
    predictions, references = np.asarray(predictions), np.asarray(references)
    keep = references >= 0
    predictions, references = predictions[keep], references[keep]
    recalls = [float(np.mean(predictions[references == c] == c))
               for c in range(num_classes) if np.any(references == c)]
    return float(np.mean(recalls)) if recalls else float("nan")


@torch.no_grad()
def label_embeddings(model, processor, texts, device) -> torch.Tensor:
    inputs = processor(text=list(texts), return_tensors="pt").to(device)
    return model.get_text_features(**inputs).pooler_output


@torch.no_grad()
def audio_embeddings(model, processor, split, rows, device, batch_size, cache=None, eval_length=None):
    """L2-normalised audio embeddings of ``rows``: from the cache's pooled features when
    given, else the whole clips (cut at ``eval_length`` samples) through the audio encoder."""
    out = []
    audio = split.select_columns(["audio"]) if cache is None else None
    for start in range(0, len(rows), batch_size):
        chunk = rows[start:start + batch_size]
        if cache is not None:
            pooled = cache.lookup(chunk, 0)["pooled_audio_features"].to(device)
            out.append(model.get_audio_features(pooled_audio_features=pooled).pooler_output)
            continue
        seconds = None if eval_length is None else eval_length / SAMPLING_RATE  # start crop
        inputs = processor(audio=[audio[int(i)]["audio"] for i in chunk], max_duration=seconds).to(device)
        out.append(model.get_audio_features(**inputs).pooler_output)
    return torch.cat(out) if out else torch.zeros(0)


def validation_uar(accelerator, model, processor, data, references, batch_size, cache=None, eval_length=None) -> float:
    """Zero-shot UAR of ``model`` (unwrapped) on the validation split; each process embeds its
    share of the clips, predictions are gathered on every process."""
    was_training = model.training
    model.eval()
    labels = label_embeddings(model, processor, data.query_texts, accelerator.device)
    rows = list(range(accelerator.process_index, len(data.validation), accelerator.num_processes))
    audio = audio_embeddings(model, processor, data.validation, rows, accelerator.device, batch_size,
                             cache, eval_length)
    preds = (audio @ labels.T).argmax(-1).cpu().tolist() if len(rows) else []
    from accelerate.utils import gather_object

    pairs = gather_object(list(zip(rows, preds)))
    model.train(was_training)
    by_row = dict(pairs)
    predictions = [by_row[i] for i in range(len(data.validation))]
    return uar(predictions, references, len(data.labels))

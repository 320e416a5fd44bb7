"""Validation zero-shot UAR per epoch (model selection), through the evaluation core
(``smoothclap.evaluation``).

The label embeddings, the uncached predictions and the UAR are the evaluation runner's
(`label_embeddings`, `zero_shot_predict`, `uar`): the number that selects a checkpoint is
computed exactly as the number a user later reports. With the feature cache, the clips'
pooled encoder outputs are already there, so only the audio head runs on them.
"""

from __future__ import annotations

import numpy as np
import torch


@torch.no_grad()
def _cached_predictions(accelerator, model, cache, n_rows, label_embeds, batch_size) -> np.ndarray:
    """Predicted label index per validation row from cached pooled features (each process
    its share, gathered)."""
    from accelerate.utils import gather_object

    rows = list(range(accelerator.process_index, n_rows, accelerator.num_processes))
    preds = []
    for start in range(0, len(rows), batch_size):
        chunk = rows[start:start + batch_size]
        pooled = cache.lookup(chunk, 0)["pooled_audio_features"].to(accelerator.device)
        audio = model.get_audio_features(pooled_audio_features=pooled).pooler_output
        preds += (audio @ label_embeds.T).argmax(-1).cpu().tolist()
    by_row = dict(gather_object(list(zip(rows, preds))))
    return np.asarray([by_row[i] for i in range(n_rows)])


def validation_uar(accelerator, model, processor, data, references, batch_size, cache=None) -> float:
    """Zero-shot UAR of ``model`` (unwrapped) on the validation split with the corpus' query
    texts. Rows whose reference is -1 (outside the query classes) are left out."""
    from smoothclap.evaluation.metrics import uar
    from smoothclap.evaluation.predict import label_embeddings, zero_shot_predict

    was_training = model.training
    model.eval()
    try:
        labels = label_embeddings(model, processor, data.query_texts).to(accelerator.device)
        if cache is not None:
            predictions = _cached_predictions(accelerator, model, cache, len(data.validation), labels, batch_size)
        else:
            predictions = zero_shot_predict(model, processor, data.validation, labels, batch_size=batch_size,
                                            accelerator=accelerator, progress=False).predictions
    finally:
        model.train(was_training)
    references = np.asarray(references)
    keep = references >= 0
    return float(uar(predictions[keep], references[keep], labels=list(range(len(data.labels))))["uar"])

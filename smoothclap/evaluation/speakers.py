"""Speaker normalisation of the frozen audio encoder's pooled output (opt-in: ``--speaker-norm``).

A voice's baseline (its pitch, loudness, timbre) moves every clip of it the same way, and a
clip alone cannot tell a high voice's neutral from a low voice's excitement. Paralinguistics
takes the baseline out by standardising each speaker's features on that speaker's own clips.
Here that is done to the pooled audio-encoder output h, before the audio head:

    z = (h - mean_s) / std_s * std_ref + mean_ref

mean_s / std_s over the clips of speaker s (per dimension), mean_ref / std_ref over the whole
training split (stored in the model's config as ``speaker_normalization``). The result stays
in the encoder's own range, so a clip whose speaker is unknown (the pipeline, one clip) is
scored as it is: z = h, the "average speaker". Labels are never used; a speaker with fewer
than ``MIN_CLIPS`` clips (too few to estimate a baseline) and a clip without a speaker id are
left as they are, and counted.

    reference_statistics(x) -> {"mean", "std"}             # of the training split's rows
    normalize_by_speaker(x, speakers, reference) -> (z, report)
    normalize_cache(cache, speakers, reference=None) -> reference   # the trainer's feature cache

The evaluation's route is ``smoothclap.evaluation.predict.speaker_normalized_predict``.
"""

from __future__ import annotations

import numpy as np
import torch

MIN_CLIPS = 10  # fewer clips of a speaker than this: the clips are left as they are
EPS = 1e-6


def reference_statistics(x: torch.Tensor) -> dict:
    """Per-dimension mean and std (population) of ``x`` (n, hidden), as float lists (JSON)."""
    x = torch.as_tensor(x, dtype=torch.float64)
    return {"mean": x.mean(0).tolist(), "std": x.std(0, unbiased=False).tolist()}


def normalize_by_speaker(x, speakers, reference: dict, clips: dict | None = None, min_clips: int = MIN_CLIPS,
                         eps: float = EPS) -> tuple[torch.Tensor, dict]:
    """(z, report): ``x`` (n, hidden) with each speaker's rows standardised on their own mean
    and std and mapped to the reference's (see the module doc). ``clips``: {speaker: number of
    clips} where a clip has several rows (the training cache's windows); default one row per
    clip. ``report``: number of speakers normalised and the speakers left as they are (fewer
    than ``min_clips`` clips)."""
    x = torch.as_tensor(x)
    if len(speakers) != x.shape[0]:
        raise ValueError(f"{len(speakers)} speaker ids for {x.shape[0]} rows")
    ref_mean = torch.tensor(reference["mean"], dtype=torch.float64)
    ref_std = torch.tensor(reference["std"], dtype=torch.float64)
    if ref_mean.shape[0] != x.shape[1]:
        raise ValueError(f"speaker_normalization holds {ref_mean.shape[0]}-dim statistics; the features are "
                         f"{x.shape[1]}-dim (another audio encoder?)")
    out = x.to(torch.float64).clone()
    groups: dict = {}
    for i, speaker in enumerate(speakers):  # a missing id (None, "") is a speaker of its own clip
        groups.setdefault(str(speaker) if speaker not in (None, "") else f"<unknown {i}>", []).append(i)
    left = []
    for speaker, rows in groups.items():
        if (clips or {}).get(speaker, len(rows)) < min_clips:
            left.append(speaker)
            continue
        rows_t = torch.as_tensor(rows)
        own = out[rows_t]
        out[rows_t] = (own - own.mean(0)) / (own.std(0, unbiased=False) + eps) * ref_std + ref_mean
    report = {"speakers": len(groups) - len(left), "left_as_is": sorted(left),
              "rows_left_as_is": sum(len(groups[s]) for s in left)}
    return out.to(x.dtype), report


def normalize_cache(cache, speakers, reference: dict | None = None, log=print) -> dict:
    """Normalise a training ``FeatureCache``'s pooled audio rows in memory (the file on disk
    keeps the encoder's output). ``speakers``: one id per dataset row; every cached window of
    a row gets its row's speaker, and a speaker's statistics are over its cached windows.
    ``reference`` None: this split's own statistics become the reference (the training
    split), returned."""
    owner = torch.full((cache.audio.shape[0],), -1, dtype=torch.long)
    owner[cache.index.reshape(-1)] = torch.arange(cache.index.shape[0]).repeat_interleave(cache.index.shape[1])
    if (owner < 0).any():
        raise RuntimeError(f"feature cache {cache.path}: {(owner < 0).sum().item()} feature rows belong to no clip")
    reference = reference or reference_statistics(cache.audio)
    speakers = np.asarray(list(speakers), dtype=object)
    clips: dict = {}
    for speaker in speakers:
        if speaker not in (None, ""):
            clips[str(speaker)] = clips.get(str(speaker), 0) + 1
    cache.audio, report = normalize_by_speaker(cache.audio, speakers[owner.numpy()].tolist(), reference, clips)
    log(f"speaker normalisation: {report['speakers']} speaker(s) of {cache.path}"
        + (f"; {len(report['left_as_is'])} with fewer than {MIN_CLIPS} clips left as they are "
           f"({report['rows_left_as_is']} rows)" if report["left_as_is"] else ""))
    return reference

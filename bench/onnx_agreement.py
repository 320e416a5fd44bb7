"""The ONNX graphs' answers on a trained model (issue 22): float ONNX vs eager float32 in cosine,
int8 ONNX top-1 agreement and UAR difference, on a built corpus' test split.

    python demo.py --output smoothclap-demo                       # a trained model and its corpus
    smoothclap export-onnx smoothclap-demo/smoothclap smoothclap-demo/smoothclap-onnx --quantize int8
    python bench/onnx_agreement.py --model smoothclap-demo/smoothclap-onnx --dataset smoothclap-demo/cache/demo

Every variant is loaded with ``smoothclap.evaluation.predict.load_model(folder, dtype=..., backend=...)``
(what ``smoothclap evaluate --dtype/--backend`` uses) and scored with ``zero_shot_predict`` with the
corpus' query texts, one clip at a time (the CPU default). Targets (printed, with the margin when
missed): float ONNX within 1e-4 of eager float32 in cosine on every clip's final embedding; int8
ONNX top-1 agreement >= 98 % and |UAR difference| <= 0.01.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

VARIANTS = {"eager float32": ("float32", "torch"), "eager int8": ("int8", "torch"),
            "onnx float32": ("float32", "onnx"), "onnx int8": ("int8", "onnx")}
COSINE_TARGET, AGREEMENT_TARGET, UAR_TARGET = 1e-4, 0.98, 0.01


def run(model_dir, dataset_dir, limit=None, threads=2) -> dict:
    from smoothclap.evaluation.evaluate import label_embeddings, load_eval_set, load_model, uar, zero_shot_predict
    from smoothclap.models.pipeline_smoothclap import audio_embeddings
    from smoothclap.models.audio_smoothclap import load_audio

    torch.set_num_threads(threads)
    eval_set = load_eval_set(dataset_dir, split="test")
    rows = eval_set.dataset if limit is None else eval_set.dataset.select(range(min(limit, len(eval_set.dataset))))
    refs = list(rows["label"])
    waves = [load_audio(row["audio"], None, 16000) for row in rows]
    out = {"n": len(rows), "key": eval_set.key}
    for name, (dtype, backend) in VARIANTS.items():
        model, processor = load_model(model_dir, dtype=dtype, backend=backend)
        embeds = label_embeddings(model, processor, eval_set.texts)
        start = time.perf_counter()
        preds = zero_shot_predict(model, processor, rows, embeds, progress=False)
        seconds = (time.perf_counter() - start) / len(rows)
        out[name] = {"pred": preds.predictions, "uar": uar(preds.predictions.tolist(), refs)["uar"],
                     "per_clip": seconds, "emb": audio_embeddings(model, processor, waves),
                     "backend": f"{model.audio_backend} {model._cpu_fast_path}"}
    return out


def main(argv=None) -> int:
    from smoothclap.inference.onnx_export import cpu_summary

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True, help="a folder written by `smoothclap export-onnx ... --quantize int8`")
    ap.add_argument("--dataset", required=True, help="built corpus with a test split")
    ap.add_argument("--limit", type=int, default=None, help="first N test clips only")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    print(f"CPU: {cpu_summary()}; load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    out = run(args.model, args.dataset, args.limit, args.threads)
    ref = out["eager float32"]
    print(f"\n{args.model} on {out['key']} test ({out['n']} clips), {args.threads} threads")
    print("| variant | loaded as | UAR | UAR - eager fp32 | top-1 agreement | min cosine to eager fp32 | ms/clip |")
    print("|---|---|---|---|---|---|---|")
    for name, r in out.items():
        if not isinstance(r, dict):
            continue
        r["agreement"] = float(np.mean(r["pred"] == ref["pred"]))
        r["min_cos"] = float(torch.nn.functional.cosine_similarity(r["emb"], ref["emb"], dim=-1).min())
        print(f"| {name} | {r['backend']} | {r['uar']:.4f} | {r['uar'] - ref['uar']:+.4f} | {r['agreement']:.2%} "
              f"| {r['min_cos']:.6f} | {1e3 * r['per_clip']:.1f} |")
    fl, q = out["onnx float32"], out["onnx int8"]
    d = abs(q["uar"] - ref["uar"])
    print("\ntargets:")
    print(f"  onnx float32: 1 - min cosine {1 - fl['min_cos']:.2e} (target <= {COSINE_TARGET:g}): "
          + ("MET" if 1 - fl["min_cos"] <= COSINE_TARGET else "NOT met"))
    print(f"  onnx int8: top-1 agreement {q['agreement']:.2%} (target >= {AGREEMENT_TARGET:.0%}): "
          + ("MET" if q["agreement"] >= AGREEMENT_TARGET else f"NOT met (short by {AGREEMENT_TARGET - q['agreement']:.2%})")
          + f"; |UAR difference| {d:.4f} (target <= {UAR_TARGET}): "
          + ("MET" if d <= UAR_TARGET else f"NOT met (over by {d - UAR_TARGET:.4f})"))
    return 0


if __name__ == "__main__":
    sys.exit(main())

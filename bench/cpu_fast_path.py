"""The audio encoder's CPU fast path (issue 14): float32 vs bfloat16 vs int8, speed and answers.

    python bench/cpu_fast_path.py                    # both real shapes, 1 and 2 threads, 3 blocks
    python bench/cpu_fast_path.py --quick            # smoke run: 1 clip, 1 block, 2 threads, robust-12 only
    python bench/cpu_fast_path.py --model DIR --dataset DIR   # another trained model / built corpus

Speed: the audio encoder at the real architecture's shape, random weights built from its
config (no download): wav2vec2-large (hidden 1024, 24 layers, 16 heads, intermediate 4096,
group-norm feature encoder) and the paper's wav2vec2-large-robust-12 shape (the same with 12
layers, do_stable_layer_norm=True, feat_extract_norm="layer", conv_bias=True). Clips of 3-5 s,
one at a time (the CPU default batch size), through ``modeling_smoothclap.pool_audio_encoder``
with the attention mask, as the model runs them. Every variant is made by
``pipeline_smoothclap.to_cpu_fast_path`` (the function the pipeline, evaluate_zeroshot.py and
smoothclap-classify use). The clips are cut into blocks; in each block every variant runs
every clip, in a rotating order, so load drift on a shared machine hits them alike. Per-clip
time = total / clips; ratio = float32 time / variant time.

Answers: the trained demo model (``python demo.py``: smoothclap-demo/smoothclap) on the demo
corpus' test split (smoothclap-demo/cache/demo), zero-shot with the corpus' query texts through
``evaluate_zeroshot.zero_shot_predict``: top-1 agreement with float32 and the UAR difference.
Also the text tower: the cost of embedding one label set (the pipeline caches it per label
set) with and without int8, beside the audio cost of one clip.

Targets (printed, with the margin when missed): int8 or bf16 >= 2x float32 per clip at the
real (robust-12) shape on 2 threads; top-1 agreement >= 98 % of clips; |UAR difference| <= 0.01.
"""

from __future__ import annotations

import argparse
import copy
import os
import platform
import sys
import time
import warnings

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from modeling_smoothclap import pool_audio_encoder  # noqa: E402
from pipeline_smoothclap import cpu_native_bf16, to_cpu_fast_path  # noqa: E402

VARIANTS = ("float32", "bfloat16", "int8")
SPEED_TARGET, AGREEMENT_TARGET, UAR_TARGET = 2.0, 0.98, 0.01
SHAPES = {  # name -> Wav2Vec2Config overrides
    "large-24": dict(hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, intermediate_size=4096,
                     feat_extract_norm="group", do_stable_layer_norm=False, conv_bias=False),
    "robust-12": dict(hidden_size=1024, num_hidden_layers=12, num_attention_heads=16, intermediate_size=4096,
                      feat_extract_norm="layer", do_stable_layer_norm=True, conv_bias=True),
}
TARGET_SHAPE = "robust-12"  # the paper's encoder (audeering/wav2vec2-large-robust-12-ft-emotion-msp-dim)


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


class _Holder(torch.nn.Module):
    """What to_cpu_fast_path converts: anything with an ``audio_model``."""

    def __init__(self, encoder):
        super().__init__()
        self.audio_model = encoder


def build_variants(shape: str, variants=VARIANTS) -> dict:
    from transformers import Wav2Vec2Config, Wav2Vec2Model

    torch.manual_seed(0)
    config = Wav2Vec2Config(**SHAPES[shape], layerdrop=0.0, mask_time_prob=0.0)
    base = Wav2Vec2Model(config).eval()
    return {name: to_cpu_fast_path(_Holder(copy.deepcopy(base) if name != "float32" else base), name,
                                   require_native_bf16=False) for name in variants}


def make_clips(n: int, seed: int = 0) -> list[np.ndarray]:
    """Harmonic voiced-like tones of 3-5 s (zero mean, unit variance, as the feature extractor gives)."""
    rng = np.random.default_rng(seed)
    lengths = np.linspace(3.0, 5.0, n) if n > 1 else [3.0]
    clips = []
    for seconds in lengths:
        t = np.arange(int(seconds * 16000)) / 16000
        f0 = rng.uniform(90, 300) * (1 + 0.03 * np.sin(2 * np.pi * rng.uniform(3, 7) * t))
        phase = 2 * np.pi * np.cumsum(f0) / 16000
        wave = sum(np.sin(k * phase) / k for k in range(1, 6)) + 0.05 * rng.standard_normal(t.shape)
        clips.append(((wave - wave.mean()) / wave.std()).astype(np.float32))
    return clips


@torch.no_grad()
def embed(holder, clip) -> torch.Tensor:
    x = torch.from_numpy(clip)[None]
    pooled, _ = pool_audio_encoder(holder.audio_model, x, torch.ones_like(x, dtype=torch.long))
    assert pooled.dtype == torch.float32
    return pooled[0]


def speed(shapes, threads_list, n_clips, n_blocks, timed=VARIANTS) -> dict:
    """{(shape, threads): {variant: seconds per clip}} and the pooled-output cosines vs float32,
    for the ``timed`` variants (bf16 is left out on a CPU without native bf16: minutes per clip)."""
    clips = make_clips(n_clips)
    block_size = max(1, int(np.ceil(n_clips / n_blocks)))
    blocks = [list(range(s, min(s + block_size, n_clips))) for s in range(0, n_clips, block_size)]
    results = {}
    for shape in shapes:
        started = time.perf_counter()
        variants = build_variants(shape, timed)
        print(f"  built {shape} ({' + '.join(timed)}) in {time.perf_counter() - started:.0f} s", flush=True)
        for threads in threads_list:
            torch.set_num_threads(threads)
            for name in timed:  # warm-up, not timed
                embed(variants[name], clips[0][:16000])
            total = dict.fromkeys(timed, 0.0)
            cos = {name: [] for name in timed}
            for b, block in enumerate(blocks):
                k = b % len(timed)
                order = timed[k:] + timed[:k]  # rotate who goes first
                ref = {}
                for name in order:
                    start = time.perf_counter()
                    outs = [embed(variants[name], clips[i]) for i in block]
                    total[name] += time.perf_counter() - start
                    ref[name] = outs
                for name in timed:
                    cos[name] += [float(torch.nn.functional.cosine_similarity(a, r, dim=0))
                                  for a, r in zip(ref[name], ref["float32"])]
            per_clip = {name: total[name] / n_clips for name in timed}
            results[(shape, threads)] = {"per_clip": per_clip, "cos": {k: float(np.mean(v)) for k, v in cos.items()}}
            print(f"  {shape}, {threads} thread(s): " + ", ".join(
                f"{name} {1e3 * per_clip[name]:.0f} ms/clip" for name in timed), flush=True)
        del variants
    return results


def agreement(model_dir: str, dataset_dir: str, limit: int | None, threads: int) -> dict:
    """Zero-shot on the demo test split with each variant: predictions, UAR, per-clip time."""
    from evaluate_zeroshot import label_embeddings, load_eval_set, load_model, uar, zero_shot_predict

    torch.set_num_threads(threads)
    eval_set = load_eval_set(dataset_dir, split="test")
    rows = eval_set.dataset if limit is None else eval_set.dataset.select(range(min(limit, len(eval_set.dataset))))
    refs = list(rows["label"])
    out = {"n": len(rows), "key": eval_set.key, "labels": eval_set.labels}
    for name in VARIANTS:
        model, processor = load_model(model_dir)  # float32, then the fast path (bf16 even when emulated)
        to_cpu_fast_path(model, name, require_native_bf16=False)
        embeds = label_embeddings(model, processor, eval_set.texts)
        start = time.perf_counter()
        preds = zero_shot_predict(model, processor, rows, embeds, progress=False)
        seconds = (time.perf_counter() - start) / len(rows)
        out[name] = {"pred": preds.predictions, "uar": uar(preds.predictions.tolist(), refs)["uar"],
                     "per_clip": seconds}
        if name == "float32":
            out["text"] = text_cost(model, processor, eval_set.texts)
    return out


def text_cost(model, processor, texts, reps: int = 5) -> dict:
    """Seconds to embed one label set with the text tower as is, and with it int8-quantised."""
    from pipeline_smoothclap import text_embeddings

    quant = copy.deepcopy(model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.ao.quantization.quantize_dynamic(quant.text_model, {torch.nn.Linear}, dtype=torch.qint8, inplace=True)
    times = {"float32": 0.0, "int8": 0.0}
    text_embeddings(model, processor, texts), text_embeddings(quant, processor, texts)  # warm-up
    for r in range(reps):
        for name, m in ((("float32", model), ("int8", quant)) if r % 2 == 0 else (("int8", quant), ("float32", model))):
            start = time.perf_counter()
            text_embeddings(m, processor, texts)
            times[name] += time.perf_counter() - start
    same = float((text_embeddings(model, processor, texts) * text_embeddings(quant, processor, texts)).sum(-1).min())
    return {**{k: v / reps for k, v in times.items()}, "min_cos": same, "n_texts": len(texts)}


def verdict(ok: bool, miss: str) -> str:
    return "MET" if ok else f"NOT met ({miss})"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=os.path.join(ROOT, "smoothclap-demo", "smoothclap"),
                    help="trained SmoothCLAP folder for the agreement check (default: the demo's)")
    ap.add_argument("--dataset", default=os.path.join(ROOT, "smoothclap-demo", "cache", "demo"),
                    help="built corpus with a test split (default: the demo corpus)")
    ap.add_argument("--clips", type=int, default=6, help="clips of 3-5 s for the speed part (default 6)")
    ap.add_argument("--blocks", type=int, default=3, help="interleaved blocks (repetitions; default 3)")
    ap.add_argument("--threads", default="1,2", help="torch thread counts (default 1,2)")
    ap.add_argument("--shapes", default=",".join(SHAPES), help=f"encoder shapes (default {','.join(SHAPES)})")
    ap.add_argument("--quick", action="store_true",
                    help="smoke run: 1 clip, 1 block, 2 threads, robust-12 only, 16 test clips")
    args = ap.parse_args(argv)
    if args.quick:
        args.clips, args.blocks, args.threads, args.shapes = 1, 1, "2", TARGET_SHAPE
    threads_list = [int(t) for t in args.threads.split(",")]
    shapes = [s.strip() for s in args.shapes.split(",")]
    unknown = [s for s in shapes if s not in SHAPES]
    if unknown:
        ap.error(f"unknown shape(s) {unknown}; choose from {list(SHAPES)}")

    native = cpu_native_bf16()
    print(f"CPU: {cpu_name()}; torch {torch.__version__}, capability {torch.backends.cpu.get_cpu_capability()}, "
          f"quantized engine {torch.backends.quantized.engine}; native bfloat16 (avx512_bf16/amx_bf16): "
          f"{ {True: 'yes', False: 'NO (bf16 is emulated here)', None: 'unknown'}[native] }")
    print(f"speed: {args.clips} clip(s) of 3-5 s, one at a time, {args.blocks} interleaved block(s), "
          f"threads {threads_list}, shapes {shapes}")
    timed = VARIANTS if native else ("float32", "int8")
    results = speed(shapes, threads_list, args.clips, args.blocks, timed)
    probe = None
    if not native and not args.quick:  # how slow emulated bf16 is: one 0.5 s clip, once each
        torch.set_num_threads(max(threads_list))
        variants = build_variants(TARGET_SHAPE, ("float32", "bfloat16"))
        clip = make_clips(1)[0][:8000]
        probe = {}
        for name in ("float32", "bfloat16", "float32"):
            start = time.perf_counter()
            embed(variants[name], clip)
            probe[name] = min(probe.get(name, float("inf")), time.perf_counter() - start)
        del variants
        print(f"  bf16 probe ({TARGET_SHAPE}, one 0.5 s clip, {max(threads_list)} threads): float32 "
              f"{1e3 * probe['float32']:.0f} ms, bfloat16 {1e3 * probe['bfloat16']:.0f} ms "
              f"({probe['bfloat16'] / probe['float32']:.1f}x SLOWER: emulated)", flush=True)

    print("\n| shape | threads | fp32 ms/clip | bf16 ms/clip | int8 ms/clip | bf16 speed-up | int8 speed-up "
          "| cos(bf16, fp32) | cos(int8, fp32) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for (shape, threads), r in results.items():
        t, cos = r["per_clip"], r["cos"]
        if "bfloat16" in t:
            bf = [f"{1e3 * t['bfloat16']:.0f}", f"{t['float32'] / t['bfloat16']:.2f}x", f"{cos['bfloat16']:.4f}"]
        else:
            bf = ["not timed"] * 3
        print(f"| {shape} | {threads} | {1e3 * t['float32']:.0f} | {bf[0]} | {1e3 * t['int8']:.0f} | {bf[1]} "
              f"| {t['float32'] / t['int8']:.2f}x | {bf[2]} | {cos['int8']:.4f} |")
    if not native:
        print("bf16 not timed at the real shapes: this CPU has no native bfloat16 (emulated, "
              + (f"{probe['bfloat16'] / probe['float32']:.0f}x slower in the probe" if probe else "far slower")
              + "); to_cpu_fast_path refuses it here unless require_native_bf16=False")

    agree = None
    if os.path.isdir(args.model) and os.path.isdir(args.dataset):
        agree = agreement(args.model, args.dataset, 16 if args.quick else None, max(threads_list))
        fp = agree["float32"]
        print(f"\nanswers: {args.model} on {agree['key']} test ({agree['n']} clips), {max(threads_list)} threads")
        print("| variant | UAR | UAR - fp32 | top-1 agreement with fp32 | ms/clip (demo encoder) |")
        print("|---|---|---|---|---|")
        for name in VARIANTS:
            a = agree[name]
            agree[name]["agreement"] = float(np.mean(a["pred"] == fp["pred"]))
            print(f"| {name} | {a['uar']:.4f} | {a['uar'] - fp['uar']:+.4f} | {a['agreement']:.2%} "
                  f"| {1e3 * a['per_clip']:.1f} |")
        tc = agree["text"]
        print(f"text tower: one label set ({tc['n_texts']} texts) {1e3 * tc['float32']:.1f} ms in float32, "
              f"{1e3 * tc['int8']:.1f} ms int8 (min cosine {tc['min_cos']:.4f}); the pipeline embeds a label set "
              f"once and caches it, vs {1e3 * fp['per_clip']:.1f} ms per clip for audio + scoring")
    else:
        print(f"\nanswers: SKIPPED, no trained model/corpus at {args.model} / {args.dataset} "
              "(run `python demo.py`, or pass --model and --dataset)")

    print("\ntargets:")
    speed_rows = {k: v for k, v in results.items() if k[0] == TARGET_SHAPE and k[1] == 2}
    for (shape, threads), r in speed_rows.items():
        t = r["per_clip"]
        best = max([n for n in ("int8", "bfloat16") if n in t], key=lambda n: t["float32"] / t[n])
        ratio = t["float32"] / t[best]
        print(f"  speed, {shape} on {threads} threads: {best} {ratio:.2f}x fp32 (target >= {SPEED_TARGET:g}x): "
              + verdict(ratio >= SPEED_TARGET, f"short by {SPEED_TARGET - ratio:.2f}x"))
    if not speed_rows:
        print(f"  speed: not measured at {TARGET_SHAPE} on 2 threads")
    if agree:
        for name in ("int8", "bfloat16"):
            a, d = agree[name]["agreement"], agree[name]["uar"] - agree["float32"]["uar"]
            print(f"  {name}: top-1 agreement {a:.2%} (target >= {AGREEMENT_TARGET:.0%}): "
                  + verdict(a >= AGREEMENT_TARGET, f"short by {AGREEMENT_TARGET - a:.2%}")
                  + f"; |UAR difference| {abs(d):.4f} (target <= {UAR_TARGET}): "
                  + verdict(abs(d) <= UAR_TARGET, f"over by {abs(d) - UAR_TARGET:.4f}"))
    if args.quick:
        print("  (--quick: 1 clip, 1 block, 16 test clips: a smoke run, the figures mean little)")
    print("Measured in one run, variants interleaved; on a shared machine the absolute times carry the load of "
          "the moment, the ratios less so.")
    return 0


if __name__ == "__main__":
    sys.exit(main())

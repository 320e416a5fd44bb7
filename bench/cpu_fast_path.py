"""The audio encoder's CPU paths (issues 14, 22): eager float32 vs bfloat16 vs int8, and ONNX Runtime
float32 / int8 (MatMul/Gemm) / int8 with the conv front end (ConvInteger): speed and answers.

    python bench/cpu_fast_path.py                    # robust-12 (+ONNX) and large-24, 1 and 2 threads, 3 rounds
    python bench/cpu_fast_path.py --shapes robust-12 --clips 3 --rounds 3   # the ONNX comparison only, shorter
    python bench/cpu_fast_path.py --quick            # smoke run: 1 clip, 1 round, 2 threads, robust-12 only
    python bench/cpu_fast_path.py --profile          # + ONNX Runtime's per-op profile of the float and int8 graphs
    python bench/cpu_fast_path.py --model DIR --dataset DIR   # another trained model / built corpus

It prints the CPU model and its relevant flags first. Speed: the audio encoder at the real
architecture's shape, random weights built from its config (no download): wav2vec2-large (hidden
1024, 24 layers, 16 heads, intermediate 4096, group-norm feature encoder) and the paper's
wav2vec2-large-robust-12 shape (the same with 12 layers, do_stable_layer_norm=True,
feat_extract_norm="layer", conv_bias=True). Clips of 3-5 s, one at a time (the CPU default batch
size), through ``modeling_smoothclap.pool_audio_encoder`` with the attention mask, as the model's
get_audio_features runs them. Every variant is made by ``pipeline_smoothclap.to_cpu_fast_path``
(what load_model, the pipeline and evaluate call): the ONNX ones with ``backend="onnx"`` on graphs
written by ``smoothclap.inference.onnx_export`` (what ``smoothclap export-onnx`` writes; robust-12 only),
run by ``onnx_smoothclap.OrtAudioEncoder``. Each round runs every clip through every variant, the
order rotating clip by clip, so load drift on a shared machine hits them alike; a clip's time is
its best over the rounds, per-clip time the mean of those; ratio = float32 time / variant time.

Answers: the trained demo model (``python demo.py``: smoothclap-demo/smoothclap) on the demo
corpus' test split (smoothclap-demo/cache/demo), zero-shot with the corpus' query texts through
``evaluate_zeroshot.zero_shot_predict``: top-1 agreement with float32 and the UAR difference
(bench/onnx_agreement.py does the same for the ONNX graphs of an exported folder).
Also the text tower: the cost of embedding one label set (the pipeline caches it per label
set) with and without int8, beside the audio cost of one clip.

Targets (printed, with the margin when missed), per clip at the real (robust-12) shape on 2
threads: the best path >= 2x eager float32 on every CPU, >= 3x where the CPU has VNNI or native
BF16; top-1 agreement >= 98 % of clips; |UAR difference| <= 0.01.
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

from smoothclap.models.modeling_smoothclap import pool_audio_encoder  # noqa: E402
from smoothclap.models.pipeline_smoothclap import cpu_native_bf16, to_cpu_fast_path  # noqa: E402

VARIANTS = ("float32", "bfloat16", "int8")  # eager (torch) paths
ONNX_VARIANTS = ("onnx-float32", "onnx-int8", "onnx-int8-conv")  # ONNX Runtime, robust-12 only
SPEED_TARGET, FAST_CPU_TARGET, AGREEMENT_TARGET, UAR_TARGET = 2.0, 3.0, 0.98, 0.01
_FAST_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8", "avx512_bf16", "amx_bf16")  # the >= 3x target's CPUs
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


def cpu_flags() -> set:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def export_graphs(base, folder: str, variants) -> dict:
    """The ONNX graphs of ``base`` as `smoothclap export-onnx` writes them: {variant: model folder}
    (each with onnx/audio.onnx and, for the int8 ones, onnx/audio.int8.onnx)."""
    from smoothclap.inference.onnx_export import check_graph, export_audio, quantize_int8

    plain = os.path.join(folder, "float", "onnx")
    os.makedirs(plain)
    export_audio(base, os.path.join(plain, "audio.onnx"))
    check_graph(os.path.join(plain, "audio.onnx"))
    out = {"onnx-float32": os.path.dirname(plain)}
    for name, conv in (("onnx-int8", False), ("onnx-int8-conv", True)):
        if name not in variants:
            continue
        sub = os.path.join(folder, name, "onnx")
        os.makedirs(sub)
        for f in ("audio.onnx", "audio.onnx.data"):  # the float graph beside it, as export-onnx leaves it
            os.symlink(os.path.join(plain, f), os.path.join(sub, f))
        quantize_int8(os.path.join(plain, "audio.onnx"), os.path.join(sub, "audio.int8.onnx"), conv=conv)
        out[name] = os.path.dirname(sub)
    return out


def build_variants(shape: str, variants=VARIANTS, workdir: str | None = None) -> dict:
    from transformers import Wav2Vec2Config, Wav2Vec2Model

    torch.manual_seed(0)
    config = Wav2Vec2Config(**SHAPES[shape], layerdrop=0.0, mask_time_prob=0.0)
    base = Wav2Vec2Model(config).eval()
    onnx = [v for v in variants if v in ONNX_VARIANTS]
    folders = export_graphs(base, workdir, onnx) if onnx else {}
    out = {}
    for name in variants:
        if name in ONNX_VARIANTS:  # the runner's path: to_cpu_fast_path(model of that folder, backend="onnx")
            holder = _Holder(base)  # its audio_model is replaced by the ONNX session; base stays as it is
            holder.name_or_path = folders[name]
            out[name] = to_cpu_fast_path(holder, "float32" if name == "onnx-float32" else "int8", backend="onnx")
            assert type(out[name].audio_model).__name__ == "OrtAudioEncoder"
        else:
            out[name] = to_cpu_fast_path(_Holder(copy.deepcopy(base) if name != "float32" else base), name,
                                         backend="torch", require_native_bf16=False)
    return out


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


def speed(shapes, threads_list, n_clips, n_rounds, timed=VARIANTS, workdir: str | None = None) -> dict:
    """{(shape, threads): {"per_clip": {variant: seconds}, "cos": {variant: mean cosine to float32}}} for the
    ``timed`` variants (bf16 is left out on a CPU without native bf16: minutes per clip); the ONNX variants
    at the target shape only (each export of the 300M-parameter encoder costs minutes on a small CPU)."""
    clips = make_clips(n_clips)
    results = {}
    for shape in shapes:
        names = tuple(v for v in timed if v not in ONNX_VARIANTS or shape == TARGET_SHAPE)
        started = time.perf_counter()
        variants = build_variants(shape, names, os.path.join(workdir, shape))
        print(f"  built {shape} ({' + '.join(names)}) in {time.perf_counter() - started:.0f} s", flush=True)
        for threads in threads_list:
            torch.set_num_threads(threads)
            for name in names:  # warm-up (and the ONNX session for this thread count), not timed
                embed(variants[name], clips[0][:16000])
            best = {name: [float("inf")] * n_clips for name in names}
            outs = {name: [None] * n_clips for name in names}
            for r in range(n_rounds):
                for i in range(n_clips):
                    k = (r * n_clips + i) % len(names)
                    for name in names[k:] + names[:k]:  # rotate who goes first
                        start = time.perf_counter()
                        outs[name][i] = embed(variants[name], clips[i])
                        best[name][i] = min(best[name][i], time.perf_counter() - start)
            per_clip = {name: float(np.mean(best[name])) for name in names}
            cos = {name: float(np.mean([float(torch.nn.functional.cosine_similarity(a, b, dim=0))
                                        for a, b in zip(outs[name], outs["float32"])])) for name in names}
            results[(shape, threads)] = {"per_clip": per_clip, "cos": cos}
            print(f"  {shape}, {threads} thread(s), load {os.getloadavg()[0]:.1f}: " + ", ".join(
                f"{name} {1e3 * per_clip[name]:.0f} ms/clip" for name in names), flush=True)
        del variants
    return results


def ort_profile(graphs: dict, threads: int, top: int = 8) -> None:
    """ONNX Runtime's own profile of each graph on one 4 s clip: the op types that take the time."""
    import json

    import onnxruntime as ort

    clip = make_clips(1)[0][:64000][None]
    for name, path in graphs.items():
        options = ort.SessionOptions()
        options.intra_op_num_threads, options.enable_profiling = threads, True
        options.profile_file_prefix = os.path.join(os.path.dirname(path), f"profile-{name}")
        session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        feeds = {"input_values": clip, "attention_mask": np.ones(clip.shape, dtype=np.int64)}
        for _ in range(3):
            session.run(None, feeds)
        with open(session.end_profiling()) as fh:
            events = json.load(fh)
        runs = [e for e in events if e.get("cat") == "Node" and e["name"].endswith("_kernel_time")]
        per_op: dict = {}
        for e in runs:
            op = e.get("args", {}).get("op_name", "?")
            per_op[op] = per_op.get(op, 0) + e["dur"]
        total = sum(per_op.values()) or 1
        ranked = sorted(per_op.items(), key=lambda kv: -kv[1])[:top]
        print(f"  profile {name} ({threads} threads, 3 runs of a 4 s clip, kernel time {total / 3e3:.0f} ms/run): "
              + ", ".join(f"{op} {100 * t / total:.0f} %" for op, t in ranked), flush=True)


def agreement(model_dir: str, dataset_dir: str, limit: int | None, threads: int) -> dict:
    """Zero-shot on the demo test split with each variant: predictions, UAR, per-clip time."""
    from smoothclap.evaluation.evaluate import label_embeddings, load_eval_set, load_model, uar, zero_shot_predict

    torch.set_num_threads(threads)
    eval_set = load_eval_set(dataset_dir, split="test")
    rows = eval_set.dataset if limit is None else eval_set.dataset.select(range(min(limit, len(eval_set.dataset))))
    refs = list(rows["label"])
    out = {"n": len(rows), "key": eval_set.key, "labels": eval_set.labels}
    for name in VARIANTS:
        model, processor = load_model(model_dir, dtype="float32", backend="torch")  # then the fast path
        to_cpu_fast_path(model, name, backend="torch", require_native_bf16=False)  # (bf16 even when emulated)
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
    from smoothclap.models.pipeline_smoothclap import text_embeddings

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


def _args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=os.path.join(ROOT, "smoothclap-demo", "smoothclap"),
                    help="trained SmoothCLAP folder for the agreement check (default: the demo's)")
    ap.add_argument("--dataset", default=os.path.join(ROOT, "smoothclap-demo", "cache", "demo"),
                    help="built corpus with a test split (default: the demo corpus)")
    ap.add_argument("--clips", type=int, default=6, help="clips of 3-5 s for the speed part (default 6)")
    ap.add_argument("--rounds", "--blocks", type=int, default=3, help="interleaved rounds, best kept (default 3)")
    ap.add_argument("--threads", default="1,2", help="torch/ONNX Runtime thread counts (default 1,2)")
    ap.add_argument("--shapes", default=",".join(SHAPES), help=f"encoder shapes (default {','.join(SHAPES)})")
    ap.add_argument("--no-onnx", action="store_true", help="leave out the ONNX Runtime variants")
    ap.add_argument("--no-answers", action="store_true", help="skip the trained model's agreement check")
    ap.add_argument("--profile", action="store_true", help="ONNX Runtime's per-op profile of the float and int8 graphs")
    ap.add_argument("--quick", action="store_true",
                    help="smoke run: 1 clip, 1 round, 2 threads, robust-12 only, 16 test clips")
    args = ap.parse_args(argv)
    if args.quick:
        args.clips, args.rounds, args.threads, args.shapes = 1, 1, "2", TARGET_SHAPE
    args.threads_list = [int(t) for t in args.threads.split(",")]
    args.shape_list = [x.strip() for x in args.shapes.split(",")]
    unknown = [x for x in args.shape_list if x not in SHAPES]
    if unknown:
        ap.error(f"unknown shape(s) {unknown}; choose from {list(SHAPES)}")
    return args


def print_cpu() -> tuple:
    from smoothclap.models.onnx_smoothclap import onnxruntime_available
    from smoothclap.models.pipeline_smoothclap import select_audio_backend  # noqa: F401  (the rules below are its rules)

    native, flags = cpu_native_bf16(), cpu_flags()
    fast = [f for f in _FAST_FLAGS if f in flags]
    shown = [f for f in ("avx2", "fma", "avx512f", *_FAST_FLAGS) if f in flags]
    ort = onnxruntime_available()
    print(f"CPU: {cpu_name()}; {os.cpu_count()} logical CPUs; flags: {' '.join(shown) or 'none of interest'}")
    print(f"torch {torch.__version__}, capability {torch.backends.cpu.get_cpu_capability()}, quantized engine "
          f"{torch.backends.quantized.engine}; onnxruntime "
          + (__import__("onnxruntime").__version__ if ort else "NOT installed")
          + f"; native bfloat16: { {True: 'yes', False: 'NO (bf16 is emulated here)', None: 'unknown'}[native] }; "
          f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())} (other work on the machine slows every "
          "variant; the interleaving keeps the ratios fair)")
    return native, fast, ort


def print_table(results) -> None:
    names = [n for n in VARIANTS + ONNX_VARIANTS if any(n in r["per_clip"] for r in results.values())]
    print("\n| shape | threads | " + " | ".join(f"{n} ms/clip (speed-up, cos)" for n in names) + " |")
    print("|---|---|" + "---|" * len(names))
    for (shape, threads), r in results.items():
        t, cos = r["per_clip"], r["cos"]
        cells = [f"{1e3 * t[n]:.0f} ({t['float32'] / t[n]:.2f}x, {cos[n]:.4f})" if n in t else "-" for n in names]
        print(f"| {shape} | {threads} | " + " | ".join(cells) + " |")


def print_targets(results, agree, fast_flags) -> None:
    target = FAST_CPU_TARGET if fast_flags else SPEED_TARGET
    why = f"the CPU has {', '.join(fast_flags)}" if fast_flags else "no VNNI or native BF16 on this CPU"
    speed_rows = {k: v for k, v in results.items() if k[0] == TARGET_SHAPE and k[1] == 2}
    for (shape, threads), r in speed_rows.items():
        t = r["per_clip"]
        best = max((n for n in t if n != "float32"), key=lambda n: t["float32"] / t[n])
        ratio = t["float32"] / t[best]
        print(f"  speed, {shape} on {threads} threads: best path {best} {ratio:.2f}x eager float32 (target >= "
              f"{target:g}x, {why}): " + verdict(ratio >= target, f"short by {target - ratio:.2f}x, "
                                                 f"{100 * (1 - ratio / target):.0f} %"))
    if not speed_rows:
        print(f"  speed: not measured at {TARGET_SHAPE} on 2 threads")
    if agree:
        for name in ("int8", "bfloat16"):
            a, d = agree[name]["agreement"], agree[name]["uar"] - agree["float32"]["uar"]
            print(f"  {name}: top-1 agreement {a:.2%} (target >= {AGREEMENT_TARGET:.0%}): "
                  + verdict(a >= AGREEMENT_TARGET, f"short by {AGREEMENT_TARGET - a:.2%}")
                  + f"; |UAR difference| {abs(d):.4f} (target <= {UAR_TARGET}): "
                  + verdict(abs(d) <= UAR_TARGET, f"over by {abs(d) - UAR_TARGET:.4f}"))


def main(argv=None) -> int:
    import tempfile

    args = _args(argv)
    native, fast_flags, ort = print_cpu()
    timed = VARIANTS if native else ("float32", "int8")
    if ort and not args.no_onnx:
        timed += ONNX_VARIANTS
    print(f"speed: {args.clips} clip(s) of 3-5 s, one at a time, best of {args.rounds} interleaved round(s), "
          f"threads {args.threads_list}, shapes {args.shape_list}; ONNX at {TARGET_SHAPE} only")
    with tempfile.TemporaryDirectory(prefix="cpu-fast-path-") as workdir:
        results = speed(args.shape_list, args.threads_list, args.clips, args.rounds, timed, workdir)
        if args.profile and ort and not args.no_onnx:
            folder = os.path.join(workdir, TARGET_SHAPE)
            ort_profile({"float32": os.path.join(folder, "float", "onnx", "audio.onnx"),
                         "int8": os.path.join(folder, "onnx-int8", "onnx", "audio.int8.onnx")},
                        max(args.threads_list))
    probe = None
    if not native and not args.quick:  # how slow emulated bf16 is: one 0.5 s clip, once each
        torch.set_num_threads(max(args.threads_list))
        variants = build_variants(TARGET_SHAPE, ("float32", "bfloat16"))
        clip = make_clips(1)[0][:8000]
        probe = {}
        for name in ("float32", "bfloat16", "float32"):
            start = time.perf_counter()
            embed(variants[name], clip)
            probe[name] = min(probe.get(name, float("inf")), time.perf_counter() - start)
        del variants
        print(f"  bf16 probe ({TARGET_SHAPE}, one 0.5 s clip, {max(args.threads_list)} threads): float32 "
              f"{1e3 * probe['float32']:.0f} ms, bfloat16 {1e3 * probe['bfloat16']:.0f} ms "
              f"({probe['bfloat16'] / probe['float32']:.1f}x SLOWER: emulated)", flush=True)
    print_table(results)
    if not native:
        print("bf16 not timed at the real shapes: this CPU has no native bfloat16 (emulated, "
              + (f"{probe['bfloat16'] / probe['float32']:.0f}x slower in the probe" if probe else "far slower")
              + "); to_cpu_fast_path refuses it here unless require_native_bf16=False")

    agree = None
    if args.no_answers:
        print("\nanswers: skipped (--no-answers)")
    elif os.path.isdir(args.model) and os.path.isdir(args.dataset):
        agree = agreement(args.model, args.dataset, 16 if args.quick else None, max(args.threads_list))
        fp = agree["float32"]
        print(f"\nanswers: {args.model} on {agree['key']} test ({agree['n']} clips), {max(args.threads_list)} threads")
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
        print("(the ONNX graphs' answers on trained weights: bench/onnx_agreement.py)")
    else:
        print(f"\nanswers: SKIPPED, no trained model/corpus at {args.model} / {args.dataset} "
              "(run `python demo.py`, or pass --model and --dataset)")

    print("\ntargets:")
    print_targets(results, agree, fast_flags)
    if args.quick:
        print("  (--quick: 1 clip, 1 round, 16 test clips: a smoke run, the figures mean little)")
    print("Measured in one run, variants interleaved, best of the rounds per clip; on a shared machine the absolute "
          "times carry the load of the moment, the ratios less so.")
    return 0


if __name__ == "__main__":
    sys.exit(main())

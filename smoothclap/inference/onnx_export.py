"""`smoothclap export-onnx MODEL_DIR OUT_DIR [--quantize int8] [--quantize-conv] [--no-text]`.

OUT_DIR is a full copy of the model folder (config, remote code, weights, processor files) plus

    onnx/audio.onnx        the audio encoder (input_values (B, T) float32 + attention_mask (B, T) int64
                           -> last_hidden_state (B, frames, hidden)), float32, dynamic batch and time
    onnx/audio.int8.onnx   the same with ONNX Runtime's dynamic int8 on MatMul/Gemm (--quantize int8)
    onnx/text.onnx         the text side to the L2-normalised embedding (input_ids, attention_mask,
                           token_type_ids -> text_embeds (B, projection_dim)), float32 (not with --no-text)
    onnx/README.md         what these are, how and with which versions they were made, the checks

Each graph is made with ``torch.onnx.export(..., dynamo=True)`` (onnxscript), weights as external
data (``*.onnx.data``: a tower past protobuf's 2 GB limit exports too), checked with
``onnx.checker``, and its answers compared with eager float32 on clips and texts of lengths the
export never saw, padded in one batch: the float graphs must agree within 1e-4 in cosine on the final
embeddings, or the export fails (exit 1). The pipeline, ``smoothclap evaluate`` and ``load_model``
use the folder with ``backend="onnx"`` / ``dtype="auto"`` (onnx_smoothclap.py).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import os
import platform
import shutil
import sys
import time

import numpy as np

FLOAT_COSINE_TOLERANCE = 1e-4  # 1 - cosine, float graph vs eager float32, final L2-normalised embeddings
EXPORT_PACKAGES = ("onnx", "onnxruntime", "onnxscript")
EXTRA = 'pip install "smoothclap[onnx]"'
_CPU_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_bf16", "amx_int8")


class ExportError(ValueError):
    """Bad input for the export (exit 2), said in one line."""


# --------------------------------------------------------------------------- graphs
def export_audio(encoder, path: str, opset: int | None = None) -> None:
    """The audio encoder to ONNX: (input_values, attention_mask) -> last_hidden_state, dynamic batch
    and time. Encoders that take no mask (group-norm feature encoders, wav2vec2-base) get none."""
    import torch
    from torch.export import Dim

    pass_mask = getattr(encoder.config, "feat_extract_norm", "layer") == "layer"

    class AudioTower(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = encoder

        def forward(self, input_values, attention_mask=None):
            return self.encoder(input_values, attention_mask=attention_mask, return_dict=True).last_hidden_state

    # batch 2 and a padded row: a batch of 1 would be specialised away, and the mask path must be traced
    x = torch.randn(2, 16000)
    mask = torch.ones(2, 16000, dtype=torch.long)
    mask[1, 12000:] = 0
    batch, time_ = Dim("batch", min=1), Dim("time", min=800)
    args = (x, mask) if pass_mask else (x,)
    shapes = {"input_values": {0: batch, 1: time_}}
    if pass_mask:
        shapes["attention_mask"] = {0: batch, 1: time_}
    names = ["input_values", "attention_mask"] if pass_mask else ["input_values"]
    with torch.no_grad():
        torch.onnx.export(AudioTower().eval(), args, path, dynamo=True, external_data=True, dynamic_shapes=shapes,
                          input_names=names, output_names=["last_hidden_state"], opset_version=opset)


def export_text(model, path: str, opset: int | None = None) -> None:
    """The text side to ONNX: tokens -> L2-normalised text embedding (tower, pooling, projection)."""
    import torch
    from torch.export import Dim

    class TextTower(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.model.get_text_features(input_ids=input_ids, attention_mask=attention_mask,
                                                token_type_ids=token_type_ids).pooler_output

    ids = torch.randint(1000, 2000, (2, 12))
    mask = torch.ones(2, 12, dtype=torch.long)
    mask[1, 9:] = 0
    batch, seq = Dim("batch", min=1), Dim("sequence", min=2, max=int(getattr(model.config.text_config,
                                                                       "max_position_embeddings", 512)))
    shapes = {name: {0: batch, 1: seq} for name in ("input_ids", "attention_mask", "token_type_ids")}
    with torch.no_grad():
        torch.onnx.export(TextTower().eval(), (ids, mask, torch.zeros_like(ids)), path, dynamo=True,
                          external_data=True, dynamic_shapes=shapes, opset_version=opset,
                          input_names=["input_ids", "attention_mask", "token_type_ids"], output_names=["text_embeds"])


def check_graph(path: str) -> None:
    import onnx

    onnx.checker.check_model(path)  # a path: external data and > 2 GB models are checked too


def quantize_int8(src: str, dst: str, conv: bool = False) -> list[str]:
    """ONNX Runtime dynamic int8 (QInt8 weights, activations quantised per run): MatMul/Gemm, and the
    convolutional front end too with ``conv`` (ConvInteger; it was SLOWER on the CPUs measured)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    ops = ["MatMul", "Gemm"] + (["Conv"] if conv else [])
    large = os.path.getsize(src) + os.path.getsize(src + ".data") if os.path.exists(src + ".data") else 0
    quantize_dynamic(src, dst, op_types_to_quantize=ops, weight_type=QuantType.QInt8,
                     use_external_data_format=large > 1_800_000_000)
    return ops


# --------------------------------------------------------------------------- agreement
def _clips(seed: int = 0) -> list[np.ndarray]:
    """Harmonic tones at lengths no export saw (0.37, 0.83, 1.61 s)."""
    rng = np.random.default_rng(seed)
    out = []
    for seconds in (1.61, 0.83, 0.37):
        t = np.arange(int(seconds * 16000)) / 16000
        f0 = rng.uniform(100, 300)
        wave = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 5)) + 0.05 * rng.standard_normal(t.shape)
        out.append((0.3 * wave).astype(np.float32))
    return out


def _cosines(a, b) -> list[float]:
    import torch

    return [float(x) for x in torch.nn.functional.cosine_similarity(a.float(), b.float(), dim=-1)]


def audio_agreement(model, processor, onnx_dir: str) -> dict:
    """Cosine of the final audio embeddings, each graph vs eager float32, clips padded in one batch."""
    import copy

    from smoothclap.models.onnx_smoothclap import available_exports, use_onnx_audio
    from smoothclap.models.pipeline_smoothclap import audio_embeddings

    clips = _clips()
    ref = audio_embeddings(model, processor, clips, batch_size=len(clips))
    out = {}
    for dtype, _path in available_exports(onnx_dir).items():
        swapped = copy.copy(model)  # shallow: only audio_model is replaced, on the copy
        swapped._modules = dict(model._modules)
        use_onnx_audio(swapped, dtype, available_exports(onnx_dir))
        cos = _cosines(audio_embeddings(swapped, processor, clips, batch_size=len(clips)), ref)
        out[dtype] = {"min_cosine": min(cos), "batch_size": len(clips), "seconds": [round(len(c) / 16000, 2)
                                                                                     for c in clips]}
    return out


def text_agreement(model, processor, path: str) -> dict:
    import torch

    from smoothclap.models.onnx_smoothclap import import_onnxruntime

    texts = ["this person is feeling angry.", "calm", "a long sentence about a very happy person who sings loudly"]
    enc = processor(text=texts, return_tensors="pt")
    if "token_type_ids" not in enc:
        enc["token_type_ids"] = torch.zeros_like(enc["input_ids"])
    with torch.no_grad():
        ref = model.get_text_features(**enc).pooler_output
    session = import_onnxruntime().InferenceSession(path, providers=["CPUExecutionProvider"])
    feeds = {k: enc[k].to(torch.long).numpy() for k in ("input_ids", "attention_mask", "token_type_ids")}
    got = torch.from_numpy(session.run(["text_embeds"], feeds)[0])
    return {"min_cosine": min(_cosines(got, ref)), "texts": len(texts)}


# --------------------------------------------------------------------------- the folder
def _versions() -> dict:
    out = {}
    for name in ("torch", "transformers", *EXPORT_PACKAGES):
        try:
            out[name] = importlib.import_module(name).__version__
        except Exception:  # noqa: BLE001  (a version string is informative only)
            out[name] = "?"
    return out


def cpu_summary() -> str:
    model, flags = platform.processor() or platform.machine(), set()
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                elif line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    shown = [f for f in _CPU_FLAGS if f in flags]
    return f"{model} (flags: {' '.join(shown) or 'none of ' + ', '.join(_CPU_FLAGS)})"


def write_readme(onnx_dir: str, report: dict) -> None:
    v = report["versions"]
    lines = [
        "# ONNX export of this SmoothCLAP model", "",
        "Made by `smoothclap export-onnx` (smoothclap/inference/onnx_export.py) with torch.onnx.export(dynamo=True).",
        "", f"Command: `{report['command']}`", "",
        "Versions: " + ", ".join(f"{k} {val}" for k, val in v.items()), "",
        f"Exported on: {report['cpu']}", "", "| file | what | inputs -> outputs |", "|---|---|---|",
        "| audio.onnx | audio encoder, float32 | input_values (B, T) float32 16 kHz normalised, attention_mask "
        "(B, T) int64 -> last_hidden_state (B, frames, hidden) |",
    ]
    if "int8" in report["audio"]:
        ops = "MatMul/Gemm" + (" and Conv (ConvInteger)" if report["quantize_conv"] else "")
        lines.append(f"| audio.int8.onnx | the same, ONNX Runtime dynamic int8 (QInt8 weights) on {ops} | as audio.onnx |")
    if report.get("text"):
        lines.append("| text.onnx | text tower + pooling + projection, float32 | input_ids, attention_mask, "
                     "token_type_ids (B, L) int64 -> text_embeds (B, d), L2-normalised |")
    lines += ["", "The audio graph stops at the encoder's frames: the model's own code pools them over the valid "
              "frames (attention_mask) and applies the projection head, in torch (onnx_smoothclap.py). Load with "
              "`pipeline(..., model=THIS_FOLDER, trust_remote_code=True, backend=\"onnx\")`, "
              "`load_model(THIS_FOLDER, backend=\"onnx\")` or `--backend onnx` / `--dtype auto`.", "",
              "## Checks at export", "", "- onnx.checker: passed for every graph.",
              *[f"- {dtype} audio graph vs eager float32, final L2-normalised embedding, {a['batch_size']} clips of "
                f"{a['seconds']} s padded in one batch: min cosine {a['min_cosine']:.6f}"
                for dtype, a in report["audio"].items()]]
    if report.get("text"):
        lines.append(f"- text graph vs eager float32: min cosine {report['text']['min_cosine']:.6f} over "
                     f"{report['text']['texts']} texts padded in one batch")
    lines += ["", "## Speed", "", "Not measured by the export. `python bench/cpu_fast_path.py` measures the ONNX "
              "float and int8 graphs against eager float32 on the CPU it runs on (docs/benchmarks.md has the figures "
              "and the CPUs). Quantising the convolutional front end (`--quantize-conv`) was SLOWER than MatMul/Gemm "
              "only on the CPUs measured (AMD EPYC Zen 5; see docs/benchmarks.md for the AVX2 EPYC), so it is "
              "off by default.", ""]
    with open(os.path.join(onnx_dir, "README.md"), "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines))


def export_folder(model_dir: str, out_dir: str, quantize: str | None = None, quantize_conv: bool = False,
                  text: bool = True, command: str = "", log=print) -> dict:
    """Copy ``model_dir`` to ``out_dir`` and add its onnx/ folder (module docstring); returns the report."""
    from smoothclap.evaluation.predict import load_model

    started = time.perf_counter()
    shutil.copytree(model_dir, out_dir, ignore=shutil.ignore_patterns("onnx", "__pycache__"), dirs_exist_ok=True)
    onnx_dir = os.path.join(out_dir, "onnx")
    os.makedirs(onnx_dir, exist_ok=True)
    model, processor = load_model(model_dir, dtype="float32", backend="torch")
    audio_path = os.path.join(onnx_dir, "audio.onnx")
    log(f"exporting the audio encoder to {audio_path}")
    export_audio(model.audio_model, audio_path)
    check_graph(audio_path)
    if quantize == "int8":
        log("quantising it (ONNX Runtime dynamic int8, " + ("MatMul/Gemm/Conv" if quantize_conv else "MatMul/Gemm")
            + ")")
        quantize_int8(audio_path, os.path.join(onnx_dir, "audio.int8.onnx"), conv=quantize_conv)
        check_graph(os.path.join(onnx_dir, "audio.int8.onnx"))
    report = {"command": command, "versions": _versions(), "cpu": cpu_summary(), "quantize_conv": quantize_conv}
    report["audio"] = audio_agreement(model, processor, onnx_dir)
    if text:
        text_path = os.path.join(onnx_dir, "text.onnx")
        log(f"exporting the text side to {text_path}")
        export_text(model, text_path)
        check_graph(text_path)
        report["text"] = text_agreement(model, processor, text_path)
    report["seconds"] = round(time.perf_counter() - started, 1)
    write_readme(onnx_dir, report)
    with open(os.path.join(onnx_dir, "export.json"), "w", encoding="utf-8") as fh:
        json.dump(report, fh, indent=2)
    return report


# --------------------------------------------------------------------------- command line
def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0].strip("`"),
                                epilog="OUT_DIR is a copy of MODEL_DIR plus onnx/ (audio.onnx, audio.int8.onnx, "
                                       "text.onnx, README.md); load it with --backend onnx or --dtype auto.")
    p.add_argument("model_dir", metavar="MODEL_DIR", help="a saved SmoothCLAP folder")
    p.add_argument("out_dir", metavar="OUT_DIR", help="new folder: the model's files plus onnx/")
    p.add_argument("--quantize", choices=("int8",), default=None,
                   help="also write onnx/audio.int8.onnx (ONNX Runtime dynamic int8 on MatMul/Gemm)")
    p.add_argument("--quantize-conv", action="store_true",
                   help="with --quantize int8: quantise the convolutional front end too (ConvInteger; SLOWER on "
                        "the CPUs measured, docs/benchmarks.md)")
    p.add_argument("--no-text", action="store_true", help="do not export the text side (text.onnx)")
    return p


def _check_inputs(args) -> None:
    from smoothclap.evaluation import EvaluationError
    from smoothclap.evaluation.predict import check_model_source

    missing = [name for name in EXPORT_PACKAGES if importlib.util.find_spec(name) is None]
    if missing:
        raise ExportError(f"export-onnx needs {', '.join(missing)}, not installed: {EXTRA}.")
    if not os.path.isdir(args.model_dir):
        raise ExportError(f"model folder {args.model_dir!r} not found; pass a saved SmoothCLAP folder.")
    try:
        check_model_source(args.model_dir)
    except EvaluationError as err:
        raise ExportError(str(err)) from None
    if args.quantize_conv and args.quantize != "int8":
        raise ExportError("--quantize-conv needs --quantize int8.")
    if os.path.exists(args.out_dir) and (not os.path.isdir(args.out_dir) or os.listdir(args.out_dir)):
        raise ExportError(f"OUT_DIR {args.out_dir!r} exists and is not empty; pass a new folder.")
    if os.path.abspath(args.out_dir).startswith(os.path.abspath(args.model_dir) + os.sep):
        raise ExportError("OUT_DIR must not be inside MODEL_DIR; pass a folder beside it.")


def cli(argv=None, prog: str | None = None) -> int:
    args = build_parser(prog).parse_args(argv)
    try:
        _check_inputs(args)
    except ExportError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    command = " ".join(["smoothclap export-onnx", *(sys.argv[2:] if argv is None else argv)])
    if not os.path.isfile(os.path.join(args.model_dir, "onnx_smoothclap.py")):
        print("note: this folder's remote code predates the ONNX backend (no onnx_smoothclap.py): load_model, "
              "`smoothclap evaluate --backend onnx` and the runner use the export; for pipeline(..., backend='onnx') "
              "re-save the model with the current code (model.save_pretrained).", file=sys.stderr)
    report = export_folder(args.model_dir, args.out_dir, args.quantize, args.quantize_conv, not args.no_text,
                           command=command, log=lambda m: print(m, file=sys.stderr))
    worst = 1 - report["audio"]["float32"]["min_cosine"]
    if report.get("text"):
        worst = max(worst, 1 - report["text"]["min_cosine"])
    for dtype, a in report["audio"].items():
        print(f"{dtype} audio graph: min cosine to eager float32 {a['min_cosine']:.6f}")
    if report.get("text"):
        print(f"text graph: min cosine to eager float32 {report['text']['min_cosine']:.6f}")
    print(f"wrote {os.path.join(args.out_dir, 'onnx')} in {report['seconds']} s")
    if worst > FLOAT_COSINE_TOLERANCE:
        print(f"error: the float graphs differ from eager float32 by 1 - cosine = {worst:.2e} > "
              f"{FLOAT_COSINE_TOLERANCE}: do not use this export (report it with onnx/export.json).", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(cli())

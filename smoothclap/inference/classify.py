"""smoothclap classify: zero-shot classification of audio files, folders, globs, path lists or
a built dataset, printed to the terminal or written to a file (JSONL, CSV, Parquet).

    smoothclap classify clip.wav other.flac --labels "angry,happy,sad,neutral" --model PATH_OR_REPO
    smoothclap classify corpus/ --labels "angry,happy,sad,neutral" --model M --output labels.parquet
    smoothclap classify --dataset built/ --split test --labels ... --model M --output test.jsonl --top 2
    accelerate launch --multi_gpu --num_processes 8 -m smoothclap classify corpus/ ... --output labels.csv

Without ``--output`` it prints a ranked table per file (``--json``: one JSON object). With
``--output`` one row per clip (per window with ``--window``) goes to the file, streamed: clips
are decoded in DataLoader workers and batched by length, the labels embedded once, and every
batch is on disk before the next one, in ``<output>.parts/``. Killed (kill -9, SIGTERM,
Ctrl-C) and started again with the same command, it continues where it stopped; the parts
are merged into the output at the end. Clips that cannot be read or are too short go to
``<output>.errors.jsonl`` with the reason (the terminal shows ``error: PATH: reason``).
docs/inference.md has the whole workflow. Exit status (``cli``, ``smoothclap classify``,
``smoothclap-classify``): 0 every clip classified, 1 some clip failed (the others are still
classified), 2 bad input (one ``error:`` line, before any work), 130/143 stopped by
SIGINT/SIGTERM (resume with the same command). ``main(argv)`` returns the results (terminal
mode) or the run's summary for Python callers; ``smoothclap.inference.classify_corpus`` is the
same from Python.
"""

from __future__ import annotations

import argparse
import json
import sys


def _dtype(value: str) -> str:
    """--dtype: whatever pipeline_smoothclap.check_audio_dtype accepts (choices grow with the
    CPU fast path), refused at parse time with the choices named."""
    import smoothclap.models.pipeline_smoothclap as pipeline_smoothclap

    try:
        return pipeline_smoothclap.check_audio_dtype(value)
    except ValueError:
        choices = ", ".join(repr(c) for c in getattr(pipeline_smoothclap, "CPU_FAST_PATH_DTYPES", ()))
        raise argparse.ArgumentTypeError(f"invalid choice: {value!r} (choose from {choices})") from None


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    """``prog``: how the usage line names the command (default: how it was started)."""
    p = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="Example:\n  smoothclap classify recordings/ --labels 'angry,happy,sad,neutral' "
                                       "--model M --output labels.csv --num-workers 2 --batch-size 8")
    p.add_argument("files", nargs="*", help="audio files, folders (searched recursively) or glob patterns "
                                            "(quote them: 'data/**/*.flac')")
    src = p.add_argument_group("more inputs")
    src.add_argument("--file-list", metavar="FILE", help="a text file of audio paths, one per line (# comments; "
                                                         "relative paths are relative to the list's folder)")
    src.add_argument("--dataset", metavar="DIR", help="a built dataset folder (smoothclap build / save_to_disk): "
                                                      "classify its rows")
    src.add_argument("--split", default="all", help="--dataset splits: 'all' (default) or comma-separated names")
    p.add_argument("--labels", required=True, help='comma-separated candidate labels, e.g. "angry,happy,sad,neutral"')
    p.add_argument("--model", required=True, help="SmoothCLAP folder (save_pretrained) or Hub repo id")
    p.add_argument("--template", action="append", default=None,
                   help="prompt template with {} for the label (default: the model's own, else 'This is a sound "
                        "of {}.'); repeat for an ensemble")
    p.add_argument("--multi-label", action="store_true", help="independent scores per label (tags that co-occur)")
    p.add_argument("--window", type=float, default=None, help="cut clips longer than this many seconds into "
                                                              "windows: one row per window, with start and end")
    p.add_argument("--hop", type=float, default=None, help="window hop in seconds (default: the window)")
    p.add_argument("--pool-windows", action="store_true", help="with --window: one row per clip, the mean of its "
                                                               "windows' embeddings")
    p.add_argument("--top", type=int, default=None, help="keep only the best K labels per row (default: all)")
    p.add_argument("--json", action="store_true", help="print JSON: {file: [{label, score}, ...]} (no --output)")
    out = p.add_argument_group("corpus runs")
    out.add_argument("--output", metavar="FILE", help="write rows to FILE: .jsonl, .csv or .parquet (resumable)")
    out.add_argument("--embeddings", action="store_true", help="also the audio embeddings: a column in Parquet, "
                                                               "else <output stem>.embeddings.npy (embedding_row)")
    out.add_argument("--overwrite", action="store_true", help="replace a finished --output, or drop an unfinished "
                                                              "run's parts and start again")
    out.add_argument("--batch-size", type=int, default=None, help="clips per forward (default: 1 on CPU, 16 on GPU)")
    out.add_argument("--num-workers", type=int, default=None,
                     help="DataLoader workers that decode and resample (default: 0 for <= 8 clips, else half the "
                          "cores, 1 to 4)")
    out.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--dtype", default="auto", type=_dtype,
                   help="audio encoder on CPU: auto (default: bfloat16 where the CPU has native bf16, else ONNX "
                        "Runtime int8 where the model folder has an export (smoothclap export-onnx), else float32; "
                        "the choice is logged), float32 (exact), int8 (PyTorch dynamic int8) or bfloat16")
    p.add_argument("--backend", default="auto", choices=("auto", "torch", "onnx", "onnxruntime"),
                   help="auto (default), torch, or onnx (ONNX Runtime on the folder's onnx/ export; pip install "
                        "'smoothclap[onnx]')")
    p.add_argument("--device", default=None, help="torch device (default: cuda if available, else cpu; under "
                                                  "accelerate launch each process's own)")
    return p


def _labels(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _table(path: str, ranked: list[dict]) -> str:
    width = max(len(r["label"]) for r in ranked)
    lines = [path]
    for rank, r in enumerate(ranked, 1):
        lines.append(f"  {rank:>2}. {r['label']:<{width}}  {r['score']:.3f}")
    return "\n".join(lines)


def _run(args) -> dict:
    from smoothclap.inference import classify_corpus

    if args.json and args.output:
        raise ValueError("--json prints to the terminal and --output writes a file: choose one.")
    return classify_corpus(
        args.files, _labels(args.labels), args.model, args.output, file_list=args.file_list, dataset=args.dataset,
        split=args.split, templates=args.template, multi_label=args.multi_label, window=args.window, hop=args.hop,
        pool_windows=args.pool_windows, top=args.top, embeddings=args.embeddings, batch_size=args.batch_size,
        num_workers=args.num_workers, dtype=args.dtype, backend=args.backend, device=args.device,
        progress=not args.no_progress, overwrite=args.overwrite, handle_signals=True)


def main(argv=None, prog: str | None = None) -> dict:
    """Terminal mode: {file: ranked [{label, score}]}; with --output: the run's summary.
    SystemExit(2) on bad input, 1 when a clip failed, 128 + signal when stopped."""
    from smoothclap.inference.runner import Stopped

    args = build_parser(prog).parse_args(argv)
    try:
        summary = _run(args)
    except ValueError as err:  # bad options, inputs, labels, template or model folder (InputError too)
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(2) from None
    except Stopped as stop:
        if args.output:
            print(f"stopped by signal {stop.signum}: finished clips are saved in {args.output}.parts; run the same "
                  "command again to continue.", file=sys.stderr)
        raise SystemExit(128 + stop.signum) from None
    if args.output is None:
        return _print(summary, args.json)
    if summary["rank"] == 0:
        world = f" ({summary['world']} processes)" if summary["world"] > 1 else ""
        print(f"{summary['rows']} rows for {summary['clips'] - summary['failed']} clips -> {summary['output']}{world}"
              + (f"; {summary['failed']} failed: see {summary['errors_file']}" if summary["failed"] else ""),
              file=sys.stderr)
    if summary["failed"]:
        raise SystemExit(1)
    return summary


def _print(summary: dict, as_json: bool) -> dict:
    results = summary["results"]
    if as_json:
        print(json.dumps(results, indent=2))
    elif results:
        print("\n\n".join(_table(path, ranked) for path, ranked in results.items()))
    for path, message in summary["errors"].items():
        print(f"error: {path}: {message}", file=sys.stderr)
    if summary["errors"]:
        raise SystemExit(1)
    return results


def cli(argv=None, prog: str | None = None) -> int:
    """Console script: the exit status, not the results."""
    from smoothclap.console import exit_status

    return exit_status(main, argv, prog=prog)


if __name__ == "__main__":
    sys.exit(cli())

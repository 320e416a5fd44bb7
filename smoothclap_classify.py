"""smoothclap classify: zero-shot classification of audio files from the command line.

    smoothclap classify clip.wav other.flac --labels "angry,happy,sad,neutral" --model PATH_OR_REPO
        [--template "this person is feeling {}."] [--template ...] [--multi-label]
        [--window SECONDS --hop SECONDS] [--top K] [--json] [--dtype float32|bfloat16|int8]

Prints a ranked table per file (or one JSON object per run with ``--json``). It runs the
model's own zero-shot pipeline (pipeline_smoothclap.py, the remote code saved with the
model), so files in any format soundfile reads, at any rate, mono or stereo, work.
``--dtype int8`` runs the audio encoder quantised (1.4-1.6x faster on CPU; README, "CPU fast
path"); the default float32 is exact. Exit status (``cli``, the console scripts
``smoothclap classify`` and ``smoothclap-classify``): 0 every file classified, 1 a file
could not be read (the others are still printed), 2 bad input (one ``error:`` line).
``main(argv)`` returns the results for Python callers.
"""

from __future__ import annotations

import argparse
import json
import sys


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    """``prog``: how the usage line names the command (default: how it was started)."""
    p = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    p.add_argument("files", nargs="+", help="audio files (WAV, FLAC, OGG, ...)")
    p.add_argument("--labels", required=True, help='comma-separated candidate labels, e.g. "angry,happy,sad,neutral"')
    p.add_argument("--model", required=True, help="SmoothCLAP folder (save_pretrained) or Hub repo id")
    p.add_argument("--template", action="append", default=None,
                   help="prompt template with {} for the label (default 'This is a sound of {}.'); repeat for an ensemble")
    p.add_argument("--multi-label", action="store_true", help="independent scores per label (tags that co-occur)")
    p.add_argument("--window", type=float, default=None, help="embed clips longer than this many seconds in windows")
    p.add_argument("--hop", type=float, default=None, help="window hop in seconds (default: the window)")
    p.add_argument("--top", type=int, default=None, help="show only the best K labels per file")
    p.add_argument("--json", action="store_true", help="print JSON: {file: [{label, score}, ...]}")
    p.add_argument("--dtype", default="float32", choices=("float32", "bfloat16", "int8"),
                   help="audio encoder on CPU: float32 (exact, default), int8 (dynamic int8 quantisation, 1.4-1.6x "
                        "faster) or bfloat16 (only fast on CPUs with avx512_bf16/amx_bf16)")
    return p


def _labels(text: str) -> list[str]:
    from pipeline_smoothclap import check_labels

    return check_labels([part.strip() for part in text.split(",") if part.strip()])


def _table(path: str, ranked: list[dict]) -> str:
    width = max(len(r["label"]) for r in ranked)
    lines = [path]
    for rank, r in enumerate(ranked, 1):
        lines.append(f"  {rank:>2}. {r['label']:<{width}}  {r['score']:.3f}")
    return "\n".join(lines)


def classify(files, labels, model, templates=None, multi_label=False, window=None, hop=None,
             dtype: str = "float32") -> tuple[dict, dict]:
    """({file: ranked [{label, score}]}, {file: error}) with the model's own zero-shot pipeline;
    a file that cannot be read is reported, the others are still classified. ``dtype``: the
    pipeline's ``audio_dtype`` (the audio encoder's CPU fast path)."""
    from transformers import pipeline

    from smoothclap_eval.predict import check_model_source
    from pipeline_smoothclap import check_templates

    kwargs = dict(candidate_labels=labels, multi_label=multi_label, window=window, hop=hop)
    if templates:
        kwargs["hypothesis_template"] = check_templates(templates)
    source = check_model_source(model)  # clear errors for a missing folder or one without the .py files
    try:
        clf = pipeline("zero-shot-audio-classification", model=source, trust_remote_code=True,
                       **({} if dtype == "float32" else {"audio_dtype": dtype}))
    except OSError as err:
        raise ValueError(f"Could not load model {model!r}: {str(err).splitlines()[0]}") from None
    results, errors = {}, {}
    for path in files:
        try:
            results[path] = clf(path, **kwargs)
        except ValueError as err:
            errors[path] = str(err)
    return results, errors


def main(argv=None, prog: str | None = None) -> dict:
    """{file: ranked [{label, score}]}; SystemExit(2) on bad input, SystemExit(1) when a file failed."""
    args = build_parser(prog).parse_args(argv)
    try:
        if args.top is not None and args.top < 1:
            raise ValueError(f"--top must be >= 1, got {args.top}.")
        results, errors = classify(args.files, _labels(args.labels), args.model, args.template, args.multi_label,
                                   args.window, args.hop, args.dtype)
    except ValueError as err:  # bad labels, template or model folder
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(2) from None
    if args.top:
        results = {path: ranked[: args.top] for path, ranked in results.items()}
    if args.json:
        print(json.dumps(results, indent=2))
    elif results:
        print("\n\n".join(_table(path, ranked) for path, ranked in results.items()))
    for path, message in errors.items():
        print(f"error: {path}: {message}", file=sys.stderr)
    if errors:
        raise SystemExit(1)
    return results


def cli(argv=None, prog: str | None = None) -> int:
    """Console script: the exit status, not the results."""
    from smoothclap_cli import exit_status

    return exit_status(main, argv, prog=prog)


if __name__ == "__main__":
    sys.exit(cli())

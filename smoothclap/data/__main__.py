"""Command line for the SmoothCLAP dataset builders.

    python -m smoothclap.data build msp_podcast --data-dir /data/MSP-PODCAST --output data/msp
    python -m smoothclap.data export-captions --input data/msp --output data/msp-captions
    python -m smoothclap.data push-to-hub --input data/msp-captions --repo me/msp-captions
    python -m smoothclap.data list
    smoothclap build msp_podcast --data-dir ... --output ...    # the same `build`; --list = `list`

A corpus problem (missing folder or label file, unknown codes or options, ...) prints one
line ``error: ...`` and exits with status 2; a failed upload after a finished build prints
the build summary, then one ``error:`` line saying how to upload later, and exits with 1.
"""

from __future__ import annotations

import argparse
import json
import os
import sys


def _parse_option(text: str) -> tuple[str, object]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"--option expects KEY=VALUE, got {text!r}")
    key, value = text.split("=", 1)
    try:
        parsed = json.loads(value)  # numbers, true/false, lists ...
    except json.JSONDecodeError:
        parsed = value
    return key.strip().replace("-", "_"), parsed


def add_build_arguments(b: argparse.ArgumentParser, corpus_optional: bool = False) -> None:
    """The options of `build` (``python -m smoothclap.data build`` and ``smoothclap build``)."""
    if corpus_optional:  # smoothclap build: --list instead of a `list` command
        b.add_argument("corpus", nargs="?", help="corpus name (see --list), e.g. msp_podcast")
        b.add_argument("--list", action="store_true", help="list the corpora, their configs and options, and exit")
    else:
        b.add_argument("corpus", help="corpus name (see `list`), e.g. msp_podcast")
    b.add_argument("--data-dir", help="the corpus root folder as distributed")
    b.add_argument("--output", "-o", required=not corpus_optional,
                   help="output folder (save_to_disk layout + card)" + (" (required)" if corpus_optional else ""))
    b.add_argument("--config", default=None, help="corpus config (default: 'default' or the first)")
    b.add_argument(
        "--num-workers",
        type=int,
        default=os.cpu_count() or 1,
        help="eGeMAPS worker processes (default: number of CPUs)",
    )
    b.add_argument("--seed", type=int, default=0, help="caption seed (captions depend on (seed, id) only)")
    b.add_argument(
        "--caption-variant",
        default="emotion_plus",
        help="emotion_plus (default), emotion_only or no_emotion",
    )
    b.add_argument(
        "--max-tags",
        type=int,
        default=None,
        help="at most this many non-emotion sentences per caption (default: captions.DEFAULT_MAX_TAGS)",
    )
    b.add_argument(
        "--thresholds",
        help="thresholds.json to reuse (e.g. MSP-Podcast's for an evaluation corpus): its acoustic cut points, "
        "and its arousal/valence/dominance ones only if the corpus rates on the same scale; default: fit on train",
    )
    b.add_argument("--paths-only", action="store_true", help="store absolute audio paths, no audio bytes")
    b.add_argument("--drop-unknown", action="store_true", help="drop rows with unknown codes/splits (counted)")
    b.add_argument(
        "--exclude-other",
        action="store_true",
        help="MSP-Podcast: also drop EmoClass O (other), counted (default: kept, as in the paper)",
    )
    b.add_argument("--no-features", action="store_true", help="skip eGeMAPS (duration from the file header only)")
    b.add_argument("--cache-dir", help="keep the intermediate Arrow data here and reuse it on rebuilds")
    b.add_argument("--overwrite", action="store_true", help="replace an earlier build in --output")
    b.add_argument(
        "--option",
        action="append",
        default=[],
        type=_parse_option,
        metavar="KEY=VALUE",
        help="a corpus option (repeatable; VALUE parsed as JSON when possible); `list` shows each corpus' options",
    )
    b.add_argument("--progress", action="store_true", help="also show a per-clip eGeMAPS progress bar")
    b.add_argument("--push-to-hub", metavar="REPO", help="upload the result to this Hub dataset repo")
    b.add_argument("--public", action="store_true", help="with --push-to-hub: a public repo (default private)")


def make_parser(prog: str = "python -m smoothclap.data") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Build SmoothCLAP datasets (audio, eGeMAPS features, tags, captions).",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    add_build_arguments(sub.add_parser("build", help="build one corpus into a save_to_disk folder"))

    p = sub.add_parser("push-to-hub", help="upload a built (or captions-only) folder to a Hub dataset repo")
    p.add_argument("--input", "-i", required=True, help="a folder written by `build` or `export-captions`")
    p.add_argument("--repo", required=True, help="the Hub dataset repo, e.g. me/msp-captions")
    p.add_argument("--public", action="store_true", help="a public repo (default private)")

    e = sub.add_parser("export-captions", help="copy a built dataset without its audio column")
    e.add_argument("--input", "-i", required=True, help="a folder written by `build`")
    e.add_argument("--output", "-o", required=True, help="output folder")
    e.add_argument("--overwrite", action="store_true", help="replace an earlier export in --output")

    sub.add_parser("list", help="list corpora, their configs and options")
    return parser


def _cmd_build(args) -> int:
    from .orchestrate import build

    options = dict(args.option)
    if args.exclude_other:
        options["exclude_other"] = True
    result = build(
        args.corpus,
        args.data_dir,
        args.output,
        config_name=args.config,
        options=options,
        num_workers=args.num_workers,
        seed=args.seed,
        caption_variant=args.caption_variant,
        max_tags=args.max_tags,
        thresholds=args.thresholds,
        paths_only=args.paths_only,
        drop_unknown=args.drop_unknown,
        cache_dir=args.cache_dir,
        features=not args.no_features,
        overwrite=args.overwrite,
        progress=args.progress,
    )
    print(result.build_report.summary())
    print(f"saved to {args.output} (datasets.load_from_disk); report: {os.path.join(args.output, 'build_report.json')}")
    if args.push_to_hub:  # after the summary: a failed upload must not hide a finished build
        _push(args.output, args.push_to_hub, private=not args.public)
    return 0


def _push(folder: str, repo: str, private: bool) -> None:
    from .export import push_to_hub

    push_to_hub(folder, repo, private=private)
    print(f"uploaded {folder} to the Hub dataset repo {repo}" + (" (private)" if private else ""))


def _cmd_push(args) -> int:
    _push(args.input, args.repo, private=not args.public)
    return 0


def _cmd_export(args) -> int:
    from .export import export_captions

    result = export_captions(args.input, args.output, overwrite=args.overwrite)
    counts = ", ".join(f"{split} {len(ds)}" for split, ds in result.items())
    print(f"captions-only copy (no audio) saved to {args.output}: {counts}")
    return 0


def _cmd_list(args) -> int:
    from .corpus import list_corpora

    for entry in list_corpora():
        if "error" in entry:
            print(f"{entry['name']}: unavailable ({entry['error']})")
            continue
        print(entry["name"])
        for cname, cfg in entry["configs"].items():
            labels = ", ".join(cfg["labels"]) if cfg["labels"] else "no class labels"
            scale = cfg["rating_scale"]
            ratings = f"; ratings {scale[0]:g}-{scale[1]:g}" if scale else ""
            data = "" if cfg["needs_data_dir"] else " (no --data-dir needed)"
            print(f"  config {cname}: {labels}{ratings}{data}")
        for key, help_text in entry["options"].items():
            print(f"  --option {key}=...: {help_text}")
    return 0


def _run(command, args) -> int:
    from .corpus import CorpusError
    from .export import HubUploadError

    try:
        return command(args)
    except (CorpusError, HubUploadError) as err:
        message = " ".join(str(err).split())
        print(f"error: {message}", file=sys.stderr)
        return 1 if isinstance(err, HubUploadError) else 2


def main(argv=None) -> int:
    args = make_parser().parse_args(argv)
    commands = {"build": _cmd_build, "export-captions": _cmd_export, "push-to-hub": _cmd_push, "list": _cmd_list}
    return _run(commands[args.command], args)


def build_cli(argv=None, prog: str = "smoothclap build") -> int:
    """``smoothclap build CORPUS ...`` (= ``python -m smoothclap.data build CORPUS ...``) and
    ``smoothclap build --list``."""
    parser = argparse.ArgumentParser(
        prog=prog, description="Build one corpus into a dataset folder (audio, eGeMAPS features, tags, captions) "
        "for `smoothclap train` and `smoothclap evaluate`. Also: python -m smoothclap.data export-captions | "
        "push-to-hub.")
    add_build_arguments(parser, corpus_optional=True)
    args = parser.parse_args(argv)
    if args.list:
        return _run(_cmd_list, args)
    if not args.corpus or not args.output:
        parser.error("give a corpus name and --output (smoothclap build --list shows the corpora)")
    return _run(_cmd_build, args)


if __name__ == "__main__":
    sys.exit(main())

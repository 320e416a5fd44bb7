"""SmoothCLAP, contrastive language-audio models for paralinguistics: build datasets, train, evaluate, classify, publish, demo.

    smoothclap demo                       # the offline demo (build, train, evaluate, classify)
    smoothclap build CORPUS --data-dir D --output DIR     # a dataset (python -m smoothclap.data build)
    smoothclap train --config msp_podcast.yaml [flags]    # train (accelerate launch -m smoothclap train)
    smoothclap evaluate --model M --dataset DIR --output-dir OUT
    smoothclap classify clip.wav --labels "angry,happy,sad,neutral" --model M
    smoothclap export-onnx MODEL_DIR OUT_DIR --quantize int8   # ONNX Runtime backend (--backend onnx / --dtype auto)
    smoothclap publish MODEL_DIR --repo-id ORG/NAME [--dry-run]
    smoothclap app --model M [--port N]   # the web demo

``smoothclap COMMAND --help`` is that command's own help. Exit status: 0 done, 1 a run that
failed (a clip, an upload, a training error), 2 bad input or usage (one ``error:`` line); a
training run stopped by a signal exits 128 + the signal (130 Ctrl-C, 143 SIGTERM). The older
entry points stay: ``smoothclap-train``, ``evaluate-zeroshot``, ``smoothclap-classify``.

Importing this module imports nothing heavy: each command loads its module when it runs.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys

from smoothclap.console import _status, exit_status, invocation  # noqa: F401  (the commands' helpers)

# name -> (module, function, one-line help). Functions take (argv, prog=...) and return the
# exit status, except publish and app (other modules' `main(argv) -> int`, prog their own).
COMMANDS = {
    "demo": ("smoothclap.demo", "cli", "the offline demo: build a synthetic corpus, train SmoothCLAP and ParaCLAP, "
                            "evaluate them, classify a clip"),
    "build": ("smoothclap.data.__main__", "build_cli", "build a corpus (audio, eGeMAPS, captions) into a dataset "
                                                       "folder; --list shows the corpora"),
    "train": ("smoothclap.training.trainer", "cli", "train SmoothCLAP (or ParaCLAP, --beta 0) from one CPU to many GPUs"),
    "evaluate": ("smoothclap.evaluation.evaluate", "cli", "zero-shot UAR of a model on built datasets (the paper's Table 1)"),
    "classify": ("smoothclap.inference.classify", "cli", "zero-shot classification of audio files with your own labels"),
    "export-onnx": ("smoothclap.inference.onnx_export", "cli", "export a model's audio and text towers to ONNX "
                                                           "(--quantize int8) for the ONNX Runtime backend"),
    "publish": ("smoothclap.release.publish", "main", "upload a model or dataset folder to the Hugging Face Hub, "
                                              "checked first (--dry-run: only the checks)"),
    "app": ("smoothclap.app.app", "main", "start the web demo (a Gradio app, as on a Hugging Face Space)"),
}
OWN_PROG = {"publish", "app"}  # their parsers name themselves "smoothclap publish" / "smoothclap app"


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("smoothclap")
    except PackageNotFoundError:
        return "(not installed)"


def build_parser() -> argparse.ArgumentParser:
    """For ``smoothclap --help`` only: each command parses its own arguments."""
    parser = argparse.ArgumentParser(
        prog="smoothclap", description=__doc__.split("\n\n")[0],
        usage="smoothclap [-h] [--version] COMMAND [ARGS ...]",
        epilog="`smoothclap COMMAND --help` shows a command's options. Exit status: 0 done, 1 a run that "
               "failed, 2 bad input or usage; a stopped training run 130 (Ctrl-C) or 143 (SIGTERM).")
    parser.add_argument("--version", action="version", version=f"smoothclap {_version()}")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")
    for name, (_, _, help_text) in COMMANDS.items():
        sub.add_parser(name, help=help_text, add_help=False)
    return parser


def _clone_app_package() -> None:
    """A wheel installs ``space/`` as the package ``smoothclap.app`` (pyproject.toml's package-dir);
    in a clone the folder is loaded under that name."""
    if "smoothclap.app" in sys.modules or importlib.util.find_spec("smoothclap.app") is not None:
        return
    from smoothclap.assets import shipped_folder

    folder = shipped_folder("space")
    spec = importlib.util.spec_from_file_location("smoothclap.app", folder / "__init__.py",
                                                  submodule_search_locations=[str(folder)])
    module = importlib.util.module_from_spec(spec)
    sys.modules["smoothclap.app"] = module
    spec.loader.exec_module(module)


def _load(name: str):
    """The command's function, or None with one ``error:`` line when its module is not here."""
    module_name, function, _ = COMMANDS[name]
    if module_name.startswith("smoothclap.app"):
        _clone_app_package()
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        # only the command's own module missing is "not here"; a missing dependency is the user's to see
        if err.name is None or not module_name.startswith(err.name):
            raise
        print(f"error: `smoothclap {name}` is not available in this installation (no module {module_name}); "
              "reinstall smoothclap from a release that has it.", file=sys.stderr)
        return None
    return getattr(module, function)


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if not argv:
        parser.print_help(sys.stderr)
        return 2
    name = argv[0]
    if name.startswith("-"):  # --help, --version (0), an unknown option (2)
        try:
            parser.parse_args(argv)
        except SystemExit as stop:
            return _status(stop)
        return 2
    if name not in COMMANDS:
        close = [c for c in COMMANDS if c.startswith(name[:2])]
        hint = f" (did you mean {' or '.join(close)}?)" if close else ""
        print(f"{parser.format_usage().rstrip()}\nerror: unknown command {name!r}{hint}; commands: "
              f"{', '.join(COMMANDS)}.", file=sys.stderr)
        return 2
    function = _load(name)
    if function is None:
        return 1
    try:  # --help and argparse errors exit inside the command: their status, as an int
        status = function(argv[1:]) if name in OWN_PROG else function(argv[1:], prog=f"smoothclap {name}")
    except SystemExit as stop:
        return _status(stop)
    return int(status or 0)


if __name__ == "__main__":
    sys.exit(main())

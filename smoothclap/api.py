"""One Python function per job, with the command's arguments as keywords:

    smoothclap.train(config="msp_podcast.yaml", dataset="data/msp", output_dir="run", max_steps=100)
    == smoothclap train --config msp_podcast.yaml --dataset data/msp --output-dir run --max-steps 100

A keyword is the flag with ``_`` for ``-``; True gives a bare flag (``no_progress=True``), False
or None leaves it out; a list repeats the flag (``dataset=["a", "b"]``), a dict gives
``key=value`` pairs (``option={"split": "speaker:80/10/10"}``). Positional arguments are the
command's (the corpus of ``build``, the files of ``classify``, the folder of ``publish``).
Each returns what the command computed; bad arguments raise CommandError after the command's
one ``error:`` line (nothing exits the interpreter).

``pipeline(model)`` is the zero-shot audio classification pipeline with the installed classes:
transformers' ``pipeline()`` runs a folder's own pipeline file (``trust_remote_code=True``)
unless it is given ``pipeline_class=``, which this does.
"""

from __future__ import annotations

import importlib
from pathlib import Path

# job -> (module, function); each function takes (argv, prog=...)
JOBS = {"train": ("smoothclap.training.trainer", "main"), "evaluate": ("smoothclap.evaluation.evaluate", "main"),
        "classify": ("smoothclap.inference.classify", "main"), "build": ("smoothclap.data.__main__", "build_cli"),
        "publish": ("smoothclap.release.publish", "main")}


class CommandError(RuntimeError):
    """A job's arguments or input were refused (its ``error:`` line says why), or the run failed."""

    def __init__(self, job: str, status: int):
        super().__init__(f"smoothclap {job} stopped with exit status {status} (its error line above says why)")
        self.job, self.status = job, status


def to_argv(*positional, **flags) -> list[str]:
    """The command line of keyword arguments (see the module docstring)."""
    argv = [str(p) for p in positional]
    for key, value in flags.items():
        flag = "--" + key.replace("_", "-")
        if value is True:
            argv.append(flag)
        elif value is None or value is False:
            continue
        elif isinstance(value, dict):
            for k, v in value.items():
                argv += [flag, f"{k}={v}"]
        elif isinstance(value, (list, tuple)):
            for item in value:
                argv += [flag, str(item)]
        else:
            argv += [flag, str(value)]
    return argv


def _run(job: str, argv: list[str]):
    module, function = JOBS[job]
    run = getattr(importlib.import_module(module), function)
    try:
        result = run(argv) if job == "publish" else run(argv, prog=f"smoothclap {job}")
    except SystemExit as stop:  # argparse, --help, a failed clip: the command's exit status
        if stop.code in (0, None):
            return None
        raise CommandError(job, stop.code if isinstance(stop.code, int) else 1) from None
    if isinstance(result, int) and not isinstance(result, bool):  # commands that return a status
        if result:
            raise CommandError(job, result)
        return None
    return result


def train(**flags) -> dict:
    """``smoothclap train``: train, select on validation, export; returns the run's results."""
    return _run("train", to_argv(**flags))


def evaluate(**flags) -> dict:
    """``smoothclap evaluate``: zero-shot UAR per dataset (results.json's content)."""
    return _run("evaluate", to_argv(**flags))


def classify(*files, **flags) -> dict:
    """``smoothclap classify``: {file: ranked [{label, score}]}, or the run's summary with ``output=``."""
    return _run("classify", to_argv(*files, **flags))


def build(corpus: str, **flags) -> Path:
    """``smoothclap build CORPUS``: builds the dataset folder; returns it (``output=``)."""
    _run("build", to_argv(corpus, **flags))
    return Path(flags["output"]) if flags.get("output") else None


def publish(folder: str, **flags) -> None:
    """``smoothclap publish FOLDER``: checks (``dry_run=True``: only the checks), then uploads."""
    _run("publish", to_argv(folder, **flags))


def pipeline(model, **kwargs):
    """The zero-shot audio classification pipeline of a SmoothCLAP folder or repo, built from the
    installed classes (no remote code): ``pipeline(model)(audio, candidate_labels=[...])``."""
    from transformers import pipeline as transformers_pipeline

    from .models.pipeline_smoothclap import SmoothClapZeroShotAudioClassificationPipeline

    kwargs.setdefault("task", "zero-shot-audio-classification")
    return transformers_pipeline(model=model, pipeline_class=SmoothClapZeroShotAudioClassificationPipeline, **kwargs)

"""Corpus-scale zero-shot inference: inputs (folders, globs, path lists, built datasets),
a streaming runner, output writers with resume, sharding over accelerate processes, and the
ONNX Runtime export of the towers. Layer: above the model files and smoothclap.evaluation's
loading helpers, below the command line (smoothclap.cli, smoothclap.inference.classify)."""


def classify_corpus(*args, **kwargs):
    """smoothclap.inference.runner.classify_corpus (imported when called: this package stays light)."""
    from smoothclap.inference.runner import classify_corpus as run

    return run(*args, **kwargs)

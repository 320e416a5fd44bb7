"""Corpus-scale zero-shot inference: inputs (folders, globs, path lists, built datasets),
a streaming runner, output writers with resume, sharding over accelerate processes, and the
ONNX Runtime export of the towers. Layer: above the model files and smoothclap_eval's
loading helpers, below the command line (smoothclap_cli, smoothclap_classify)."""


def classify_corpus(*args, **kwargs):
    """smoothclap_infer.runner.classify_corpus (imported when called: this package stays light)."""
    from smoothclap_infer.runner import classify_corpus as run

    return run(*args, **kwargs)

"""Corpus-scale zero-shot inference: inputs (folders, globs, path lists, built datasets),
a streaming runner, output writers with resume, sharding over accelerate processes, and the
ONNX Runtime export of the towers. Layer: above the model files and smoothclap_eval's
loading helpers, below the command line (smoothclap_cli, smoothclap_classify)."""

"""SmoothCLAP: contrastive language-audio models for paralinguistics (emotion, speaker states
and traits), trained with soft targets, on the Hugging Face stack.

    import smoothclap
    from transformers import AutoModel, AutoProcessor

    model = AutoModel.from_pretrained("smoothclap-demo/smoothclap")      # no trust_remote_code
    classifier = smoothclap.pipeline("smoothclap-demo/smoothclap")      # the zero-shot pipeline
    classifier("clip.wav", candidate_labels=["angry", "happy", "sad", "neutral"])

    smoothclap.build("folder", data_dir="my_corpus", output="data/mine", option=["split=speaker:80/10/10"])
    smoothclap.train(config="msp_podcast.yaml", dataset="data/mine", output_dir="run")
    smoothclap.evaluate(model="run/model", dataset="data/mine", output_dir="eval")
    smoothclap.classify("recordings/", labels="angry,happy,sad,neutral", model="run/model", output="labels.csv")

Importing this package is quick (no torch): the classes and jobs load when first used, and the
model, config and processor are registered with transformers' Auto classes as transformers
loads them (smoothclap.registration). The layers: docs/architecture.md.
"""

from __future__ import annotations

import importlib

from . import registration

__version__ = "0.1.0"

# public name -> module that defines it (loaded on first use: `smoothclap --help` imports no torch)
_EXPORTS = {
    "SmoothClapConfig": "smoothclap.models.configuration_smoothclap",
    "SmoothClapModel": "smoothclap.models.modeling_smoothclap",
    "SmoothClapOutput": "smoothclap.models.modeling_smoothclap",
    "SmoothClapProcessor": "smoothclap.models.processing_smoothclap",
    "SmoothClapZeroShotAudioClassificationPipeline": "smoothclap.models.pipeline_smoothclap",
    "load_audio": "smoothclap.models.audio_smoothclap",
    "pipeline": "smoothclap.api",
    "build": "smoothclap.api",
    "train": "smoothclap.api",
    "evaluate": "smoothclap.api",
    "classify": "smoothclap.api",
    "publish": "smoothclap.api",
    "CommandError": "smoothclap.api",
}
__all__ = ["__version__", *_EXPORTS]


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))


registration.install()

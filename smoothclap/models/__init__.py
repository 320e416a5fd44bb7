"""The model files: the same flat files a SmoothCLAP folder or Hub repository ships as remote
code (``configuration_/modeling_/processing_/pipeline_/audio_/onnx_smoothclap.py``; in a clone,
links to the repository root's copies). Installed, they load models without remote code."""

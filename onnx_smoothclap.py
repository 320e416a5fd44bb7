"""SmoothCLAP's audio tower under ONNX Runtime, and the choice of the CPU audio backend.

A flat file shipped with the model (``pipeline_smoothclap.py`` imports it relatively, so
``save_pretrained`` copies it). ``smoothclap export-onnx MODEL_DIR OUT_DIR --quantize int8``
writes ``OUT_DIR/onnx/audio.onnx`` (float32) and ``onnx/audio.int8.onnx`` (dynamic int8
MatMul/Gemm): the audio encoder, ``input_values`` (B, T) float32 + ``attention_mask`` (B, T)
int64 -> ``last_hidden_state`` (B, frames, hidden), with dynamic batch and time.

    OrtAudioEncoder(path, audio_config)   # a torch.nn.Module standing in for model.audio_model
    resolve_audio_backend(dtype, backend, ...) -> (backend, dtype, reason)   # the "auto" rules
    onnx_folder(model) -> the model folder's onnx/ (or None)

The encoder stand-in returns what ``modeling_smoothclap.pool_audio_encoder`` reads (the last
hidden state and the frame mask of a sample mask), so pooling over valid frames, the
projection head and the text tower run in torch exactly as in the float32 model.

Imports only torch, numpy and transformers: ONNX Runtime is imported when a session is made
(``importlib``), so loading the model as remote code never requires it
(``pip install "smoothclap[onnx]"`` installs it).
"""

from __future__ import annotations

import importlib
import importlib.util
import os

import numpy as np
import torch

from transformers.modeling_outputs import BaseModelOutput

ONNX_SUBDIR = "onnx"
AUDIO_FILES = {"float32": "audio.onnx", "int8": "audio.int8.onnx"}  # dtype -> file under onnx/
TEXT_FILE = "text.onnx"
EXTRA = 'pip install "smoothclap[onnx]"'
BACKENDS = ("auto", "torch", "onnx")
_BACKEND_ALIASES = {"auto": "auto", "torch": "torch", "pytorch": "torch", "eager": "torch", "onnx": "onnx",
                    "onnxruntime": "onnx", "ort": "onnx"}


# --------------------------------------------------------------------------- checks
def check_backend(backend) -> str:
    """"auto", "torch" or "onnx" (None = "auto"; "onnxruntime"/"ort" = "onnx")."""
    if backend is None:
        return "auto"
    name = _BACKEND_ALIASES.get(backend.lower()) if isinstance(backend, str) else None
    if name is None:
        raise ValueError(f"Unknown audio backend {backend!r}: choose one of auto, torch, onnx (alias onnxruntime).")
    return name


def onnxruntime_available() -> bool:
    """Whether ONNX Runtime can be imported here (without importing it)."""
    return importlib.util.find_spec("onnxruntime") is not None


def import_onnxruntime():
    try:
        return importlib.import_module("onnxruntime")
    except ImportError:
        raise ValueError(f"The ONNX Runtime backend needs the onnxruntime package, which is not installed: "
                         f"{EXTRA}.") from None


def onnx_folder(model) -> str | None:
    """``<model folder>/onnx`` when the model was loaded from a local folder that has one."""
    source = getattr(model, "name_or_path", None) or getattr(getattr(model, "config", None), "_name_or_path", None)
    if not source or not os.path.isdir(source):
        return None
    folder = os.path.join(source, ONNX_SUBDIR)
    return folder if os.path.isdir(folder) else None


def available_exports(folder: str | None) -> dict:
    """{dtype: path} of the audio graphs present in an onnx/ folder."""
    if not folder:
        return {}
    return {dtype: os.path.join(folder, name) for dtype, name in AUDIO_FILES.items()
            if os.path.isfile(os.path.join(folder, name))}


# --------------------------------------------------------------------------- the auto rules
def resolve_audio_backend(dtype: str, backend: str, *, device_type: str = "cpu", native_bf16: bool | None = None,
                          exports: dict | None = None, ort_available: bool = False) -> tuple[str, str, str]:
    """(backend, dtype, reason) for an already-checked ``dtype`` (float32 | bfloat16 | int8 | auto) and
    ``backend`` (auto | torch | onnx). ``exports``: `available_exports` of the model's folder.

    - backend "onnx": ONNX Runtime, int8 graph for dtype int8/auto (float32 graph for auto when only it was
      exported), float32 graph for float32; a ValueError without onnxruntime or without the export.
    - dtype "auto" on CPU: bfloat16 (torch) where the CPU has native bf16; else ONNX Runtime int8 where the
      folder has onnx/audio.int8.onnx and onnxruntime is importable (backend auto); else float32.
    - any other dtype with backend auto/torch: torch, that dtype. On a GPU "auto" is float32 as loaded.
    """
    exports = exports or {}
    if device_type != "cpu":
        if backend == "onnx":
            raise ValueError("The ONNX Runtime backend runs on CPU here; on a GPU use backend='torch' "
                             "(the model as loaded).")
        if dtype == "auto":
            return "torch", "float32", f"on {device_type}: the model as loaded (auto changes nothing on a GPU)"
        return "torch", dtype, f"dtype {dtype} asked for"
    if backend == "onnx":
        if not ort_available:
            raise ValueError(f"backend 'onnx' needs the onnxruntime package, which is not installed: {EXTRA}.")
        if not exports:
            raise ValueError("backend 'onnx' needs an ONNX export beside the model (onnx/audio.onnx), and this folder "
                             "has none: run `smoothclap export-onnx MODEL_DIR OUT_DIR --quantize int8` and load OUT_DIR.")
        if dtype == "bfloat16":
            raise ValueError("backend 'onnx' runs float32 or int8 graphs; bfloat16 is a torch path "
                             "(backend='torch').")
        want = "int8" if dtype in ("int8", "auto") and ("int8" in exports or dtype == "int8") else "float32"
        if want not in exports:
            raise ValueError(f"backend 'onnx' with dtype {dtype}: the folder has no onnx/{AUDIO_FILES[want]}; export "
                             "it with `smoothclap export-onnx MODEL_DIR OUT_DIR --quantize int8`.")
        return "onnx", want, f"backend onnx asked for: onnx/{AUDIO_FILES[want]}"
    if dtype != "auto":
        return "torch", dtype, f"dtype {dtype} asked for (torch)"
    if native_bf16:
        return "torch", "bfloat16", "the CPU has native bfloat16 (avx512_bf16/amx_bf16): torch bfloat16"
    cpu = "no native bfloat16" if native_bf16 is False else "native bfloat16 unknown"
    if backend == "auto" and "int8" in exports and ort_available:
        return "onnx", "int8", f"{cpu}; the folder has onnx/{AUDIO_FILES['int8']}: ONNX Runtime int8"
    if backend == "torch":
        return "torch", "float32", f"{cpu}; backend torch asked for: float32"
    missing = ("no onnx/audio.int8.onnx in the model folder (smoothclap export-onnx --quantize int8)"
               if "int8" not in exports else f"onnxruntime not installed ({EXTRA})")
    return "torch", "float32", f"{cpu}; {missing}: float32"


# --------------------------------------------------------------------------- the encoder stand-in
def frame_lengths(config, sample_lengths: torch.Tensor) -> torch.Tensor:
    """Frames the convolutional feature encoder makes of ``sample_lengths`` samples (wav2vec2's rule)."""
    lengths = sample_lengths.to(torch.long)
    for kernel, stride in zip(config.conv_kernel, config.conv_stride):
        lengths = torch.div(lengths - kernel, stride, rounding_mode="floor") + 1
    return lengths


class OrtAudioEncoder(torch.nn.Module):
    """An ONNX Runtime session in place of ``model.audio_model`` (inference only, CPU).

    ``forward(input_values, attention_mask=None, ...)`` returns a ``BaseModelOutput`` with
    ``last_hidden_state`` (float32, CPU) and ``_get_feature_vector_attention_mask`` maps a sample
    mask to frames, as a transformers Wav2Vec2Model does. The session uses as many threads as
    torch (``torch.get_num_threads()`` when it runs; a new session if that changed)."""

    main_input_name = "input_values"

    def __init__(self, path: str, config, dtype: str = "float32"):
        super().__init__()
        self.path, self.config, self.dtype = path, config, dtype
        self._sessions: dict = {}
        self._session()  # fail now (a missing file, a broken graph), not at the first clip

    def _session(self):
        threads = torch.get_num_threads()
        if threads not in self._sessions:
            ort = import_onnxruntime()
            options = ort.SessionOptions()
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
            self._sessions = {threads: ort.InferenceSession(self.path, options, providers=["CPUExecutionProvider"])}
        return self._sessions[threads]

    def extra_repr(self) -> str:
        return f"path={self.path!r}, dtype={self.dtype!r}"

    def forward(self, input_values, attention_mask=None, output_hidden_states=None, output_attentions=None,
                return_dict=True, **kwargs):
        if output_hidden_states or output_attentions:
            raise ValueError("The ONNX audio graph returns the last hidden state only; for hidden states or "
                             "attentions load the model with backend='torch'.")
        session = self._session()
        x = input_values.detach().to("cpu", torch.float32)
        feeds = {"input_values": np.ascontiguousarray(x.numpy())}
        if any(i.name == "attention_mask" for i in session.get_inputs()):
            mask = torch.ones(x.shape, dtype=torch.long) if attention_mask is None else attention_mask
            feeds["attention_mask"] = np.ascontiguousarray(mask.detach().to("cpu", torch.long).numpy())
        hidden = torch.from_numpy(session.run(["last_hidden_state"], feeds)[0])
        return BaseModelOutput(last_hidden_state=hidden.to(input_values.device))

    def _get_feature_vector_attention_mask(self, feature_vector_length: int, attention_mask: torch.Tensor):
        lengths = frame_lengths(self.config, attention_mask.sum(-1)).to(attention_mask.device)
        frames = torch.arange(feature_vector_length, device=attention_mask.device)
        return frames[None, :] < lengths[:, None]


def use_onnx_audio(model, dtype: str, exports: dict):
    """Swap ``model.audio_model`` for an `OrtAudioEncoder` on ``exports[dtype]``; returns the model.
    The torch encoder's weights are released (the text tower and the heads stay in torch)."""
    config = model.audio_model.config
    model.audio_model = OrtAudioEncoder(exports[dtype], config, dtype)
    return model


__all__ = ["AUDIO_FILES", "BACKENDS", "EXTRA", "ONNX_SUBDIR", "OrtAudioEncoder", "TEXT_FILE", "available_exports",
           "check_backend", "frame_lengths", "import_onnxruntime", "onnx_folder", "onnxruntime_available",
           "resolve_audio_backend", "use_onnx_audio"]

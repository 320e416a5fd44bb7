"""Zero-shot audio classification with SmoothCLAP: the shared functions and a custom pipeline.

A flat file shipped with the model (``save_pretrained`` copies it; ``config.json`` names
it in ``custom_pipelines``), so that

    clf = pipeline("zero-shot-audio-classification", model=folder_or_repo, trust_remote_code=True)

gives `SmoothClapZeroShotAudioClassificationPipeline`. Next to the stock pipeline it takes
file paths, ``{"array", "sampling_rate"}`` dicts (datasets rows), arrays with
``sampling_rate=`` (resampled), stereo files, dicts and ``channel_axis=`` arrays (downmixed; the
processor's input rules and errors), a list of clips (batched), a template
or a list of templates (an ensemble), ``multi_label=True`` (independent scores for tags
that can co-occur), long audio in windows, and it embeds the labels once per label set.
On a 16 kHz mono clip with one template its scores are the stock pipeline's.

The functions below are also what the project's benchmark runner (evaluate_zeroshot.py)
and training loop call, so there is one implementation of zero-shot scoring:

    text_embeddings(model, processor, texts, templates=None, batch_size=64) -> (n, d)
    audio_embeddings(model, processor, waves, window=None, hop=None, batch_size=1) -> (n, d)
    logit_multiplier(model) -> scalar tensor        # logits = multiplier * audio @ text.T
    window_bounds(num_samples, window, hop) -> [(start, end), ...]
    check_labels(labels), check_templates(templates)
    min_audio_samples(model), check_clip_lengths(waves, min_samples, rate)  # clips too short to embed
    to_cpu_fast_path(model, dtype, backend="auto") -> model   # "float32" | "bfloat16" | "int8" | "auto" audio
                                                # tower on CPU, in torch or ONNX Runtime (onnx_smoothclap.py)
    select_audio_backend(model, dtype="auto", backend="auto") -> (backend, dtype, reason)

Imports only torch, numpy, transformers and the other flat files.
"""

from __future__ import annotations

import os
import threading
import warnings
from collections import OrderedDict

import torch

from transformers import Pipeline
from transformers.utils import logging

try:  # remote code (transformers copies the flat files, and these relative imports, into one package)
    from .audio_smoothclap import load_audio
    from .onnx_smoothclap import (available_exports, check_backend, onnx_folder, onnxruntime_available,
                                  resolve_audio_backend, use_onnx_audio)
    from .processing_smoothclap import SmoothClapProcessor, split_clips
except ImportError:  # plain module from the repository root
    from audio_smoothclap import load_audio
    from onnx_smoothclap import (available_exports, check_backend, onnx_folder, onnxruntime_available,
                                 resolve_audio_backend, use_onnx_audio)
    from processing_smoothclap import SmoothClapProcessor, split_clips

logger = logging.get_logger(__name__)

DEFAULT_TEMPLATE = "This is a sound of {}."  # the stock pipeline's default
DEFAULT_NEGATION = "not {}"  # multi_label: each label is scored against its negation
LABEL_CACHE_SIZE = 16  # label sets kept per pipeline


# --------------------------------------------------------------------------- checks
def check_labels(labels) -> list[str]:
    """A non-empty list of distinct, non-empty strings (one string is one label)."""
    if isinstance(labels, str):
        labels = [labels]
    labels = list(labels) if labels is not None else []
    if not labels:
        raise ValueError("Empty label list: pass candidate_labels=[...] with at least one label.")
    bad = [x for x in labels if not isinstance(x, str) or not x.strip()]
    if bad:
        raise ValueError(f"Labels must be non-empty strings; got {bad[:3]!r}.")
    seen, dup = set(), []
    for x in labels:
        if x in seen and x not in dup:
            dup.append(x)
        seen.add(x)
    if dup:
        raise ValueError(f"Duplicate labels {dup}: each label must appear once (its score would be split).")
    return labels


def check_templates(templates) -> list[str]:
    """One template or a list (an ensemble); each must contain one ``{}`` for the label."""
    if templates is None:
        return ["{}"]
    if isinstance(templates, str):
        templates = [templates]
    templates = list(templates)
    if not templates:
        raise ValueError("Empty template list: pass a template such as 'this person is feeling {}.'.")
    for template in templates:
        if not isinstance(template, str) or template.count("{}") != 1:
            raise ValueError(f"Template {template!r} must contain '{{}}' exactly once, where the label goes "
                             "(e.g. 'this person is feeling {}.'; '{}' alone uses the label as is).")
    return templates


def resolve_templates(config, templates=None) -> tuple[list[str], str]:
    """(templates, where they came from): the caller's ``templates`` when given, else the
    model's ``config.query_template`` (the one it was trained and selected with), else, for
    folders saved before the config carried it, `DEFAULT_TEMPLATE` (the stock pipeline's)."""
    if templates is not None:
        return check_templates(templates), "given"
    own = getattr(config, "query_template", None)
    if own:
        return check_templates(own), "the model's query_template (trained and selected with it)"
    return [DEFAULT_TEMPLATE], ("the stock default: this model's config has no query_template (saved before "
                                "SmoothCLAP recorded it); pass a template to choose")


def window_bounds(num_samples: int, window: int | None, hop: int | None = None) -> list[tuple[int, int]]:
    """Sample ranges of fixed windows over a clip: starts 0, hop, 2 hop, ... plus one window
    ending at the clip's end when the last start leaves a tail uncovered. A clip no longer
    than the window is one window. Deterministic (no randomness anywhere)."""
    if window is None or num_samples <= window:
        return [(0, num_samples)]
    hop = window if hop is None else hop
    if window <= 0 or hop <= 0 or hop > window:
        raise ValueError(f"Need 0 < hop <= window (in samples), got window={window}, hop={hop}: a hop "
                         "longer than the window would skip audio.")
    bounds = [(start, start + window) for start in range(0, num_samples - window + 1, hop)]
    if bounds[-1][1] < num_samples:
        bounds.append((num_samples - window, num_samples))
    return bounds


def min_audio_samples(model) -> int:
    """The fewest samples the audio encoder's convolutional front end turns into one frame
    (its receptive field: 400 samples, 25 ms at 16 kHz, for wav2vec2/HuBERT/WavLM); 1 when
    the encoder's config does not say (``conv_kernel``/``conv_stride``)."""
    config = getattr(model.config, "audio_config", None)
    kernels, strides = getattr(config, "conv_kernel", None), getattr(config, "conv_stride", None)
    if not kernels or not strides:
        return 1
    field = 1
    for kernel, stride in zip(reversed(list(kernels)), reversed(list(strides))):
        field = (field - 1) * stride + kernel
    return field


def check_clip_lengths(waves, min_samples: int, rate: int, hint: str = "", first_index: int = 0) -> None:
    """A ValueError naming the first clip shorter than ``min_samples`` (too short for the
    encoder's convolutions: with it alone a conv-kernel RuntimeError, in a padded batch an
    embedding of nothing)."""
    for i, wave in enumerate(waves, start=first_index):
        if len(wave) < min_samples:
            raise ValueError(f"audio[{i}] is {len(wave)} samples ({1000 * len(wave) / rate:.1f} ms at {rate} Hz), "
                             f"shorter than the {min_samples} samples ({1000 * min_samples / rate:.0f} ms) the "
                             f"audio encoder needs: pad or drop it{hint}.")


# --------------------------------------------------------------------------- embeddings
def _device_and_dtype(model):
    param = next(model.parameters())
    return param.device, param.dtype


def _normalise(x: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.normalize(x.float(), dim=-1)


@torch.no_grad()
def text_embeddings(model, processor, texts, templates=None, batch_size: int = 64) -> torch.Tensor:
    """L2-normalised (n_texts, d) float32 embeddings of ``texts``. With several templates,
    each text's embedding is the mean of its normalised template embeddings, renormalised
    (the CLIP prompt-ensemble recipe). ``templates=None`` uses the texts as they are."""
    texts = check_labels(texts)
    templates = check_templates(templates)
    sentences = [template.format(text) for template in templates for text in texts]
    device, _ = _device_and_dtype(model)
    chunks = []
    for start in range(0, len(sentences), batch_size):
        enc = processor(text=sentences[start:start + batch_size], return_tensors="pt").to(device)
        chunks.append(_normalise(model.get_text_features(**enc).pooler_output))
    per_template = torch.cat(chunks).view(len(templates), len(texts), -1)
    return _normalise(per_template.mean(dim=0))


def _sampling_rate(processor) -> int:
    return int(getattr(processor, "sampling_rate", None) or processor.feature_extractor.sampling_rate)


@torch.no_grad()
def audio_embeddings(model, processor, waves, window: float | None = None, hop: float | None = None,
                     batch_size: int = 1) -> torch.Tensor:
    """L2-normalised (n_clips, d) float32 embeddings of decoded clips.

    ``waves``: 1-D float32 arrays at the processor's rate (`audio_smoothclap.load_audio`).
    ``window``/``hop`` (seconds): clips longer than ``window`` are cut by `window_bounds`, each
    window embedded, and the clip's embedding is the mean of its windows' normalised
    embeddings, renormalised. Segments are embedded ``batch_size`` at a time, longest
    first, so padding is small; padding does not change an embedding (the model pools over
    valid frames only).
    """
    sr = _sampling_rate(processor)
    win = None if window is None else int(round(window * sr))
    hop_n = None if hop is None else int(round(hop * sr))
    segments, owner = [], []
    for i, wave in enumerate(waves):
        for start, end in window_bounds(len(wave), win, hop_n):
            segments.append(wave[start:end])
            owner.append(i)
    if not segments:
        raise ValueError("No audio: pass at least one clip.")
    check_clip_lengths(waves, min_audio_samples(model), sr)
    device, dtype = _device_and_dtype(model)
    order = sorted(range(len(segments)), key=lambda j: -len(segments[j]))
    seg_embeds = [None] * len(segments)
    for start in range(0, len(order), max(1, int(batch_size))):
        batch = order[start:start + batch_size]
        enc = processor(audio=[segments[j] for j in batch], sampling_rate=sr, return_tensors="pt")
        enc = {k: (v.to(device, dtype) if v.is_floating_point() else v.to(device)) for k, v in enc.items()}
        out = _normalise(model.get_audio_features(**enc).pooler_output)
        for j, row in zip(batch, out):
            seg_embeds[j] = row
    owner_t = torch.tensor(owner, device=device)
    stacked = torch.stack(seg_embeds)
    pooled = torch.zeros(len(waves), stacked.shape[1], device=device).index_add_(0, owner_t, stacked)
    return _normalise(pooled)


def logit_multiplier(model) -> torch.Tensor:
    """What the model's forward multiplies cosine similarities by: scale / tau_pred."""
    return model.scale().float() / float(getattr(model.config, "tau_pred", 1.0))


def scores_from_logits(logits: torch.Tensor, multi_label: bool = False) -> torch.Tensor:
    """(n_audio, n_labels) probabilities: softmax over labels, or with ``multi_label`` the
    logits are (n_audio, 2 * n_labels), labels then their negations, and each label's
    score is the two-way softmax of label against its negation (independent per label)."""
    if not multi_label:
        return logits.softmax(dim=-1)
    n = logits.shape[-1] // 2
    return torch.sigmoid(logits[:, :n] - logits[:, n:])


# --------------------------------------------------------------------------- CPU fast path
CPU_FAST_PATH_DTYPES = ("float32", "bfloat16", "int8", "auto")
_DTYPE_ALIASES = {"float32": "float32", "fp32": "float32", "float": "float32", "bfloat16": "bfloat16",
                  "bf16": "bfloat16", "int8": "int8", "qint8": "int8", "auto": "auto"}
_NATIVE_BF16_FLAGS = ("avx512_bf16", "amx_bf16")  # x86 CPU flags with bfloat16 arithmetic in hardware


def check_audio_dtype(dtype) -> str:
    """"float32", "bfloat16", "int8" or "auto" (None = "float32"; aliases fp32, bf16 and torch.float32 /
    torch.bfloat16 are accepted); anything else is a ValueError naming the choices."""
    if dtype is None:
        return "float32"
    if isinstance(dtype, torch.dtype):
        dtype = str(dtype).replace("torch.", "")
    name = _DTYPE_ALIASES.get(dtype.lower()) if isinstance(dtype, str) else None
    if name is None:
        raise ValueError(f"Unknown audio dtype {dtype!r}: choose one of {', '.join(CPU_FAST_PATH_DTYPES)} "
                         "(float32 = exact, the default; int8 = dynamic int8 quantisation of the audio "
                         "encoder's Linear layers; bfloat16 = the audio encoder in bfloat16, for CPUs with "
                         "native bfloat16; auto = the fastest measured path this CPU and model folder allow).")
    return name


def cpu_native_bf16() -> bool | None:
    """True when the CPU does bfloat16 arithmetic in hardware (x86 flags avx512_bf16 or amx_bf16,
    read from /proc/cpuinfo), False when it does not, None when that cannot be read (not Linux)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith(("flags", "Features")):
                    flags = set(line.split(":", 1)[1].split())
                    return any(flag in flags for flag in _NATIVE_BF16_FLAGS) or "bf16" in flags  # bf16: ARM
    except OSError:
        return None
    return None


def _cast_inputs_hook(dtype):
    def hook(module, args, kwargs):
        args = tuple(a.to(dtype) if torch.is_tensor(a) and a.is_floating_point() else a for a in args)
        if torch.is_tensor(kwargs.get("input_values")) and kwargs["input_values"].is_floating_point():
            kwargs["input_values"] = kwargs["input_values"].to(dtype)
        return args, kwargs
    return hook


def _float_outputs_hook(module, args, kwargs, output):
    """The audio tower's frames back in float32, so that pooling, the head and the text side run
    exactly as in the float32 model (the attention mask / padding path is untouched)."""
    if getattr(output, "last_hidden_state", None) is not None:
        output.last_hidden_state = output.last_hidden_state.float()
    return output


def _fold_weight_norm(encoder) -> None:
    """wav2vec2's positional convolution keeps its weight as a weight-norm parametrisation and
    recomputes g * v / ||v|| on every forward (~10 % of a float32 forward at the large shape).
    At inference the weight is fixed: compute it once (the same numbers)."""
    from torch.nn.utils import parametrize

    for module in list(encoder.modules()):
        if parametrize.is_parametrized(module, "weight") and len(module.parametrizations) == 1:
            weight = module.weight.detach().clone()  # g * v / ||v||, evaluated once
            # not parametrize.remove_parametrizations: it deletes the property from the
            # parametrised class, which a deepcopy of the model shares with the original
            del module._modules["parametrizations"]
            module.__class__ = type(module).__bases__[0]
            module.weight = torch.nn.Parameter(weight, requires_grad=False)


def _audio_device(model) -> torch.device:
    param = next(model.audio_model.parameters(), None)  # an ONNX Runtime encoder has none: CPU
    return param.device if param is not None else torch.device("cpu")


def select_audio_backend(model, dtype="auto", backend="auto") -> tuple[str, str, str]:
    """(backend, dtype, reason) that `to_cpu_fast_path` would use for ``model``, without converting
    anything: the rules of `onnx_smoothclap.resolve_audio_backend`, fed with this CPU's bfloat16
    (`cpu_native_bf16`), the model folder's onnx/ export and whether onnxruntime is installed."""
    name, backend = check_audio_dtype(dtype), check_backend(backend)
    probe = name == "auto" or backend == "onnx"
    return resolve_audio_backend(
        name, backend, device_type=_audio_device(model).type, native_bf16=cpu_native_bf16() if name == "auto" else None,
        exports=available_exports(onnx_folder(model)) if probe else {}, ort_available=probe and onnxruntime_available())


def to_cpu_fast_path(model, dtype="int8", *, backend="auto", require_native_bf16: bool = True):
    """Make ``model``'s audio encoder cheaper on CPU, in place; returns the model.

    ``dtype="auto"`` and ``backend`` ("auto" | "torch" | "onnx", alias "onnxruntime") choose by
    `select_audio_backend`: bfloat16 where the CPU has native bf16, else ONNX Runtime int8 where
    the model folder has ``onnx/audio.int8.onnx`` (``smoothclap export-onnx``), else float32;
    nothing changes on a GPU. ``backend="onnx"`` runs the folder's ONNX graph (int8 for dtype
    int8/auto, float32 for float32) in place of the torch audio encoder (`onnx_smoothclap`).
    The choice and its reason are logged and kept as ``model.audio_backend`` /
    ``model._cpu_fast_path`` (the dtype) / ``model.audio_backend_reason``. An explicit dtype
    with backend "auto" is the torch path:

    - ``"float32"``: nothing (the exact default).
    - ``"int8"``: dynamic int8 quantisation (``torch.ao.quantization.quantize_dynamic``) of the
      audio encoder's ``nn.Linear`` layers (attention, feed-forward, feature projection):
      int8 weights, activations quantised per forward at run time. The convolutional feature
      encoder, the positional convolution, layer norms, the text encoder, the heads and the
      logit scale stay float32.
    - ``"bfloat16"``: the audio encoder's weights in bfloat16; its input is cast to bfloat16
      and its frames back to float32 before pooling. Only for CPUs with native bfloat16
      (x86 flags avx512_bf16 / amx_bf16): elsewhere it is emulated, the convolutions take a
      slow path, and it was ~40x SLOWER than float32 on a 3 s clip (AMD EPYC, AVX2), so it
      raises a ValueError naming the fact. ``require_native_bf16=False`` runs it anyway (to measure
      its answers on any CPU).

    Both fold the positional convolution's weight norm once (`_fold_weight_norm`). Either way
    the pooled audio embedding reaches the head as float32, and padding is handled as in
    float32 (the same attention mask, pooling over valid frames only). With int8 the
    activations' range is taken per forward, so in a padded batch a clip's embedding moves
    slightly with its neighbours; one clip at a time (``batch_size=1``, the CPU default) it
    does not. The conversion happens in memory, at load: a saved folder stays float32, and a
    converted model is for inference only (do not train or ``save_pretrained`` it; load the
    folder again instead).
    """
    chosen, name, reason = select_audio_backend(model, dtype, backend)
    done = (getattr(model, "audio_backend", "torch"), getattr(model, "_cpu_fast_path", "float32"))
    if (chosen, name) == done:
        if not hasattr(model, "audio_backend_reason"):  # first call, float32 in torch: nothing to convert
            model.audio_backend, model._cpu_fast_path, model.audio_backend_reason = chosen, name, reason
            logger.info(f"SmoothCLAP audio encoder: {chosen} {name} ({reason})")
        return model
    if done != ("torch", "float32"):
        raise ValueError(f"The audio encoder is already converted to {done[1]} ({done[0]}); load the model again "
                         f"for {name} ({chosen}).")
    logger.info(f"SmoothCLAP audio encoder: {chosen} {name} ({reason})")
    if chosen == "onnx":
        use_onnx_audio(model, name, available_exports(onnx_folder(model)))
        model.audio_backend, model._cpu_fast_path, model.audio_backend_reason = "onnx", name, reason
        return model
    if name == "float32":
        return model
    encoder = model.audio_model
    device = _audio_device(model)
    if device.type != "cpu":
        raise ValueError(f"audio dtype {name!r} is a CPU fast path, but the audio encoder is on {device}; "
                         "on a GPU load the model with dtype=torch.float16/bfloat16 instead.")
    if name == "bfloat16" and require_native_bf16:
        native = cpu_native_bf16()
        if not native:
            raise ValueError(
                "audio dtype 'bfloat16' needs a CPU with native bfloat16 arithmetic, and this one "
                + ("has none (neither avx512_bf16 nor amx_bf16 among its flags)" if native is False else
                   "could not be checked (no /proc/cpuinfo)")
                + ": emulated, its convolutions take a slow path (a 3 s clip at the wav2vec2-large-robust-12 "
                  "shape: 133 s vs 3.4 s in float32 on an AVX2 CPU). Use 'int8' here (1.4-1.6x faster, same "
                  "answers in our checks), or 'float32'.")
    encoder.eval()
    _fold_weight_norm(encoder)
    if name == "int8":
        with warnings.catch_warnings():
            # torch >= 2.10 deprecates eager-mode quantisation in favour of the torchao package.
            # torchao's int8 paths were 16-30x SLOWER than float32 on an AVX2 CPU (eager, and
            # compiled with torch.compile) where quantize_dynamic was ~2x faster, and torchao
            # is a separate install: we keep quantize_dynamic and silence only its two
            # deprecation notices, here (README, "CPU fast path").
            warnings.filterwarnings("ignore", message=r"torch\.ao\.quantization is deprecated")
            warnings.filterwarnings("ignore", message=r"torch\.quantize_per_tensor, torch\.quantize_per_channel")
            torch.ao.quantization.quantize_dynamic(encoder, {torch.nn.Linear}, dtype=torch.qint8, inplace=True)
    else:  # bfloat16
        encoder.to(torch.bfloat16)
        encoder.register_forward_pre_hook(_cast_inputs_hook(torch.bfloat16), with_kwargs=True)
        encoder.register_forward_hook(_float_outputs_hook, with_kwargs=True)
    model.audio_backend, model._cpu_fast_path, model.audio_backend_reason = "torch", name, reason
    return model


# --------------------------------------------------------------------------- pipeline
class SmoothClapZeroShotAudioClassificationPipeline(Pipeline):
    """Zero-shot audio classification for SmoothCLAP (a drop-in for the stock pipeline).

    ``clf(audio, candidate_labels=[...], hypothesis_template="This is a sound of {}.",
    multi_label=False, sampling_rate=None, channel_axis=None, window=None, hop=None, batch_size=1)``

    - ``audio``: what the processor takes (`SmoothClapProcessor`, the same rules and errors):
      a file path, encoded bytes, a ``{"array", "sampling_rate"}`` or ``{"bytes", "path"}``
      dict, a 1-D array/tensor (pass ``sampling_rate=``; without it the array is taken to be
      at the model's rate, as the stock pipeline does, with a warning), or a list of those
      (batched; a list of results comes back). A 2-D array is a batch of mono clips (the HF
      convention); ``channel_axis=1`` makes it ONE (time, channels) clip, as ``soundfile.read``
      returns it (``channel_axis=0``: (channels, time)), downmixed. Without it a
      (time, channels)-shaped array is refused at once, as by the processor.
    - ``hypothesis_template``: a string with ``{}``, or a list of them (prompt ensemble);
      default: the model's ``config.query_template`` (`resolve_templates`), the template it
      was trained with; for older folders without it, "This is a sound of {}." and a notice.
    - ``multi_label=True``: independent scores (label vs ``negation_template`` of it,
      default "not {}"), for tags that can co-occur; scores then do not sum to 1.
    - ``window``/``hop`` (seconds): long clips are embedded in windows and pooled.
    - ``pipeline(..., audio_dtype="int8" | "bfloat16" | "auto", backend="auto" | "torch" | "onnx")``
      (when building it): the CPU fast path of the audio encoder (`to_cpu_fast_path`; "onnx" runs
      the folder's ``smoothclap export-onnx`` graph); default "float32" in torch, exact. What
      was chosen: ``.audio_backend``, ``.audio_dtype``, ``.audio_backend_reason``.

    Returns per clip a list of ``{"score", "label"}``, best first. Label embeddings are
    cached per (labels, templates, multi_label, negation): call `clear_cache()` after
    changing the model's weights.
    """

    _load_processor = False
    _load_image_processor = False
    _load_feature_extractor = True
    _load_tokenizer = True

    def __init__(self, *args, audio_dtype=None, backend=None, **kwargs):
        backend = check_backend(backend)  # bad values fail before the model is touched
        audio_dtype = check_audio_dtype("auto" if audio_dtype is None and backend == "onnx" else audio_dtype)
        super().__init__(*args, **kwargs)
        to_cpu_fast_path(self.model, audio_dtype, backend=backend)  # audio_dtype="int8"/"auto": see to_cpu_fast_path
        # what "auto" resolved to, and why
        self.audio_dtype, self.audio_backend = self.model._cpu_fast_path, self.model.audio_backend
        self.audio_backend_reason = self.model.audio_backend_reason
        given = self.processor
        if given is None or not hasattr(given, "feature_extractor") or not hasattr(given, "tokenizer"):
            given = SmoothClapProcessor(feature_extractor=self.feature_extractor, tokenizer=self.tokenizer)
        self.smoothclap_processor = given
        self._label_cache: OrderedDict = OrderedDict()
        self._label_lock = threading.Lock()
        self._warned_rate = False
        self.default_templates, self.template_source = resolve_templates(self.model.config)
        if not getattr(self.model.config, "query_template", None):
            logger.warning(f"Template: {self.default_templates[0]!r}, {self.template_source}.")

    def clear_cache(self) -> None:
        """Forget cached label embeddings (needed only if the model's weights changed)."""
        self._label_cache.clear()

    # ---------------------------------------------------------------- parameters
    def _sanitize_parameters(self, candidate_labels=None, hypothesis_template=None, multi_label=None,
                             negation_template=None, sampling_rate=None, channel_axis=None, window=None, hop=None,
                             audio_dtype=None, backend=None, **kwargs):
        for key, value in (("audio_dtype", audio_dtype), ("backend", backend)):
            if value is not None:
                raise ValueError(f"{key}={value!r} is chosen when the pipeline is built (the audio encoder is "
                                 "converted once): pipeline('zero-shot-audio-classification', model=..., "
                                 f"trust_remote_code=True, {key}={value!r}).")
        preprocess = {k: v for k, v in (("sampling_rate", sampling_rate), ("channel_axis", channel_axis))
                      if v is not None}
        given = dict(candidate_labels=candidate_labels, hypothesis_template=hypothesis_template,
                     multi_label=None if multi_label is None else bool(multi_label),
                     negation_template=negation_template, window=window, hop=hop)
        return preprocess, {k: v for k, v in given.items() if v is not None}, {}

    def __call__(self, audios, batch_size: int | None = None, **kwargs):
        """Classify one clip (returns a ranked list) or a list of clips (a list of those)."""
        preprocess, forward, _ = self._sanitize_parameters(**kwargs)
        preprocess = {**self._preprocess_params, **preprocess}
        forward = {**self._forward_params, **forward}
        # the processor's rules, so its errors come at once (a (time, channels) array read as
        # a batch of thousands of 2-sample clips took minutes, then failed in a convolution)
        clips = split_clips(audios, preprocess.get("channel_axis"))
        single = len(clips) == 1 and clips[0] is audios
        min_samples, rate = min_audio_samples(self.model), _sampling_rate(self.smoothclap_processor)
        hint = ("; a 2-D array is a batch of clips, one per row: for one (time, channels) clip pass channel_axis=1"
                if getattr(audios, "ndim", 0) == 2 and "channel_axis" not in preprocess else "")
        waves = []
        for i, clip in enumerate(clips):  # each clip checked as it is loaded: a bad one stops the loop
            wave = self.preprocess(clip, **preprocess)["waves"][0]
            check_clip_lengths([wave], min_samples, rate, hint, first_index=i)
            waves.append(wave)
        inputs = {"waves": waves}
        batch_size = batch_size or getattr(self, "_batch_size", None) or 1  # pipeline(..., batch_size=N) too
        outputs = self._forward(inputs, batch_size=batch_size, **forward)
        results = self.postprocess(outputs)
        return results[0] if single else results

    # ---------------------------------------------------------------- steps
    def preprocess(self, audio, sampling_rate=None, channel_axis=None):
        rate = _sampling_rate(self.smoothclap_processor)
        is_raw = not isinstance(audio, (dict, str, os.PathLike, bytes, bytearray))
        if is_raw and sampling_rate is None:
            if not self._warned_rate:
                logger.warning(f"No sampling_rate given for a raw array: taking it as {rate} Hz (the model's "
                               "rate), as the stock pipeline does. Pass sampling_rate=... to resample.")
                self._warned_rate = True
            sampling_rate = rate
        return {"waves": [load_audio(audio, sampling_rate, rate, channel_axis)]}

    def _label_embeddings(self, labels, templates, multi_label, negation):
        key = (tuple(labels), tuple(templates), multi_label, negation if multi_label else None)
        with self._label_lock:  # a server (the web demo) calls one pipeline from several threads
            if key in self._label_cache:
                self._label_cache.move_to_end(key)
                return self._label_cache[key]
        texts = list(labels)
        if multi_label:
            check_templates(negation)
            texts += [negation.format(label) for label in labels]
        embeds = text_embeddings(self.model, self.smoothclap_processor, texts, templates)
        with self._label_lock:
            self._label_cache[key] = embeds
            if len(self._label_cache) > LABEL_CACHE_SIZE:
                self._label_cache.popitem(last=False)
        return embeds

    def _forward(self, model_inputs, candidate_labels=None, hypothesis_template=None,
                 multi_label=False, negation_template=DEFAULT_NEGATION, window=None, hop=None, batch_size=1):
        labels = check_labels(candidate_labels)
        templates = self.default_templates if hypothesis_template is None else check_templates(hypothesis_template)
        label_embeds = self._label_embeddings(labels, templates, multi_label, negation_template)
        audio_embeds = audio_embeddings(self.model, self.smoothclap_processor, model_inputs["waves"],
                                        window=window, hop=hop, batch_size=batch_size)
        with torch.no_grad():
            logits = logit_multiplier(self.model) * audio_embeds @ label_embeds.T
        return {"labels": labels, "scores": scores_from_logits(logits, multi_label).cpu()}

    def postprocess(self, model_outputs):
        labels = model_outputs["labels"]
        results = []
        for row in model_outputs["scores"].tolist():
            ranked = sorted(zip(row, labels), key=lambda pair: -pair[0])
            results.append([{"score": score, "label": label} for score, label in ranked])
        return results


__all__ = [
    "CPU_FAST_PATH_DTYPES", "DEFAULT_TEMPLATE", "SmoothClapZeroShotAudioClassificationPipeline", "audio_embeddings",
    "check_audio_dtype", "check_clip_lengths", "check_labels", "check_templates", "cpu_native_bf16",
    "logit_multiplier", "min_audio_samples", "resolve_templates", "select_audio_backend",
    "scores_from_logits", "text_embeddings", "to_cpu_fast_path", "window_bounds",
]

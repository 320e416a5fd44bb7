"""SmoothCLAP configuration: a composite config of an audio encoder and a text encoder."""

from __future__ import annotations

import math
from dataclasses import field

import transformers

# The remote code uses transformers 5 APIs (dataclass configs with SubConfigSpec,
# transformers.initialization, ProcessorMixin's 5.x signature). On 4.x the imports below
# would fail with an obscure ImportError or AttributeError; fail here instead, clearly.
MIN_TRANSFORMERS_VERSION = "5.23"
if int(transformers.__version__.split(".")[0]) < 5:
    raise ImportError(
        f"SmoothCLAP needs transformers >= {MIN_TRANSFORMERS_VERSION} (found {transformers.__version__}): "
        f"pip install -U 'transformers>={MIN_TRANSFORMERS_VERSION},<6'"
    )

from transformers import AutoConfig, PreTrainedConfig  # noqa: E402
from transformers.configuration_utils import SubConfigSpec  # noqa: E402


def zero_shot_pipeline() -> dict:
    """config.custom_pipelines: the zero-shot pipeline shipped with the model
    (pipeline_smoothclap.py, copied by save_pretrained), which
    pipeline("zero-shot-audio-classification", model=folder, trust_remote_code=True) loads."""
    return {"zero-shot-audio-classification": {
        "impl": "pipeline_smoothclap.SmoothClapZeroShotAudioClassificationPipeline", "pt": ["AutoModel"],
        "type": "multimodal"}}


class SmoothClapConfig(PreTrainedConfig):
    r"""
    Configuration of a [`SmoothClapModel`]: two encoders (audio, text), two ParaCLAP
    projection heads, a learnable logit scale and the soft-target hyper-parameters of
    SmoothCLAP (Jing et al., ICASSP 2026, Eq. 4-11). Audio frames are always mean-pooled
    over valid (unpadded) frames.

    Args:
        audio_config (`dict` or `PreTrainedConfig`, *optional*):
            Config of the audio encoder, any `AutoModel` audio encoder that returns
            `last_hidden_state` (Wav2Vec2, HuBERT, WavLM, ...). Stored as a dict with its
            `model_type`. Defaults to a `Wav2Vec2Config` with the architecture of
            `audeering/wav2vec2-large-robust-12-ft-emotion-msp-dim` (hidden 1024, 12
            layers, 16 heads, stable layer norm).
        text_config (`dict` or `PreTrainedConfig`, *optional*):
            Config of the text encoder (any `AutoModel` text encoder whose first output
            token is a sentence summary, e.g. BERT's [CLS]). Defaults to `BertConfig()`
            (the architecture of `bert-base-uncased`).
        projection_dim (`int`, *optional*, defaults to 768):
            Size of the shared audio-text embedding space (ParaCLAP: 768).
        projection_dropout (`float`, *optional*, defaults to 0.5):
            Dropout inside the projection heads (ParaCLAP reference: 0.5).
        logit_scale_init_value (`float`, *optional*, defaults to log(1/0.07) = 2.6593):
            Initial value of the log of the logit scale (CLIP/CLAP convention). The scale
            used is `exp(logit_scale)`, clamped to at most 100.
        beta (`float`, *optional*, defaults to 0.1):
            Fusion factor of Eq. 8: `y = (1 - beta) I + beta q`. `beta = 0` is plain
            CLAP/ParaCLAP. Default: the paper's grid-search optimum (see model_card.md).
        gamma (`float`, *optional*, defaults to 0.5):
            Mix gamma of Eq. 7: `q = (1 - gamma) q_a2a + gamma q_t2t`. Default: the
            paper's grid-search optimum (see model_card.md).
        tau_a2a (`float`, *optional*, defaults to 0.1):
            Temperature of the audio-to-audio similarity target (Eq. 5).
        tau_t2t (`float`, *optional*, defaults to 0.1):
            Temperature of the text-to-text similarity target (Eq. 6).
        tau_pred (`float`, *optional*, defaults to 1.0):
            Extra temperature on the predicted distributions (Eq. 9-10); with 1.0 the
            learnable logit scale alone sets the sharpness, as in CLAP.
        text_pooling (`str`, *optional*, defaults to `"cls"`):
            How tokens become one text vector: `"cls"` (first token of the last layer, as
            in the paper) or `"mean"` over valid tokens (sentence-transformers models).
        query_template (`str` or `list[str]`, *optional*):
            The prompt template(s) the model was trained and selected with, `{}` standing
            for the label (e.g. `"this person is feeling {}."`; `train_accelerate.py`
            records it). The pipeline, `smoothclap classify`, `smoothclap evaluate` and the
            web demo wrap candidate labels in it unless given another template. `None`
            (folders saved before it existed): each tool's earlier default, with a notice.
        speaker_normalization (`dict`, *optional*):
            Set by training with `--speaker-norm COLUMN`: the heads were trained on pooled
            audio-encoder outputs standardised per speaker, `(h - mean_s) / std_s * std + mean`
            (`column`: the dataset column naming the speaker; `mean`, `std`: per-dimension
            statistics of the training split; `min_clips`: fewer clips of a speaker are left
            as they are). `smoothclap evaluate` normalises by the same column; a clip whose
            speaker is unknown (the pipeline) is scored as it is, the average speaker.
            `None`: clip by clip (the paper).

    Example:

    ```python
    >>> from transformers import BertConfig, Wav2Vec2Config
    >>> from configuration_smoothclap import SmoothClapConfig
    >>> config = SmoothClapConfig(audio_config=Wav2Vec2Config().to_dict(), text_config=BertConfig().to_dict())
    ```
    """

    model_type = "smoothclap"
    sub_configs_defaults = {
        "audio_config": SubConfigSpec(
            config_class=AutoConfig,
            model_type="wav2vec2",
            init_kwargs=dict(  # audeering/wav2vec2-large-robust-12-ft-emotion-msp-dim
                hidden_size=1024, num_hidden_layers=12, num_attention_heads=16,
                intermediate_size=4096, feat_extract_norm="layer", do_stable_layer_norm=True,
                conv_bias=True, feat_extract_activation="gelu",
            ),
        ),
        "text_config": SubConfigSpec(config_class=AutoConfig, model_type="bert"),
    }

    audio_config: PreTrainedConfig | dict | None = None
    text_config: PreTrainedConfig | dict | None = None
    projection_dim: int = 768
    projection_dropout: float = 0.5
    logit_scale_init_value: float = math.log(1 / 0.07)
    beta: float = 0.1
    gamma: float = 0.5
    tau_a2a: float = 0.1
    tau_t2t: float = 0.1
    tau_pred: float = 1.0
    text_pooling: str = "cls"
    query_template: str | list | None = None
    speaker_normalization: dict | None = None
    custom_pipelines: dict = field(default_factory=zero_shot_pipeline)

    def __post_init__(self, **kwargs):
        super().__post_init__(**kwargs)
        for name in ("beta", "gamma"):
            value = getattr(self, name)
            if not 0.0 <= float(value) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value}.")
        for name in ("tau_a2a", "tau_t2t", "tau_pred"):
            if not float(getattr(self, name)) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}.")
        if self.text_pooling not in ("cls", "mean"):
            raise ValueError(f"text_pooling must be 'cls' or 'mean', got {self.text_pooling!r}.")
        templates = [self.query_template] if isinstance(self.query_template, str) else self.query_template
        if templates is not None and (not templates or any(not isinstance(t, str) or "{}" not in t for t in templates)):
            raise ValueError(f"query_template must be a string with '{{}}' for the label, or a list of them; "
                             f"got {self.query_template!r}.")

    @classmethod
    def from_audio_text_configs(cls, audio_config: PreTrainedConfig, text_config: PreTrainedConfig, **kwargs):
        """Build a SmoothClapConfig from two encoder configs."""
        return cls(audio_config=audio_config.to_dict(), text_config=text_config.to_dict(), **kwargs)


__all__ = ["SmoothClapConfig"]

SmoothClapConfig.register_for_auto_class()  # writes auto_map + copies this file on save

if not __package__:
    # Imported as a plain module (repository root, pip install): register the class with
    # AutoConfig here, so loading a saved folder from this process (e.g.
    # SmoothClapProcessor.from_pretrained(folder), whose tokenizer loader reads config.json)
    # uses this code instead of stopping at an interactive trust_remote_code prompt. Never
    # done for a remote-code copy: that would make one repository's code serve others.
    AutoConfig.register("smoothclap", SmoothClapConfig, exist_ok=True)

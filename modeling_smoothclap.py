"""SmoothCLAP: CLAP with soft targets from intra-modal similarity (Jing et al., ICASSP 2026).

Inference is plain CLAP: embed audio, embed candidate texts, compare. Training adds the soft-target loss of
Eq. 4-11 (`soft_target_loss`); with beta = 0 it is the symmetric InfoNCE of CLAP/ParaCLAP (`clap_loss`). Both losses
are pure functions over plain tensors so that distributed gathering (see train_accelerate.py) stays outside them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from transformers import AutoModel, PreTrainedModel
from transformers import initialization as init
from transformers.modeling_outputs import BaseModelOutput, BaseModelOutputWithPooling
from transformers.utils import ModelOutput, can_return_tuple

try:  # remote code (transformers copies the flat files into one package)
    from .configuration_smoothclap import SmoothClapConfig
except ImportError:  # plain module from the repository root (tests, scripts, pip install -e .)
    from configuration_smoothclap import SmoothClapConfig


def mean_pool(frames, mask=None):
    """Mean over time of (B, T, D) frames, over valid frames when a (B, T) mask is given."""
    if mask is None:
        return frames.mean(dim=1)
    mask = mask.to(frames.dtype).unsqueeze(-1)
    return (frames * mask).sum(1) / mask.sum(1).clamp(min=1.0)


# --------------------------------------------------------------------------- losses
def _scaled_similarity(audio_embeds, text_embeds, logit_scale, tau_pred):
    """(logit_scale / tau_pred) * cos(a_i, t_j) in float32 (call with autocast disabled)."""
    a = F.normalize(audio_embeds.float(), dim=-1)
    t = F.normalize(text_embeds.float(), dim=-1)
    return (logit_scale.float() / tau_pred) * (a @ t.T)


def clap_loss(audio_embeds, text_embeds, logit_scale, tau_pred: float = 1.0) -> torch.Tensor:
    """Symmetric InfoNCE of CLAP (ParaCLAP's loss): mean of audio->text and text->audio cross-entropy with the diagonal
    as targets. Embeddings are L2-normalised here; ``logit_scale`` is the multiplier (already exp'ed and clamped)."""
    with torch.autocast(device_type=audio_embeds.device.type, enabled=False):
        logits = _scaled_similarity(audio_embeds, text_embeds, logit_scale, tau_pred)
        labels = torch.arange(logits.shape[0], device=logits.device)
        return 0.5 * (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels))


def _gram(f):
    """f @ f.T using its symmetry: the top-left, bottom-left and bottom-right blocks are
    computed (3/4 of the multiply-adds), the top-right block is a transposed copy."""
    n, h = f.shape[0], f.shape[0] // 2
    if h < 64:  # small batches: one matmul is faster than the bookkeeping
        return f @ f.T
    gram = torch.empty(n, n, dtype=f.dtype, device=f.device)
    gram[:, :h] = f @ f[:h].T
    gram[h:, h:] = f[h:] @ f[h:].T
    gram[:h, h:] = gram[h:, :h].T
    return gram


def _log_softmax_gram(features, tau):
    """log_softmax over rows of (f_i . f_j / tau) with f L2-normalised (Eq. 5 and 6). Normalises the B x B Gram
    matrix instead of the B x D features: same numbers, fewer passes over memory when D > B (768-1024 vs the batch)."""
    f = features.float()
    norm = f.norm(dim=-1).clamp_min(1e-12) * math.sqrt(tau)
    gram = _gram(f).div_(norm[:, None] * norm[None, :])
    return F.log_softmax(gram, dim=-1)


def soft_targets(n, local_audio_features, text_target_embeds, beta, gamma, tau_a2a, tau_t2t, device=None):
    """Log of the SmoothCLAP target matrix y (Eq. 5-8), (B, B), float32, no gradient.

    Row i is sample i's target distribution over the batch. Computed in log space so that every entry is finite
    whenever beta > 0, however small q gets (in linear space it would underflow to 0 for small temperatures, and
    KL(p || y) would be infinite)."""
    with torch.no_grad():
        if beta == 0.0:  # y = I
            return torch.full((n, n), float("-inf"), device=device).fill_diagonal_(0.0)
        if gamma == 0.0:
            log_q = _log_softmax_gram(local_audio_features, tau_a2a)
        elif gamma == 1.0:
            log_q = _log_softmax_gram(text_target_embeds, tau_t2t)
        else:  # Eq. 7: log((1 - gamma) q_a2a + gamma q_t2t)
            log_q = torch.logaddexp(
                _log_softmax_gram(local_audio_features, tau_a2a).add_(math.log1p(-gamma)),
                _log_softmax_gram(text_target_embeds, tau_t2t).add_(math.log(gamma)))
        if beta == 1.0:
            return log_q
        # Eq. 8: off the diagonal y = beta q; on it y = (1 - beta) + beta q
        log_y = log_q.add_(math.log(beta))
        diag = log_y.diagonal()
        diag.copy_(torch.logaddexp(diag, torch.full_like(diag, math.log1p(-beta))))
        return log_y


class _SymmetricKL(torch.autograd.Function):
    """sum_i [KL(y_i || p_i) + KL(p_i || y_i)] with p_i = softmax(logits_i), y a fixed target.

    Both KLs of Eq. 11 in one expression, sum_ij (p_ij - y_ij)(log p_ij - log y_ij), with a hand-written backward
    (fewer passes over the B x B matrices than autograd's):
        d/dz_ik = p_ik (log p_ik - log y_ik + 1 - KL(p_i || y_i)) - y_ik.
    log_y must be finite: true for beta > 0, where y is built in log space."""

    @staticmethod
    def forward(ctx, logits, y, log_y):
        log_p = F.log_softmax(logits, dim=-1)
        p = log_p.exp()
        diff = log_p.sub_(log_y)  # log p - log y (log_p is not needed again)
        reverse = (p * diff).sum(-1, keepdim=True)  # KL(p_i || y_i) per row
        ctx.save_for_backward(p, diff, reverse, y)
        return torch.dot((p - y).flatten(), diff.flatten())

    @staticmethod
    def backward(ctx, grad_output):
        p, diff, reverse, y = ctx.saved_tensors
        # p * (diff + 1 - reverse) - y, scaled by the incoming scalar gradient
        grad = torch.addcmul(y, p, diff + (1.0 - reverse), value=-1.0)
        return grad.mul_(-grad_output), None, None


def _check_batch(name, tensor, n):
    if tensor is not None and tensor.shape[0] != n:
        raise ValueError(f"{name} has {tensor.shape[0]} rows but the batch has {n} audio-text pairs: the soft targets "
                         "need one row per pair, in the same order. After gathering embeddings across processes, "
                         "gather the target inputs the same way (all of them, in rank order).")


def soft_target_loss(audio_embeds, text_embeds, logit_scale, local_audio_features=None, text_target_embeds=None, *,
                     beta: float, gamma: float, tau_a2a: float, tau_t2t: float, tau_pred: float = 1.0) -> torch.Tensor:
    """SmoothCLAP soft-target loss, Eq. 4-11 of the paper, as a scalar float32 tensor (autocast disabled).

    Args:
        audio_embeds, text_embeds: (B, d) projected embeddings (L2-normalised here).
        logit_scale: the scale multiplier (``exp`` of the stored log scale, clamped).
        local_audio_features: (B, D) mean-pooled local audio features (Eq. 5); None when gamma == 1 or beta == 0.
        text_target_embeds: (B, D') text embeddings for the t2t target (Eq. 6); None when gamma == 0 or beta == 0.
        beta: fusion factor (Eq. 8); 0 gives exactly `clap_loss`. Keyword-only, like every hyper-parameter:
            beta and gamma are easy to swap (the paper states them two ways).
        gamma: mix gamma (Eq. 7). tau_a2a, tau_t2t, tau_pred: temperatures of Eq. 5, 6 and 9-10.

    Targets carry no gradient.
    """
    if not 0.0 <= beta <= 1.0 or not 0.0 <= gamma <= 1.0:
        raise ValueError(f"beta and gamma must be in [0, 1], got beta={beta}, gamma={gamma}.")
    n = audio_embeds.shape[0]
    _check_batch("text_embeds", text_embeds, n)
    if beta > 0.0 and gamma < 1.0 and local_audio_features is None:
        raise ValueError("local_audio_features are needed for the a2a target (beta > 0, gamma < 1).")
    if beta > 0.0 and gamma > 0.0 and text_target_embeds is None:
        raise ValueError("text_target_embeds are needed for the t2t target (beta > 0, gamma > 0).")
    for name, tensor in (("local_audio_features", local_audio_features), ("text_target_embeds", text_target_embeds)):
        _check_batch(name, tensor, n)
    if beta == 0.0:
        # y = I has zeros, where KL(p || y) is infinite. We take the reverse KL over the target's support
        # {j: y_ij > 0} with p renormalised on it: for y = I that is p_ii / p_ii = 1 = y_ii, so the reverse terms
        # are exactly 0 and the forward terms -log p_ii: exactly the symmetric InfoNCE of CLAP (ParaCLAP).
        return clap_loss(audio_embeds, text_embeds, logit_scale, tau_pred)
    with torch.autocast(device_type=audio_embeds.device.type, enabled=False):
        s = _scaled_similarity(audio_embeds, text_embeds, logit_scale, tau_pred)  # Eq. 4, / tau_pred (Eq. 9-10)
        log_y = soft_targets(n, local_audio_features, text_target_embeds, beta, gamma, tau_a2a, tau_t2t, s.device)
        y = log_y.exp()
        loss = _SymmetricKL.apply(s, y, log_y)  # Eq. 9: audio i over the texts (row i of s)
        # Eq. 10: text i over the audios (column i of s, contiguous for row-wise kernels)
        loss = loss + _SymmetricKL.apply(s.T.contiguous(), y, log_y)
        return loss / (2 * n)  # Eq. 11


# --------------------------------------------------------------------------- outputs
@dataclass
class SmoothClapOutput(ModelOutput):
    """Output of `SmoothClapModel.forward`.

    Args:
        loss: soft-target loss (with ``return_loss=True``).
        logits_per_audio: (n_audio, n_text) scaled similarities; softmax over texts gives the zero-shot class
            probabilities. logits_per_text: (n_text, n_audio), the transpose.
        audio_embeds, text_embeds: (n, projection_dim) L2-normalised embeddings.
        audio_pooled_output, text_pooled_output: (n, hidden) the inputs of the heads: the audio encoder's last hidden
            state mean-pooled over valid frames (by default also the audio-to-audio target's input; a trainer can
            cache it as ``pooled_audio_features`` or gather it across processes), the text encoder's pooled output.
        audio_model_output, text_model_output: the encoders' outputs (audio: None for cached features).
    """

    loss: torch.FloatTensor | None = None
    logits_per_audio: torch.FloatTensor | None = None
    logits_per_text: torch.FloatTensor | None = None
    audio_embeds: torch.FloatTensor | None = None
    text_embeds: torch.FloatTensor | None = None
    audio_pooled_output: torch.FloatTensor | None = None
    text_pooled_output: torch.FloatTensor | None = None
    audio_model_output: BaseModelOutput | None = None
    text_model_output: BaseModelOutput | None = None

    def to_tuple(self) -> tuple:
        return tuple(v.to_tuple() if isinstance(v, ModelOutput) else v for v in self.values())


# --------------------------------------------------------------------------- modules
class SmoothClapProjection(nn.Module):
    """ParaCLAP's projection head: e1 = W1 x; e2 = dropout(W2 gelu(e1)); LayerNorm(e1 + e2)."""

    def __init__(self, in_dim: int, out_dim: int, dropout: float):
        super().__init__()
        self.linear1 = nn.Linear(in_dim, out_dim, bias=False)
        self.linear2 = nn.Linear(out_dim, out_dim, bias=False)
        self.dropout = nn.Dropout(dropout)
        self.layer_norm = nn.LayerNorm(out_dim)

    def forward(self, x):
        e1 = self.linear1(x)
        e2 = self.dropout(self.linear2(F.gelu(e1)))
        return self.layer_norm(e1 + e2)


class SmoothClapLogitScale(nn.Module):
    """The learnable logit scale, stored as its log (CLIP/CLAP convention). A module rather than a bare parameter
    so that PEFT can train and save it (``LoraConfig(modules_to_save=["logit_scale", ...])``). Calling it returns
    the multiplier ``exp(log_scale)``, clamped to at most ``max_scale``."""

    def __init__(self, init_value: float, max_scale: float = 100.0):
        super().__init__()
        self.log_scale = nn.Parameter(torch.tensor(float(init_value)))
        self.max_scale = max_scale

    def forward(self) -> torch.Tensor:
        return self.log_scale.exp().clamp(max=self.max_scale)


def _tower_kwargs(kwargs) -> dict:
    """The keyword arguments an encoder understands (the pipeline also passes others)."""
    return {key: kwargs[key] for key in ("output_hidden_states", "output_attentions") if kwargs.get(key) is not None}


def _drop_pooler(encoder: nn.Module) -> None:
    """BERT-style encoders carry a pooler (dense + tanh on [CLS]) that SmoothCLAP never uses: under
    DistributedDataParallel its parameters never get a gradient and step 2 fails ("Expected to have finished
    reduction in the prior iteration"). Drop it."""
    if isinstance(getattr(encoder, "pooler", None), nn.Module):
        encoder.pooler = None


def _evaluated(fn, *modules: nn.Module):
    """``fn()`` with ``modules`` in eval mode and without gradient; their train modes are restored after it."""
    modes = [m.training for m in modules]
    try:
        for m in modules:
            m.eval()
        with torch.no_grad():
            return fn()
    finally:
        for m, mode in zip(modules, modes):
            m.train(mode)


def _layer_classes(encoder: nn.Module) -> set[str]:
    """Class names of an encoder's transformer layers (device_map must not split them)."""
    stack = getattr(encoder, "encoder", None)
    return {type(layer).__name__ for layer in getattr(stack, "layers", None) or getattr(stack, "layer", None) or []}


def pool_audio_encoder(encoder, input_values, audio_attention_mask=None, **kwargs):
    """(mean over valid frames of ``encoder``'s last hidden state (B, hidden), its output).

    The one pooling rule for the audio tower and for any separate local feature extractor (Wav2Vec2, HuBERT,
    WavLM). Encoders with group-norm feature extractors (wav2vec2-base) must not get a mask (their docs: pad with
    zeros instead); layer-norm ones (the paper's) need it. Padded frames never enter the mean.
    """
    pass_mask = getattr(encoder.config, "feat_extract_norm", "layer") == "layer"
    out = encoder(input_values, attention_mask=audio_attention_mask if pass_mask else None, return_dict=True, **kwargs)
    hidden = out.last_hidden_state
    frame_mask = None
    if audio_attention_mask is not None:
        if not hasattr(encoder, "_get_feature_vector_attention_mask"):
            raise ValueError(f"{type(encoder).__name__} cannot map a sample mask to frames; pass clips of equal length "
                             "(no audio_attention_mask) or use a Wav2Vec2/HuBERT/WavLM encoder.")
        frame_mask = encoder._get_feature_vector_attention_mask(hidden.shape[1], audio_attention_mask)
    return mean_pool(hidden, frame_mask), out


# --------------------------------------------------------------------------- model
class SmoothClapPreTrainedModel(PreTrainedModel):
    config_class = SmoothClapConfig
    config: SmoothClapConfig
    base_model_prefix = "smoothclap"
    main_input_name = "input_ids"  # forward's first argument, as in transformers' ClapModel
    input_modalities = ("audio", "text")
    supports_gradient_checkpointing = True
    # Attention runs inside the two towers; these flags let from_pretrained(attn_implementation=...) and
    # set_attn_implementation(...) reach them (each tower then checks its own support).
    _supports_sdpa = _supports_flash_attn = _supports_flex_attn = True
    _no_split_modules = ["SmoothClapProjection"]
    # checkpoints written before the text pooler was dropped still carry its weights
    _keys_to_ignore_on_load_unexpected = [r"text_model\.pooler\."]

    @torch.no_grad()
    def initialize_weights(self):
        """Each encoder first, by its own ``initialize_weights``, exactly as when it is built or loaded on its own;
        then SmoothCLAP's own modules (`_init_weights`). transformers' walk from the top runs the encoders' inits
        with this class's "custom code" flag, which skips their parameter-less parent modules (wav2vec2's feature
        projection and positional convolution), so ``from_pretrained(..., state_dict={})`` initialised those
        weights unlike ``__init__``. The encoders' init functions skip loaded weights."""
        for encoder in self.children():
            if isinstance(encoder, PreTrainedModel):
                encoder.initialize_weights()
        super().initialize_weights()  # the encoders' modules are marked initialised: only the heads are left

    def _init_weights(self, module):
        # SmoothCLAP's own modules (heads, logit scale); the init functions skip tensors loaded from a checkpoint
        if isinstance(module, nn.Linear):  # heads: variance-preserving normal init
            init.normal_(module.weight, mean=0.0, std=module.in_features ** -0.5)
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, nn.LayerNorm):
            init.ones_(module.weight)
            init.zeros_(module.bias)
        elif isinstance(module, SmoothClapLogitScale):
            init.constant_(module.log_scale, self.config.logit_scale_init_value)


class SmoothClapModel(SmoothClapPreTrainedModel):
    r"""Audio encoder + text encoder + two ParaCLAP heads + a learnable logit scale.

    Build it from a `SmoothClapConfig` (random encoders), from two pretrained encoders with
    `from_audio_text_pretrained`, or load a saved SmoothCLAP with `from_pretrained`. `freeze_encoder("audio")`
    freezes a tower the way the paper's recipe needs (no gradient, and eval mode across `model.train()` calls).
    """

    def __init__(self, config: SmoothClapConfig, audio_model: PreTrainedModel | None = None,
                 text_model: PreTrainedModel | None = None):
        super().__init__(config)
        self.audio_model = audio_model if audio_model is not None else AutoModel.from_config(config.audio_config)
        self.text_model = text_model if text_model is not None else AutoModel.from_config(config.text_config)
        # share the sub-configs so that edits to config.audio_config reach the encoder
        self.audio_model.config = self.config.audio_config
        self.text_model.config = self.config.text_config
        _drop_pooler(self.text_model)
        self.audio_projection = SmoothClapProjection(config.audio_config.hidden_size, config.projection_dim,
                                                     config.projection_dropout)
        self.text_projection = SmoothClapProjection(config.text_config.hidden_size, config.projection_dim,
                                                    config.projection_dropout)
        self.logit_scale = SmoothClapLogitScale(config.logit_scale_init_value)
        self._frozen_encoders: set[str] = set()
        self._no_split_modules = set(self._no_split_modules) | _layer_classes(self.audio_model) | _layer_classes(
            self.text_model)
        self.post_init()

    # ------------------------------------------------------------------ building, freezing
    @classmethod
    def from_audio_text_pretrained(cls, audio_model_name_or_path: str, text_model_name_or_path: str,
                                   audio_kwargs: dict | None = None, text_kwargs: dict | None = None,
                                   **config_kwargs) -> "SmoothClapModel":
        """Build a SmoothCLAP from a pretrained audio encoder and a pretrained text encoder (Hub names or local
        folders), e.g. ``SmoothClapModel.from_audio_text_pretrained(
        "audeering/wav2vec2-large-robust-12-ft-emotion-msp-dim", "bert-base-uncased")``. Heads and logit scale are
        freshly initialised; ``config_kwargs`` go to `SmoothClapConfig` (beta, gamma, projection_dim, ...)."""
        audio_model = AutoModel.from_pretrained(audio_model_name_or_path, **(audio_kwargs or {}))
        text_model = AutoModel.from_pretrained(text_model_name_or_path, **(text_kwargs or {}))
        config = cls.config_class.from_audio_text_configs(audio_model.config, text_model.config, **config_kwargs)
        return cls(config, audio_model=audio_model, text_model=text_model)

    def _tower(self, name: str) -> PreTrainedModel:
        if name not in ("audio", "text"):
            raise ValueError(f"Unknown encoder {name!r}: choose 'audio' or 'text'.")
        return self.audio_model if name == "audio" else self.text_model

    def freeze_encoder(self, tower: str, frozen: bool = True) -> "SmoothClapModel":
        """Freeze (or unfreeze) the ``"audio"`` or ``"text"`` encoder.

        A frozen encoder has ``requires_grad=False`` AND stays in eval mode across ``model.train()`` calls:
        ``requires_grad=False`` alone would leave SpecAugment masking, LayerDrop and dropout active in training
        mode, so the features (and the audio-to-audio soft targets built from them) would be noisy. Not saved
        with the model: call it in the training script.
        """
        module = self._tower(tower).requires_grad_(not frozen)
        (self._frozen_encoders.add if frozen else self._frozen_encoders.discard)(tower)
        module.train(self.training and not frozen)  # frozen: eval mode; unfrozen: the model's mode
        return self

    @property
    def frozen_encoders(self) -> frozenset:
        return frozenset(self._frozen_encoders)

    def train(self, mode: bool = True):
        super().train(mode)
        for tower in getattr(self, "_frozen_encoders", ()):
            self._tower(tower).eval()
        return self

    # ------------------------------------------------------------------ towers
    @staticmethod
    def _trainable(module: nn.Module) -> bool:
        return any(p.requires_grad for p in module.parameters())

    def _anchor(self, x: torch.Tensor, module: nn.Module) -> torch.Tensor:
        """x + 0 * (one element of every trainable parameter of ``module``), in training.

        DistributedDataParallel needs every trainable parameter in the graph at every step; LayerDrop (and an
        unused SpecAugment embedding) leave some out, at random, and DDP then fails at the next step. This ties
        them in at no cost: their gradient is exactly 0, as a skipped layer's should be (LayerDrop keeps its meaning).
        """
        training = module.training and torch.is_grad_enabled()
        params = [p for p in module.parameters() if p.requires_grad] if training else []
        return x + 0.0 * sum(p.reshape(-1)[0].to(x.dtype) for p in params) if params else x

    def _run_audio(self, input_values, audio_attention_mask=None, **kwargs):
        """(mean-pooled last hidden state (B, hidden), the encoder's output)."""
        if input_values is None:
            raise ValueError("No audio: pass input_values (from the processor) or pooled_audio_features "
                             "(cached mean-pooled encoder outputs, (batch, audio hidden size)).")
        with torch.set_grad_enabled(torch.is_grad_enabled() and self._trainable(self.audio_model)):
            pooled, out = pool_audio_encoder(self.audio_model, input_values, audio_attention_mask,
                                             **_tower_kwargs(kwargs))
        return self._anchor(pooled, self.audio_model), out

    def _run_text(self, input_ids, attention_mask=None, token_type_ids=None, **kwargs):
        """([CLS] of the last layer (paper) or the masked token mean, the encoder's output)."""
        if input_ids is None:
            raise ValueError("No text: pass input_ids (from the processor or a tokenizer).")
        extra = {**_tower_kwargs(kwargs), **({} if token_type_ids is None else {"token_type_ids": token_type_ids})}
        with torch.set_grad_enabled(torch.is_grad_enabled() and self._trainable(self.text_model)):
            out = self.text_model(input_ids, attention_mask=attention_mask, return_dict=True, **extra)
        hidden = out.last_hidden_state
        pooled = hidden[:, 0] if self.config.text_pooling == "cls" else mean_pool(hidden, attention_mask)
        return self._anchor(pooled, self.text_model), out

    def _check_pooled(self, pooled_audio_features):
        expected = self.config.audio_config.hidden_size
        if pooled_audio_features.dim() != 2 or pooled_audio_features.shape[-1] != expected:
            raise ValueError(f"pooled_audio_features must be (batch, {expected}) (the audio encoder's mean-pooled last "
                             "hidden state, e.g. a cached SmoothClapOutput.audio_pooled_output); got "
                             f"{tuple(pooled_audio_features.shape)}.")
        return pooled_audio_features

    def pooled_audio(self, input_values, audio_attention_mask=None):
        """Mean over valid frames of the audio encoder's last hidden state, (B, hidden): the features to cache when
        the audio encoder is frozen (pass them back as ``pooled_audio_features``)."""
        return self._run_audio(input_values, audio_attention_mask)[0]

    def pooled_text(self, input_ids, attention_mask=None, token_type_ids=None):
        """[CLS] of the last layer (paper), or the masked token mean (``text_pooling="mean"``)."""
        return self._run_text(input_ids, attention_mask, token_type_ids)[0]

    @staticmethod
    def _audio_mask_from(input_values, audio_attention_mask, attention_mask):
        # A bare Wav2Vec2FeatureExtractor output calls its mask `attention_mask`.
        if (audio_attention_mask is None and attention_mask is not None and input_values is not None
                and attention_mask.shape == input_values.shape):
            return attention_mask
        return audio_attention_mask

    def _embed_audio(self, input_values, audio_attention_mask, pooled_audio_features, **kwargs):
        pooled, out = ((self._check_pooled(pooled_audio_features), None) if pooled_audio_features is not None
                       else self._run_audio(input_values, audio_attention_mask, **kwargs))
        return pooled, F.normalize(self.audio_projection(pooled), dim=-1), out

    def _embed_text(self, input_ids, attention_mask, token_type_ids, **kwargs):
        pooled, out = self._run_text(input_ids, attention_mask, token_type_ids, **kwargs)
        return pooled, F.normalize(self.text_projection(pooled), dim=-1), out

    @can_return_tuple
    def get_audio_features(self, input_values=None, audio_attention_mask=None, attention_mask=None, *,
                           pooled_audio_features=None, **kwargs) -> BaseModelOutputWithPooling:
        """Audio embeddings, as transformers' CLAP: a `BaseModelOutputWithPooling` whose ``pooler_output`` is the
        L2-normalised (B, projection_dim) embedding and whose other fields are the audio encoder's
        (``output_hidden_states``/``output_attentions`` pass through; ``return_dict=False`` gives a tuple).
        ``model.get_audio_features(**processor(audio=clips, sampling_rate=sr)).pooler_output``.
        ``pooled_audio_features`` (B, hidden) skips the encoder (cached features)."""
        mask = self._audio_mask_from(input_values, audio_attention_mask, attention_mask)
        _, embeds, out = self._embed_audio(input_values, mask, pooled_audio_features, **kwargs)
        fields = ("last_hidden_state", "hidden_states", "attentions")
        return BaseModelOutputWithPooling(pooler_output=embeds, **{k: getattr(out, k, None) for k in fields})

    @can_return_tuple
    def get_text_features(self, input_ids=None, attention_mask=None, token_type_ids=None,
                          **kwargs) -> BaseModelOutputWithPooling:
        """Text embeddings, as transformers' CLAP: a `BaseModelOutputWithPooling` whose ``pooler_output`` is the
        L2-normalised (B, projection_dim) embedding and whose other fields are the text encoder's.
        ``model.get_text_features(**processor(text=texts)).pooler_output``."""
        _, embeds, out = self._embed_text(input_ids, attention_mask, token_type_ids, **kwargs)
        return BaseModelOutputWithPooling(last_hidden_state=out.last_hidden_state, pooler_output=embeds,
                                          hidden_states=out.hidden_states, attentions=out.attentions)

    def get_input_embeddings(self) -> nn.Module:
        return self.text_model.get_input_embeddings()  # resize_token_embeddings acts on the text tower

    def set_input_embeddings(self, value: nn.Module) -> None:
        self.text_model.set_input_embeddings(value)

    def scale(self) -> torch.Tensor:
        """The logit scale multiplier, exp of the stored log value, clamped to at most 100."""
        return self.logit_scale()

    # ------------------------------------------------------------------ forward
    @can_return_tuple
    def forward(self, input_ids: torch.LongTensor | None = None, attention_mask: torch.Tensor | None = None,
                token_type_ids: torch.LongTensor | None = None, input_values: torch.FloatTensor | None = None,
                audio_attention_mask: torch.Tensor | None = None, pooled_audio_features: torch.Tensor | None = None,
                local_audio_features: torch.FloatTensor | None = None, local_audio_mask: torch.Tensor | None = None,
                text_target_embeds: torch.FloatTensor | None = None, return_loss: bool | None = None,
                **kwargs) -> SmoothClapOutput | tuple:
        r"""
        Args:
            input_ids, attention_mask, token_type_ids: tokenised texts (the processor's or the stock pipeline's).
            input_values, audio_attention_mask: audio batch from `SmoothClapProcessor` (the stock pipeline passes
                `input_values` only, one clip at a time).
            pooled_audio_features: (B, audio hidden) mean-pooled audio encoder outputs used instead of
                `input_values` (a feature cache for a frozen audio encoder; the numbers of
                `SmoothClapOutput.audio_pooled_output`).
            local_audio_features: (B, D) or (B, T, D) features of a frozen local extractor for the audio-to-audio
                target (Eq. 5); (B, T, D) is mean-pooled over `local_audio_mask` (B, T) if given. Default: the
                audio encoder's pooled output in eval mode, without gradient (frozen encoder: the detached pooled
                output of this forward; trainable: an extra no-grad pass, so no dropout/SpecAugment noise).
            text_target_embeds: (B, D') text embeddings for the text-to-text target (Eq. 6), e.g. of compact tag
                strings. Default: the caption embeddings without dropout or gradient (in train mode an extra
                no-grad eval pass of the text side, as for the audio-to-audio target).
            return_loss: compute the soft-target loss (audio i pairs with text i).
            output_hidden_states, output_attentions: passed to both encoders; other keys (pipeline extras) are ignored.
        """
        if input_ids is None or (input_values is None and pooled_audio_features is None):
            raise ValueError("forward needs text (input_ids) and audio (input_values or pooled_audio_features); "
                             "use get_audio_features / get_text_features for one modality.")
        pooled_audio, audio_embeds, audio_out = self._embed_audio(input_values, audio_attention_mask,
                                                                  pooled_audio_features, **kwargs)
        pooled_text, text_embeds, text_out = self._embed_text(input_ids, attention_mask, token_type_ids, **kwargs)
        logits_per_audio = (self.scale() / self.config.tau_pred) * audio_embeds @ text_embeds.T
        loss = None
        if return_loss:
            if local_audio_features is None:
                local_audio_features = self.target_audio_features(pooled_audio, input_values, audio_attention_mask,
                                                                   pooled_audio_features is not None)
            elif local_audio_features.dim() == 3:
                local_audio_features = mean_pool(local_audio_features, local_audio_mask)
            if text_target_embeds is None:
                text_target_embeds = self.target_text_features(text_embeds, input_ids, attention_mask, token_type_ids)
            loss = self.loss(audio_embeds, text_embeds, local_audio_features=local_audio_features,
                             text_target_embeds=text_target_embeds)
        return SmoothClapOutput(loss=loss, logits_per_audio=logits_per_audio, logits_per_text=logits_per_audio.T,
                                audio_embeds=audio_embeds, text_embeds=text_embeds, audio_pooled_output=pooled_audio,
                                text_pooled_output=pooled_text, audio_model_output=audio_out,
                                text_model_output=text_out)

    def target_audio_features(self, pooled_audio, input_values, audio_attention_mask=None, cached: bool = False):
        """Default inputs of the audio-to-audio target (Eq. 5): eval-mode, gradient-free features of the audio
        encoder. ``pooled_audio`` is the forward's ``audio_pooled_output``; ``cached=True`` when it came from
        ``pooled_audio_features``. None when the loss has no audio-to-audio term (beta = 0 or gamma = 1)."""
        if self.config.beta == 0.0 or self.config.gamma == 1.0:
            return None  # no audio-to-audio target
        if cached or not (self.audio_model.training and self._trainable(self.audio_model)):
            return pooled_audio.detach()  # frozen/eval encoder (or cached): already clean
        return _evaluated(lambda: self._run_audio(input_values, audio_attention_mask)[0], self.audio_model)

    def clean_text_embeds(self, input_ids, attention_mask=None, token_type_ids=None) -> torch.Tensor:
        """Text embeddings (B, projection_dim) from a dropout-free, gradient-free pass: the text tower and its head
        in eval mode for this call only (train mode is restored)."""
        return _evaluated(lambda: self._embed_text(input_ids, attention_mask, token_type_ids)[1], self.text_model,
                          self.text_projection)

    def target_text_features(self, text_embeds, input_ids=None, attention_mask=None, token_type_ids=None):
        """Default inputs of the text-to-text target (Eq. 6): the caption embeddings without dropout and without
        gradient, like the audio-to-audio target. ``text_embeds`` is the forward's: used (detached) when the text
        side is in eval mode; in train mode an extra no-grad eval pass, so the projection's dropout (0.5) never
        enters the targets (with it, they are noisy and lean toward the identity). None when the loss has no
        text-to-text term (beta = 0 or gamma = 0)."""
        if self.config.beta == 0.0 or self.config.gamma == 0.0:
            return None
        if input_ids is None or not (self.text_model.training or self.text_projection.training):
            return text_embeds.detach()
        return self.clean_text_embeds(input_ids, attention_mask, token_type_ids)

    def loss(self, audio_embeds, text_embeds, *, local_audio_features=None, text_target_embeds=None):
        """The configured soft-target loss for one (already gathered) batch.

        ``local_audio_features`` (B, D): inputs of the audio-to-audio target (Eq. 5), needed when beta > 0 and
        gamma < 1; ``text_target_embeds`` (B, D'): inputs of the text-to-text target (Eq. 6), default
        ``text_embeds.detach()``. beta = 0 takes soft_target_loss's exact InfoNCE path (ParaCLAP)."""
        cfg, targets = self.config, text_embeds.detach() if text_target_embeds is None else text_target_embeds
        return soft_target_loss(audio_embeds, text_embeds, self.scale(), local_audio_features, targets, beta=cfg.beta,
                                gamma=cfg.gamma, tau_a2a=cfg.tau_a2a, tau_t2t=cfg.tau_t2t, tau_pred=cfg.tau_pred)


__all__ = ["SmoothClapModel", "SmoothClapPreTrainedModel", "SmoothClapOutput", "SmoothClapProjection",
           "SmoothClapLogitScale", "soft_target_loss", "clap_loss", "soft_targets", "mean_pool", "pool_audio_encoder"]

SmoothClapModel.register_for_auto_class("AutoModel")  # auto_map + copies the .py files on save
if not __package__:  # a plain module: AutoModel knows it locally (see configuration_smoothclap.py)
    AutoModel.register(SmoothClapConfig, SmoothClapModel, exist_ok=True)

if __package__ and not __package__.startswith("smoothclap."):  # remote code. transformers copies the files a
    # model file imports relatively, so this line makes every save_pretrained (of this copy too) ship the zero-shot
    # pipeline that config.custom_pipelines names. At the repository root and in the installed package (where
    # importing transformers' pipelines would cost every AutoModel user seconds) it is not run, but save_pretrained
    # still reads it and copies pipeline_smoothclap.py too.
    from .pipeline_smoothclap import SmoothClapZeroShotAudioClassificationPipeline  # noqa: F401

"""SmoothCLAP: CLAP with soft targets from intra-modal similarity (Jing et al., ICASSP 2026).

Inference is plain CLAP: embed audio, embed candidate texts, compare. Training adds the
soft-target loss of Eq. 4-11 (`soft_target_loss`); with beta = 0 it is the symmetric
InfoNCE of CLAP/ParaCLAP (`clap_loss`). Both losses are pure functions over plain tensors
so that distributed gathering (see train_accelerate.py) stays outside them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from transformers import AutoConfig, AutoModel, PreTrainedModel
from transformers import initialization as init
from transformers.utils import ModelOutput

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
    """Symmetric InfoNCE of CLAP (ParaCLAP's loss): mean of audio->text and text->audio
    cross-entropy with the diagonal as targets. Embeddings are L2-normalised here;
    ``logit_scale`` is the multiplier itself (already exp'ed and clamped)."""
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
    """log_softmax over rows of (f_i . f_j / tau) with f L2-normalised (Eq. 5 and 6).

    Normalises the B x B Gram matrix instead of the B x D features: same numbers, fewer
    passes over memory when D > B (768-1024 vs the batch size).
    """
    f = features.float()
    norm = f.norm(dim=-1).clamp_min(1e-12) * math.sqrt(tau)
    gram = _gram(f).div_(norm[:, None] * norm[None, :])
    return F.log_softmax(gram, dim=-1)


def soft_targets(n, local_audio_features, text_target_embeds, beta, gamma, tau_a2a, tau_t2t, device=None):
    """Log of the SmoothCLAP target matrix y (Eq. 5-8), (B, B), float32, no gradient.

    Row i is sample i's target distribution over the batch. Computed in log space so that
    every entry is finite whenever beta > 0, however small q gets (in linear space it
    would underflow to 0 for small temperatures, and KL(p || y) would be infinite).
    """
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

    Both KLs of Eq. 11 in one expression, sum_ij (p_ij - y_ij)(log p_ij - log y_ij), with a
    hand-written backward (fewer passes over the B x B matrices than autograd's):
        d/dz_ik = p_ik (log p_ik - log y_ik + 1 - KL(p_i || y_i)) - y_ik.
    log_y must be finite: true for beta > 0, where y is built in log space.
    """

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


def soft_target_loss(
    audio_embeds,
    text_embeds,
    logit_scale,
    local_audio_features,
    text_target_embeds,
    beta: float,
    gamma: float,
    tau_a2a: float,
    tau_t2t: float,
    tau_pred: float = 1.0,
) -> torch.Tensor:
    """SmoothCLAP soft-target loss, Eq. 4-11 of the paper, as a scalar float32 tensor.

    Args:
        audio_embeds, text_embeds: (B, d) projected embeddings (L2-normalised here).
        logit_scale: the scale multiplier (``exp`` of the stored log scale, clamped).
        local_audio_features: (B, D) mean-pooled local audio features (Eq. 5), or None
            when gamma == 1 or beta == 0.
        text_target_embeds: (B, D') text embeddings for the t2t target (Eq. 6), or None
            when gamma == 0 or beta == 0.
        beta: fusion factor (Eq. 8); 0 gives exactly `clap_loss`.
        gamma: mix gamma (Eq. 7).
        tau_a2a, tau_t2t, tau_pred: temperatures of Eq. 5, 6 and 9-10.

    Targets carry no gradient. Computed in float32 with autocast disabled.
    """
    if not 0.0 <= beta <= 1.0 or not 0.0 <= gamma <= 1.0:
        raise ValueError(f"beta and gamma must be in [0, 1], got beta={beta}, gamma={gamma}.")
    if beta > 0.0 and gamma < 1.0 and local_audio_features is None:
        raise ValueError("local_audio_features are needed for the a2a target (beta > 0, gamma < 1).")
    if beta > 0.0 and gamma > 0.0 and text_target_embeds is None:
        raise ValueError("text_target_embeds are needed for the t2t target (beta > 0, gamma > 0).")
    if beta == 0.0:
        # y = I has zeros, where KL(p || y) is infinite. We take the reverse KL over the
        # target's support {j: y_ij > 0} with p renormalised on it: for y = I that is
        # p_ii / p_ii = 1 = y_ii, so the reverse terms are exactly 0 and the forward terms
        # are -log p_ii: the loss is exactly the symmetric InfoNCE of CLAP (ParaCLAP).
        return clap_loss(audio_embeds, text_embeds, logit_scale, tau_pred)
    n = audio_embeds.shape[0]
    with torch.autocast(device_type=audio_embeds.device.type, enabled=False):
        s = _scaled_similarity(audio_embeds, text_embeds, logit_scale, tau_pred)  # Eq. 4, / tau_pred (Eq. 9-10)
        log_y = soft_targets(n, local_audio_features, text_target_embeds, beta, gamma, tau_a2a,
                             tau_t2t, device=s.device)
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
        logits_per_audio: (n_audio, n_text) scaled similarities; softmax over texts gives
            the zero-shot class probabilities.
        logits_per_text: (n_text, n_audio), the transpose.
        audio_embeds: (n_audio, projection_dim) L2-normalised audio embeddings.
        text_embeds: (n_text, projection_dim) L2-normalised text embeddings.
    """

    loss: torch.FloatTensor | None = None
    logits_per_audio: torch.FloatTensor | None = None
    logits_per_text: torch.FloatTensor | None = None
    audio_embeds: torch.FloatTensor | None = None
    text_embeds: torch.FloatTensor | None = None


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


class SmoothClapPreTrainedModel(PreTrainedModel):
    config_class = SmoothClapConfig
    config: SmoothClapConfig
    base_model_prefix = "smoothclap"
    main_input_name = "input_values"
    input_modalities = ("audio", "text")
    supports_gradient_checkpointing = True

    def _init_weights(self, module):
        # transformers.initialization functions skip tensors already loaded from a
        # checkpoint, so this never overwrites pretrained weights.
        if isinstance(module, SmoothClapProjection):
            init.normal_(module.linear1.weight, mean=0.0, std=module.linear1.in_features ** -0.5)
            init.normal_(module.linear2.weight, mean=0.0, std=module.linear2.in_features ** -0.5)
            init.ones_(module.layer_norm.weight)
            init.zeros_(module.layer_norm.bias)
        elif isinstance(module, SmoothClapModel):
            init.constant_(module.logit_scale, self.config.logit_scale_init_value)


class SmoothClapModel(SmoothClapPreTrainedModel):
    r"""Audio encoder + text encoder + two ParaCLAP heads + a learnable logit scale.

    Build it from a `SmoothClapConfig` (random encoders), from two pretrained encoders with
    `from_audio_text_pretrained`, or load a saved SmoothCLAP with `from_pretrained`.
    """

    def __init__(self, config: SmoothClapConfig, audio_model: PreTrainedModel | None = None,
                 text_model: PreTrainedModel | None = None):
        super().__init__(config)
        self.audio_model = audio_model if audio_model is not None else AutoModel.from_config(config.audio_config)
        self.text_model = text_model if text_model is not None else AutoModel.from_config(config.text_config)
        # share the sub-configs so that edits to config.audio_config reach the encoder
        self.audio_model.config = self.config.audio_config
        self.text_model.config = self.config.text_config
        self.audio_projection = SmoothClapProjection(
            config.audio_config.hidden_size, config.projection_dim, config.projection_dropout)
        self.text_projection = SmoothClapProjection(
            config.text_config.hidden_size, config.projection_dim, config.projection_dropout)
        self.logit_scale = nn.Parameter(torch.tensor(float(config.logit_scale_init_value)))
        self.post_init()

    # ------------------------------------------------------------------ building
    @classmethod
    def from_audio_text_pretrained(cls, audio_model_name_or_path: str, text_model_name_or_path: str,
                                   audio_kwargs: dict | None = None, text_kwargs: dict | None = None,
                                   **config_kwargs) -> "SmoothClapModel":
        """Build a SmoothCLAP from a pretrained audio encoder and a pretrained text encoder.

        Example (needs the Hub): ``SmoothClapModel.from_audio_text_pretrained(
        "audeering/wav2vec2-large-robust-12-ft-emotion-msp-dim", "bert-base-uncased")``.
        Local folders work the same way. Heads and logit scale are freshly initialised;
        ``config_kwargs`` go to `SmoothClapConfig` (beta, gamma, projection_dim, ...).
        """
        audio_model = AutoModel.from_pretrained(audio_model_name_or_path, **(audio_kwargs or {}))
        text_model = AutoModel.from_pretrained(text_model_name_or_path, **(text_kwargs or {}))
        config = cls.config_class.from_audio_text_configs(audio_model.config, text_model.config, **config_kwargs)
        return cls(config, audio_model=audio_model, text_model=text_model)

    # ------------------------------------------------------------------ towers
    def _frame_mask(self, hidden_len: int, audio_attention_mask):
        if audio_attention_mask is None:
            return None
        if hasattr(self.audio_model, "_get_feature_vector_attention_mask"):
            return self.audio_model._get_feature_vector_attention_mask(hidden_len, audio_attention_mask)
        raise ValueError(
            f"{type(self.audio_model).__name__} cannot map a sample mask to frames; pass clips of "
            "equal length (no audio_attention_mask) or use a Wav2Vec2/HuBERT/WavLM encoder.")

    def pooled_audio(self, input_values, audio_attention_mask=None):
        """Mean over valid frames of the audio encoder's last hidden state, (B, hidden)."""
        # Encoders with group-norm feature extractors (wav2vec2-base) must not get a mask
        # (their docs: pad with zeros instead); layer-norm ones (the paper's) need it.
        pass_mask = getattr(self.config.audio_config, "feat_extract_norm", "layer") == "layer"
        out = self.audio_model(
            input_values, attention_mask=audio_attention_mask if pass_mask else None)
        hidden = out.last_hidden_state
        return mean_pool(hidden, self._frame_mask(hidden.shape[1], audio_attention_mask))

    def pooled_text(self, input_ids, attention_mask=None, token_type_ids=None):
        """[CLS] of the last layer (paper), or the masked token mean (``text_pooling="mean"``)."""
        kwargs = {"attention_mask": attention_mask}
        if token_type_ids is not None:
            kwargs["token_type_ids"] = token_type_ids
        hidden = self.text_model(input_ids, **kwargs).last_hidden_state
        if self.config.text_pooling == "cls":
            return hidden[:, 0]
        return mean_pool(hidden, attention_mask)

    def _audio_mask_from(self, input_values, audio_attention_mask, attention_mask):
        # A bare Wav2Vec2FeatureExtractor output calls its mask `attention_mask`.
        if audio_attention_mask is None and attention_mask is not None and attention_mask.shape == input_values.shape:
            return attention_mask
        return audio_attention_mask

    def get_audio_features(self, input_values, audio_attention_mask=None, attention_mask=None, **kwargs):
        """L2-normalised audio embeddings (B, projection_dim).
        ``model.get_audio_features(**processor(audio=clips, sampling_rate=sr))``."""
        mask = self._audio_mask_from(input_values, audio_attention_mask, attention_mask)
        return F.normalize(self.audio_projection(self.pooled_audio(input_values, mask)), dim=-1)

    def get_text_features(self, input_ids, attention_mask=None, token_type_ids=None, **kwargs):
        """L2-normalised text embeddings (B, projection_dim).
        ``model.get_text_features(**processor(text=texts))``."""
        return F.normalize(self.text_projection(self.pooled_text(input_ids, attention_mask, token_type_ids)), dim=-1)

    def scale(self) -> torch.Tensor:
        """The logit scale multiplier, exp of the stored log value, clamped to at most 100."""
        return self.logit_scale.exp().clamp(max=100.0)

    # ------------------------------------------------------------------ forward
    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.LongTensor | None = None,
        input_values: torch.FloatTensor | None = None,
        audio_attention_mask: torch.Tensor | None = None,
        local_audio_features: torch.FloatTensor | None = None,
        local_audio_mask: torch.Tensor | None = None,
        text_target_embeds: torch.FloatTensor | None = None,
        return_loss: bool | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> SmoothClapOutput | tuple:
        r"""
        Args:
            input_ids, attention_mask, token_type_ids: tokenised texts (the processor's or
                the stock pipeline's tokenizer output).
            input_values, audio_attention_mask: audio batch from `SmoothClapProcessor`
                (the stock pipeline passes `input_values` only, one clip at a time).
            local_audio_features: (B, D) or (B, T, D) features of a frozen local extractor
                for the audio-to-audio target (Eq. 5); (B, T, D) is mean-pooled over
                `local_audio_mask` (B, T) if given. Default: the detached mean-pooled
                output of this model's own audio encoder (the paper uses the same frozen
                wav2vec2 as encoder and local extractor).
            text_target_embeds: (B, D') text embeddings for the text-to-text target
                (Eq. 6), e.g. of compact tag strings. Default: the (detached) caption
                embeddings of this forward.
            return_loss: compute the soft-target loss (audio i pairs with text i).
            kwargs: ignored (the pipeline and processors may pass extra keys).
        """
        if input_values is None or input_ids is None:
            raise ValueError("forward needs both input_values (audio) and input_ids (text); use "
                             "get_audio_features / get_text_features for one modality.")
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        audio_mask = self._audio_mask_from(input_values, audio_attention_mask, None)
        pooled_audio = self.pooled_audio(input_values, audio_mask)
        audio_embeds = F.normalize(self.audio_projection(pooled_audio), dim=-1)
        text_embeds = self.get_text_features(input_ids, attention_mask, token_type_ids)
        scale = self.scale()
        logits_per_audio = (scale / self.config.tau_pred) * audio_embeds @ text_embeds.T
        loss = None
        if return_loss:
            loss = self.loss(audio_embeds, text_embeds, pooled_audio, local_audio_features,
                             local_audio_mask, text_target_embeds)
        output = SmoothClapOutput(loss=loss, logits_per_audio=logits_per_audio,
                                  logits_per_text=logits_per_audio.T, audio_embeds=audio_embeds,
                                  text_embeds=text_embeds)
        return output if return_dict else output.to_tuple()

    def loss(self, audio_embeds, text_embeds, pooled_audio=None, local_audio_features=None,
             local_audio_mask=None, text_target_embeds=None):
        """The configured soft-target loss for one (already gathered) batch."""
        if audio_embeds.shape[0] != text_embeds.shape[0]:
            raise ValueError(f"return_loss needs one caption per clip; got {audio_embeds.shape[0]} "
                             f"clips and {text_embeds.shape[0]} texts.")
        cfg = self.config
        if local_audio_features is None:
            local_audio_features = pooled_audio.detach() if pooled_audio is not None else None
        elif local_audio_features.dim() == 3:
            local_audio_features = mean_pool(local_audio_features, local_audio_mask)
        if text_target_embeds is None:
            text_target_embeds = text_embeds.detach()
        # beta = 0 takes soft_target_loss's exact InfoNCE path (ParaCLAP)
        return soft_target_loss(audio_embeds, text_embeds, self.scale(), local_audio_features,
                                text_target_embeds, cfg.beta, cfg.gamma, cfg.tau_a2a, cfg.tau_t2t,
                                cfg.tau_pred)


__all__ = ["SmoothClapModel", "SmoothClapPreTrainedModel", "SmoothClapOutput", "SmoothClapProjection",
           "soft_target_loss", "clap_loss", "soft_targets", "mean_pool"]

SmoothClapModel.register_for_auto_class("AutoModel")  # auto_map + copies the .py files on save

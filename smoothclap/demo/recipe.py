"""Every setting of the offline demo in one place: the recipe, the small audio encoder's
architecture, the two models compared, and how a cached step's settings are read back."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

SAMPLING_RATE = 16000
AVD = ("arousal", "valence", "dominance")
MODELS = {  # name -> (label in the table, trainer flags)
    "smoothclap": ("SmoothCLAP (beta=0.1, gamma=0.5)", ["--beta", "0.1", "--gamma", "0.5"]),
    "paraclap": ("ParaCLAP baseline (beta=0)", ["--beta", "0"]),
}

# The small audio encoder: a stock Wav2Vec2 (hidden 128, 2 layers) at 50 frames/s like wav2vec2,
# with one of two cheap feature encoders (``Recipe.encoder_front_end``; each conv is followed by a
# layer norm over channels and GELU):
# - "filterbank": one learned filterbank (25 ms windows, 10 ms hop) and one stride-2 conv; ~1/5 of
#   the cost of wav2vec2's 7-layer conv stack on 2 CPU cores (README, "The offline demo"). Each
#   frame is one linear read of a window: no band energies, so little pitch (docs/demo.md).
# - "fine": 4 ms windows every 1 ms (32 channels), then 10 ms every 5 ms (64), then 20 ms frames
#   (128): a nonlinearity between fine steps, as in wav2vec2, so a frame can carry pitch.
ENCODER_CONFIG = dict(
    hidden_size=128, num_hidden_layers=2, num_attention_heads=4, intermediate_size=256,
    feat_extract_norm="layer",
    do_stable_layer_norm=True, conv_bias=True, num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4,
    hidden_dropout=0.1, attention_dropout=0.1, activation_dropout=0.0, feat_proj_dropout=0.0,
    mask_time_prob=0.0, layerdrop=0.0)
FRONT_ENDS = {
    "filterbank": dict(conv_dim=(64, 128), conv_kernel=(400, 2), conv_stride=(160, 2)),
    "fine": dict(conv_dim=(32, 64, 128), conv_kernel=(64, 10, 4), conv_stride=(16, 5, 4)),
}


def encoder_config(recipe: "Recipe") -> dict:
    """The Wav2Vec2Config arguments of ``recipe``'s demo encoder."""
    return {**ENCODER_CONFIG, **FRONT_ENDS[recipe.encoder_front_end]}


@dataclass(frozen=True)
class Recipe:
    """Every setting of a demo run (one place)."""

    corpus_options: dict = field(default_factory=dict)  # the demo corpus' defaults: 28 voices, 2688 clips
    encoder_epochs: int = 10  # with the voice changes below it still underfits at 5 (docs/demo.md)
    encoder_batch_size: int = 16
    encoder_lr: float = 1e-3
    # weight of the train split's emotion label (cross-entropy) next to the AVD regression in
    # the encoder fit; 0: AVD only (the previous recipe). Chosen on validation (docs/demo.md)
    encoder_label_weight: float = 1.0
    # weight of the clips' 88 eGeMAPS descriptors (standardised, MSE) in the encoder fit; 0: off
    encoder_egemaps_weight: float = 0.0
    # weight of each frame's pitch class (cross-entropy; smoothclap.demo.encoder.pitch_bins) in the
    # encoder fit; 0: off (the previous recipe). Chosen on validation (docs/demo.md)
    encoder_pitch_weight: float = 3.0
    # weight of each frame's loudness class (cross-entropy; smoothclap.demo.encoder.loudness_bins); 0: off
    encoder_loudness_weight: float = 0.0
    encoder_front_end: str = "fine"  # a FRONT_ENDS name. Chosen on validation (docs/demo.md)
    # every train clip heard as another voice each epoch: gain up to x/÷ this, pitch (and rate)
    # up to +-this many semitones; 1 / 0: off (the previous recipe). Chosen on validation (docs/demo.md)
    encoder_voice_gain: float = 1.25
    encoder_voice_semitones: float = 2.0
    # the CLAP heads see each voice's pooled encoder outputs standardised on that voice's own clips
    # (trainer --speaker-norm; evaluation per voice, and clip by clip beside it). None: clip by clip.
    # Chosen on validation (docs/demo.md)
    speaker_norm: str | None = "speaker"
    clap_epochs: int = 2  # the best validation epoch is exported; it was epoch 0-2 of 4 (old corpus)
    clap_batch_size: int = 32  # the paper's
    max_tags: int = 1  # emotion + at most one tag sentence: half the text tokens of 5 (same UAR)


# options added after results were cached, with the value that leaves a run as it was: left out
# of a recipe's settings at that value, so that earlier caches (encoders, seed results) stay valid
ADDED_OFF = {"encoder_loudness_weight": 0.0}


def settings_of(recipe: Recipe) -> dict:
    """The recipe's fields as a cache key (``ADDED_OFF`` options at their off value left out)."""
    return {k: v for k, v in asdict(recipe).items() if not (k in ADDED_OFF and v == ADDED_OFF[k])}


FULL = Recipe()
QUICK = Recipe(corpus_options={"num_speakers": 6, "sentences_per_speaker": 2, "eval_sentences": 2}, encoder_epochs=1,
               encoder_batch_size=8, clap_epochs=1, clap_batch_size=8)


def read_json(path: str) -> dict | None:
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


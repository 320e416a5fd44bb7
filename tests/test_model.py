"""SmoothClapModel: shapes, normalisation, masking, save/load, building from encoders."""

import numpy as np
import pytest
import torch

from conftest import minilm_dir, tiny_audio_config, tiny_model, tiny_processor, tiny_text_config, tone

from configuration_smoothclap import SmoothClapConfig
from modeling_smoothclap import SmoothClapModel, SmoothClapOutput

CLIPS = [tone(220, 1.0), tone(330, 0.45, seed=1), tone(140, 0.8, seed=2)]
TEXTS = ["speaker is happy", "this is a sad instance and has a low pitch", "a female is speaking"]


def test_shapes_and_unit_norm(model, processor):
    batch = processor(text=TEXTS[:2], audio=CLIPS, sampling_rate=16000)
    with torch.no_grad():
        out = model(**batch)
    assert isinstance(out, SmoothClapOutput) and out.loss is None
    assert out.logits_per_audio.shape == (3, 2) and out.logits_per_text.shape == (2, 3)
    assert out.audio_embeds.shape == (3, 16) and out.text_embeds.shape == (2, 16)
    torch.testing.assert_close(out.audio_embeds.norm(dim=-1), torch.ones(3))
    torch.testing.assert_close(out.text_embeds.norm(dim=-1), torch.ones(2))
    torch.testing.assert_close(out.logits_per_audio, model.scale() * out.audio_embeds @ out.text_embeds.T)
    torch.testing.assert_close(out.logits_per_text, out.logits_per_audio.T)


def test_features_callable_on_processor_output(model, processor):
    with torch.no_grad():
        a = model.get_audio_features(**processor(audio=CLIPS, sampling_rate=16000))
        t = model.get_text_features(**processor(text=TEXTS))
        both = model(**processor(text=TEXTS, audio=CLIPS, sampling_rate=16000))
    torch.testing.assert_close(a, both.audio_embeds)
    torch.testing.assert_close(t, both.text_embeds)


def test_padding_does_not_change_embeddings(model, processor):
    with torch.no_grad():
        batch = model.get_audio_features(**processor(audio=CLIPS, sampling_rate=16000))
        for i, clip in enumerate(CLIPS):
            alone = model.get_audio_features(**processor(audio=clip, sampling_rate=16000))
            torch.testing.assert_close(batch[i], alone[0], atol=1e-5, rtol=1e-4)
        texts = model.get_text_features(**processor(text=TEXTS))
        for i, text in enumerate(TEXTS):
            torch.testing.assert_close(texts[i], model.get_text_features(**processor(text=text))[0],
                                       atol=1e-5, rtol=1e-4)


def test_masking_matters(model, processor):
    """Ignoring the mask (as the reference code does) would change the padded clip."""
    batch = processor(audio=CLIPS, sampling_rate=16000)
    with torch.no_grad():
        masked = model.get_audio_features(**batch)
        unmasked = model.get_audio_features(input_values=batch["input_values"])
    assert (masked[1] - unmasked[1]).abs().max() > 1e-3


def test_resampled_tone_matches(model, processor):
    sr_hi = 44100
    t_hi = np.arange(int(1.0 * sr_hi)) / sr_hi
    t_lo = np.arange(16000) / 16000
    hi = (0.5 * np.sin(2 * np.pi * 440 * t_hi)).astype(np.float32)
    lo = (0.5 * np.sin(2 * np.pi * 440 * t_lo)).astype(np.float32)
    with torch.no_grad():
        e_hi = model.get_audio_features(**processor(audio=hi, sampling_rate=sr_hi))
        e_lo = model.get_audio_features(**processor(audio=lo, sampling_rate=16000))
        e_other = model.get_audio_features(**processor(audio=tone(130), sampling_rate=16000))
    assert float(e_hi @ e_lo.T) > 0.999
    # and the check can fail: a different sound is measurably further away
    assert float(e_hi @ e_lo.T) - float(e_other @ e_lo.T) > 1e-3


def test_save_and_reload_identical(tmp_path, model, processor):
    model.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").exists()
    reloaded = SmoothClapModel.from_pretrained(tmp_path).eval()
    batch = processor(text=TEXTS, audio=CLIPS, sampling_rate=16000)
    with torch.no_grad():
        a, b = model(**batch), reloaded(**batch)
    torch.testing.assert_close(a.logits_per_audio, b.logits_per_audio, rtol=0, atol=0)
    assert reloaded.config.beta == model.config.beta and reloaded.config.text_config.hidden_size == 32


def test_return_loss_and_tuple(model, processor):
    batch = processor(text=TEXTS, audio=CLIPS, sampling_rate=16000)
    with torch.no_grad():
        out = model(**batch, return_loss=True, return_dict=False)
    assert isinstance(out, tuple) and torch.isfinite(out[0]) and out[1].shape == (3, 3)
    with pytest.raises(ValueError, match="one caption per clip"):
        model(**processor(text=TEXTS[:2], audio=CLIPS, sampling_rate=16000), return_loss=True)


def test_loss_uses_given_local_features(model, processor):
    batch = processor(text=TEXTS, audio=CLIPS, sampling_rate=16000)
    torch.manual_seed(0)
    frames = torch.randn(3, 7, 5)
    mask = torch.ones(3, 7, dtype=torch.long)
    mask[1, 4:] = 0
    with torch.no_grad():
        default = model(**batch, return_loss=True).loss
        given = model(**batch, return_loss=True, local_audio_features=frames, local_audio_mask=mask).loss
        pooled = model(**batch, return_loss=True, local_audio_features=(frames * mask[..., None]).sum(1)
                       / mask.sum(1, keepdim=True)).loss
    assert not torch.isclose(default, given)
    torch.testing.assert_close(given, pooled)


def test_forward_ignores_unknown_keys_and_pipeline_keys(model, processor):
    text = processor.tokenizer(TEXTS, padding=True, return_tensors="pt")  # has token_type_ids
    audio = processor.feature_extractor(CLIPS[0], sampling_rate=16000, return_tensors="pt")
    with torch.no_grad():
        out = model(**text, **audio, something_else=1)
    assert out.logits_per_audio.shape == (1, 3)


def test_from_audio_text_pretrained_keeps_weights(tmp_path):
    from transformers import AutoModel

    torch.manual_seed(1)
    audio_dir, text_dir = tmp_path / "w2v2", tmp_path / "bert"
    AutoModel.from_config(tiny_audio_config()).save_pretrained(audio_dir)
    AutoModel.from_config(tiny_text_config()).save_pretrained(text_dir)
    model = SmoothClapModel.from_audio_text_pretrained(str(audio_dir), str(text_dir), projection_dim=8, beta=0.3)
    ref_audio = AutoModel.from_pretrained(audio_dir)
    ref_text = AutoModel.from_pretrained(text_dir)
    for ref, sub in ((ref_audio, model.audio_model), (ref_text, model.text_model)):
        for (name, p), (_, q) in zip(ref.state_dict().items(), sub.state_dict().items()):
            assert torch.equal(p, q), name
    assert model.config.beta == 0.3 and model.config.projection_dim == 8
    assert model.audio_projection.linear1.weight.shape == (8, 32)
    assert torch.isclose(model.logit_scale, torch.tensor(model.config.logit_scale_init_value))


def test_from_pretrained_with_real_minilm_text_encoder(tmp_path):
    """The pip-shipped pretrained MiniLM loads by path: the same code path as bert-base-uncased."""
    from transformers import AutoModel

    audio_dir = tmp_path / "w2v2"
    AutoModel.from_config(tiny_audio_config()).save_pretrained(audio_dir)
    model = SmoothClapModel.from_audio_text_pretrained(str(audio_dir), minilm_dir(), text_pooling="mean")
    ref = AutoModel.from_pretrained(minilm_dir())
    w = "embeddings.word_embeddings.weight"
    assert torch.equal(model.text_model.state_dict()[w], ref.state_dict()[w])
    assert model.config.text_config.hidden_size == 384


def test_config_validation_and_roundtrip():
    cfg = SmoothClapConfig.from_audio_text_configs(tiny_audio_config(), tiny_text_config(), beta=0.5, gamma=0.1)
    again = SmoothClapConfig.from_dict(cfg.to_dict())
    assert again.beta == 0.5 and again.gamma == 0.1
    assert again.audio_config.model_type == "wav2vec2" and again.text_config.model_type == "bert"
    for bad in (dict(beta=-0.1), dict(gamma=1.5), dict(tau_a2a=0.0), dict(text_pooling="max")):
        with pytest.raises(ValueError):
            SmoothClapConfig(**bad)
    default = SmoothClapConfig()
    assert default.audio_config.hidden_size == 1024 and default.audio_config.do_stable_layer_norm
    assert default.text_config.hidden_size == 768 and default.projection_dim == 768

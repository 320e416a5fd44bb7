"""SmoothClapModel: shapes, normalisation, masking, save/load, building from encoders."""

import numpy as np
import pytest
import torch

from conftest import minilm_dir, tiny_audio_config, tiny_model, tiny_text_config, tone

from smoothclap.models.configuration_smoothclap import SmoothClapConfig
from smoothclap.models.modeling_smoothclap import SmoothClapModel, SmoothClapOutput

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
        a = model.get_audio_features(**processor(audio=CLIPS, sampling_rate=16000)).pooler_output
        t = model.get_text_features(**processor(text=TEXTS)).pooler_output
        both = model(**processor(text=TEXTS, audio=CLIPS, sampling_rate=16000))
    torch.testing.assert_close(a, both.audio_embeds)
    torch.testing.assert_close(t, both.text_embeds)


def test_padding_does_not_change_embeddings(model, processor):
    with torch.no_grad():
        batch = model.get_audio_features(**processor(audio=CLIPS, sampling_rate=16000)).pooler_output
        for i, clip in enumerate(CLIPS):
            alone = model.get_audio_features(**processor(audio=clip, sampling_rate=16000)).pooler_output
            torch.testing.assert_close(batch[i], alone[0], atol=1e-5, rtol=1e-4)
        texts = model.get_text_features(**processor(text=TEXTS)).pooler_output
        for i, text in enumerate(TEXTS):
            torch.testing.assert_close(texts[i], model.get_text_features(**processor(text=text)).pooler_output[0],
                                       atol=1e-5, rtol=1e-4)


def test_masking_matters(model, processor):
    """Ignoring the mask (as the reference code does) would change the padded clip."""
    batch = processor(audio=CLIPS, sampling_rate=16000)
    with torch.no_grad():
        masked = model.get_audio_features(**batch).pooler_output
        unmasked = model.get_audio_features(input_values=batch["input_values"]).pooler_output
    assert (masked[1] - unmasked[1]).abs().max() > 1e-3


def test_resampled_tone_matches(model, processor):
    sr_hi = 44100
    t_hi = np.arange(int(1.0 * sr_hi)) / sr_hi
    t_lo = np.arange(16000) / 16000
    hi = (0.5 * np.sin(2 * np.pi * 440 * t_hi)).astype(np.float32)
    lo = (0.5 * np.sin(2 * np.pi * 440 * t_lo)).astype(np.float32)
    with torch.no_grad():
        e_hi = model.get_audio_features(**processor(audio=hi, sampling_rate=sr_hi)).pooler_output
        e_lo = model.get_audio_features(**processor(audio=lo, sampling_rate=16000)).pooler_output
        e_other = model.get_audio_features(**processor(audio=tone(130), sampling_rate=16000)).pooler_output
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
    with pytest.raises(ValueError, match="text_embeds has 2 rows but the batch has 3"):
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
    assert torch.isclose(model.logit_scale.log_scale, torch.tensor(model.config.logit_scale_init_value))


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


# --------------------------------------------------------------------------- hooks for training
def _batch(processor):
    return processor(text=TEXTS, audio=CLIPS, sampling_rate=16000)


def test_cached_pooled_features_give_the_full_path(model, processor):
    """A trainer may cache the pooled audio encoder output and pass it back instead of audio."""
    batch = _batch(processor)
    with torch.no_grad():
        full = model(**batch, return_loss=True)
        cached = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                       pooled_audio_features=full.audio_pooled_output, return_loss=True)
        direct = model.get_audio_features(pooled_audio_features=full.audio_pooled_output).pooler_output
        pooled = model.pooled_audio(batch["input_values"], batch["audio_attention_mask"])
    assert full.audio_pooled_output.shape == (3, 32) and full.text_pooled_output.shape == (3, 32)
    torch.testing.assert_close(pooled, full.audio_pooled_output)
    for name in ("audio_embeds", "text_embeds", "logits_per_audio", "loss"):
        torch.testing.assert_close(getattr(cached, name), getattr(full, name), rtol=0, atol=0)
    torch.testing.assert_close(direct, full.audio_embeds, rtol=0, atol=0)
    assert cached.audio_model_output is None and full.audio_model_output is not None
    # the loss of a (gathered) batch from the outputs alone, as a distributed trainer computes it
    again = model.loss(full.audio_embeds, full.text_embeds, local_audio_features=full.audio_pooled_output)
    torch.testing.assert_close(again, full.loss, rtol=0, atol=0)
    with pytest.raises(ValueError, match=r"pooled_audio_features must be \(batch, 32\)"):
        model(input_ids=batch["input_ids"], pooled_audio_features=torch.zeros(3, 7))
    with pytest.raises(ValueError, match="forward needs text"):
        model(input_values=batch["input_values"])


def _noisy_audio_model(seed=0, **config_kwargs):
    """Dropout, LayerDrop and SpecAugment all active in train mode."""
    from smoothclap.models.configuration_smoothclap import SmoothClapConfig

    torch.manual_seed(seed)
    audio = tiny_audio_config(hidden_dropout=0.3, attention_dropout=0.3, activation_dropout=0.3, layerdrop=0.5,
                              mask_time_prob=0.5, mask_time_length=2, feat_proj_dropout=0.3)
    config = SmoothClapConfig.from_audio_text_configs(audio, tiny_text_config(), projection_dim=16, **config_kwargs)
    return SmoothClapModel(config)


def test_frozen_encoder_is_deterministic_in_train_mode(processor):
    from smoothclap.models.modeling_smoothclap import soft_targets

    batch = _batch(processor)
    cfg = dict(beta=0.5, gamma=0.0, tau_a2a=0.1, tau_t2t=0.1)  # the audio-to-audio target (Eq. 5, 8)

    def two_runs(model):
        model.train()
        runs = []
        for seed in (1, 2):
            torch.manual_seed(seed)
            out = model(**batch, return_loss=True)
            runs.append((out.audio_pooled_output.detach(),
                         soft_targets(3, out.audio_pooled_output.detach(), None, **cfg)))
        return runs

    only_no_grad = _noisy_audio_model()
    only_no_grad.audio_model.requires_grad_(False)  # the old way: still noisy in train mode
    (a1, y1), (a2, y2) = two_runs(only_no_grad)
    assert (a1 - a2).abs().max() > 1e-3 and (y1 - y2).abs().max() > 1e-4

    frozen = _noisy_audio_model().freeze_encoder("audio")
    frozen.train()
    assert frozen.training and not frozen.audio_model.training and frozen.text_model.training
    assert frozen.frozen_encoders == {"audio"}
    assert not any(p.requires_grad for p in frozen.audio_model.parameters())
    (a1, y1), (a2, y2) = two_runs(frozen)
    torch.testing.assert_close(a1, a2, rtol=0, atol=0)
    torch.testing.assert_close(y1, y2, rtol=0, atol=0)
    with torch.no_grad():
        evaluated = frozen.eval().pooled_audio(batch["input_values"], batch["audio_attention_mask"])
    torch.testing.assert_close(a1, evaluated, rtol=0, atol=0)
    frozen.freeze_encoder("audio", frozen=False).train()
    assert frozen.audio_model.training and frozen.frozen_encoders == set()
    assert all(p.requires_grad for p in frozen.audio_model.parameters())
    with pytest.raises(ValueError, match="Unknown encoder 'image'"):
        frozen.freeze_encoder("image")


def test_trainable_encoder_targets_come_from_eval_mode(processor):
    """With a trainable audio encoder in train mode, the default audio-to-audio target is
    built from an eval-mode, gradient-free pass, never from the noisy training features."""
    model = _noisy_audio_model(beta=0.5, gamma=0.5).train()
    batch = _batch(processor)
    torch.manual_seed(3)
    out = model(**batch, return_loss=True)
    assert out.audio_pooled_output.requires_grad
    targets = model.target_audio_features(out.audio_pooled_output, batch["input_values"],
                                           batch["audio_attention_mask"], cached=False)
    assert model.audio_model.training  # restored
    with torch.no_grad():
        clean = model.eval().pooled_audio(batch["input_values"], batch["audio_attention_mask"])
    torch.testing.assert_close(targets, clean, rtol=0, atol=0)
    assert not targets.requires_grad and (out.audio_pooled_output.detach() - clean).abs().max() > 1e-3


# --------------------------------------------------------------------------- HF conventions
def test_feature_methods_follow_transformers_conventions(processor):
    from transformers.modeling_outputs import BaseModelOutputWithPooling

    model = tiny_model()
    model.set_attn_implementation("eager")  # sdpa returns no attention weights
    audio = processor(audio=CLIPS, sampling_rate=16000)
    text = processor(text=TEXTS)
    with torch.no_grad():
        a = model.get_audio_features(**audio, output_hidden_states=True, output_attentions=True)
        t = model.get_text_features(**text, output_hidden_states=True, output_attentions=True)
        a_tuple = model.get_audio_features(**audio, return_dict=False)
        t_tuple = model.get_text_features(**text, return_dict=False)
        out_tuple = model(**text, **audio, return_dict=False)
    for out, tower in ((a, model.audio_model), (t, model.text_model)):
        assert isinstance(out, BaseModelOutputWithPooling)
        torch.testing.assert_close(out.pooler_output.norm(dim=-1), torch.ones(3))
        assert len(out.hidden_states) == tower.config.num_hidden_layers + 1
        assert len(out.attentions) == tower.config.num_hidden_layers
        assert out.last_hidden_state.shape[-1] == 32
    assert isinstance(a_tuple, tuple) and isinstance(t_tuple, tuple) and isinstance(out_tuple, tuple)
    torch.testing.assert_close(a_tuple[1], a.pooler_output)  # (last_hidden_state, pooler_output)
    torch.testing.assert_close(t_tuple[1], t.pooler_output)
    import inspect

    first = next(iter(inspect.signature(model.forward).parameters))
    assert first == model.main_input_name == "input_ids"


def test_input_embeddings_and_resize_act_on_the_text_tower(processor):
    model = tiny_model()
    assert model.get_input_embeddings() is model.text_model.get_input_embeddings()
    vocab = model.config.text_config.vocab_size
    model.resize_token_embeddings(vocab + 3)
    assert model.text_model.get_input_embeddings().weight.shape[0] == vocab + 3
    assert model.config.text_config.vocab_size == vocab + 3
    ids = torch.tensor([[101, vocab + 2, 102]])
    with torch.no_grad():
        out = model.get_text_features(input_ids=ids, attention_mask=torch.ones_like(ids)).pooler_output
    assert torch.isfinite(out).all()


def test_attention_implementation_reaches_both_towers(tmp_path, processor):
    model = tiny_model()
    model.save_pretrained(tmp_path)
    sdpa = SmoothClapModel.from_pretrained(tmp_path, attn_implementation="sdpa").eval()
    assert sdpa.config.audio_config._attn_implementation == "sdpa"
    assert sdpa.config.text_config._attn_implementation == "sdpa"
    batch = _batch(processor)
    with torch.no_grad():
        fast = sdpa(**batch).logits_per_audio
        sdpa.set_attn_implementation("eager")
        assert sdpa.audio_model.config._attn_implementation == "eager"
        assert sdpa.text_model.config._attn_implementation == "eager"
        eager = sdpa(**batch).logits_per_audio
    torch.testing.assert_close(fast, eager, atol=1e-5, rtol=1e-5)
    assert {"BertLayer", "Wav2Vec2EncoderLayerStableLayerNorm"} <= set(model._no_split_modules)


def _head_weights(model):
    return [model.audio_projection.linear1.weight, model.audio_projection.linear2.weight,
            model.text_projection.linear1.weight, model.text_projection.linear2.weight]


def _assert_documented_init(model):
    for w in _head_weights(model):
        assert torch.isfinite(w).all()
        expected = w.shape[1] ** -0.5  # normal(0, in_features ** -0.5), not PyTorch's kaiming-uniform
        assert abs(w.std().item() / expected - 1) < 0.25, (w.std().item(), expected)
    for head in (model.audio_projection, model.text_projection):
        assert torch.equal(head.layer_norm.weight, torch.ones_like(head.layer_norm.weight))
        assert torch.equal(head.layer_norm.bias, torch.zeros_like(head.layer_norm.bias))
    assert torch.isclose(model.logit_scale.log_scale, torch.tensor(model.config.logit_scale_init_value))


def test_heads_get_the_documented_init_on_every_path(tmp_path):
    from safetensors.torch import load_file, save_file

    torch.manual_seed(0)
    config = SmoothClapConfig.from_audio_text_configs(tiny_audio_config(), tiny_text_config(), projection_dim=48)
    fresh = SmoothClapModel(config)
    _assert_documented_init(fresh)
    # a checkpoint without the heads (e.g. two encoders saved by another tool)
    fresh.save_pretrained(tmp_path / "full")
    weights = load_file(tmp_path / "full" / "model.safetensors")
    save_file({k: v for k, v in weights.items() if not k.startswith(("audio_projection", "text_projection", "logit"))},
              tmp_path / "full" / "model.safetensors", metadata={"format": "pt"})
    _assert_documented_init(SmoothClapModel.from_pretrained(tmp_path / "full"))
    # fine-tuning to another projection size
    fresh.save_pretrained(tmp_path / "other")
    resized = SmoothClapModel.from_pretrained(tmp_path / "other", projection_dim=40, ignore_mismatched_sizes=True)
    assert resized.audio_projection.linear1.weight.shape == (40, 32)
    _assert_documented_init(resized)


def test_text_encoder_has_no_pooler_and_old_checkpoints_load(tmp_path, processor):
    from safetensors.torch import load_file, save_file

    model = tiny_model()
    assert getattr(model.text_model, "pooler", None) is None
    assert not any(".pooler." in k for k in model.state_dict())
    model.save_pretrained(tmp_path)
    weights = load_file(tmp_path / "model.safetensors")  # add a pooler, as older checkpoints had
    weights["text_model.pooler.dense.weight"] = torch.zeros(32, 32)
    weights["text_model.pooler.dense.bias"] = torch.zeros(32)
    save_file(weights, tmp_path / "model.safetensors", metadata={"format": "pt"})
    reloaded = SmoothClapModel.from_pretrained(tmp_path).eval()
    batch = _batch(processor)
    with torch.no_grad():
        torch.testing.assert_close(reloaded(**batch).logits_per_audio, model(**batch).logits_per_audio)


def test_logit_scale_is_a_module():
    from smoothclap.models.modeling_smoothclap import SmoothClapLogitScale

    model = tiny_model()
    assert isinstance(model.logit_scale, SmoothClapLogitScale)
    assert "logit_scale.log_scale" in model.state_dict()
    with torch.no_grad():
        model.logit_scale.log_scale.fill_(10.0)
    assert model.scale().item() == 100.0  # clamped


def test_transformers_4_gets_a_clear_error(tmp_path):
    import subprocess
    import sys

    from conftest import ROOT

    for module in ("configuration_smoothclap", "modeling_smoothclap", "processing_smoothclap"):
        code = ("import transformers; transformers.__version__ = '4.57.1'\n"
                f"import sys; sys.path.insert(0, {ROOT!r})\n"
                f"import {module}\n")
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
        assert proc.returncode != 0
        assert "SmoothCLAP needs transformers >= 5.23 (found 4.57.1)" in proc.stderr, module
        assert "pip install -U 'transformers>=5.23,<6'" in proc.stderr


def test_can_init_all_missing_weights():
    """transformers' common test of that name (ModelTesterMixin; ClapModelTest runs it): with the
    same seed before every module's init, `from_pretrained(None, config=..., state_dict={})` (all
    weights missing) must initialise every weight exactly as `__init__` does."""
    import copy
    import re

    from transformers import PreTrainedModel, set_seed

    config = SmoothClapConfig.from_audio_text_configs(tiny_audio_config(), tiny_text_config(), projection_dim=16)
    original = PreTrainedModel._initialize_weights

    def seeded_initialize_weights(self, module, *args, **kwargs):
        set_seed(0)
        original(self, module, *args, **kwargs)

    PreTrainedModel._initialize_weights = seeded_initialize_weights
    try:
        from_config = SmoothClapModel(copy.deepcopy(config))
        from_pretrained = SmoothClapModel.from_pretrained(None, config=config, state_dict={})
    finally:
        PreTrainedModel._initialize_weights = original
    assert [k for k, v in from_pretrained.named_parameters() if v.device.type == "meta"] == []
    buffers = {name for name, _ in from_config.named_buffers()}
    different = []
    for (k1, v1), (k2, v2) in zip(from_config.state_dict().items(), from_pretrained.state_dict().items()):
        assert k1 == k2
        if re.search(r"\.parametrizations\..*?\.original[01]", k1) or k1 in buffers:
            continue  # as the common test: weight-norm parts and buffers are not compared
        if not torch.equal(v1, v2):
            different.append(k1)
    assert different == [], f"not initialised by _init_weights as by __init__: {different}"

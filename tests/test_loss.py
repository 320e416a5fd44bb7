"""The soft-target loss against a slow loop written straight from Eq. 4-11."""

import math

import pytest
import torch
import torch.nn.functional as F

from smoothclap.models.modeling_smoothclap import clap_loss, soft_target_loss


def reference_loss(a, t, scale, l, tt, beta, gamma, tau_a2a, tau_t2t, tau_pred):
    """Eq. 4-11 with explicit loops over i, j, k in float64 (slow, obviously correct)."""
    a = [x / x.norm() for x in a.double()]
    t = [x / x.norm() for x in t.double()]
    l = [x / x.norm() for x in l.double()]
    tt = [x / x.norm() for x in tt.double()]
    B = len(a)
    s = [[float(scale) * float(a[i] @ t[j]) for j in range(B)] for i in range(B)]  # Eq. 4

    def softmax_row(values):
        m = max(values)
        e = [math.exp(v - m) for v in values]
        return [x / sum(e) for x in e]

    q_a2a = [softmax_row([float(l[i] @ l[k]) / tau_a2a for k in range(B)]) for i in range(B)]  # Eq. 5
    q_t2t = [softmax_row([float(tt[i] @ tt[k]) / tau_t2t for k in range(B)]) for i in range(B)]  # Eq. 6
    q = [[(1 - gamma) * q_a2a[i][j] + gamma * q_t2t[i][j] for j in range(B)] for i in range(B)]  # Eq. 7
    y = [[(1 - beta) * (i == j) + beta * q[i][j] for j in range(B)] for i in range(B)]  # Eq. 8
    p_a2t = [softmax_row([s[i][k] / tau_pred for k in range(B)]) for i in range(B)]  # Eq. 9
    p_t2a = [softmax_row([s[k][i] / tau_pred for k in range(B)]) for i in range(B)]  # Eq. 10 (text i)

    def kl(p, r):
        return sum(pi * math.log(pi / ri) for pi, ri in zip(p, r) if pi > 0)

    total = sum(kl(y[i], p_a2t[i]) + kl(p_a2t[i], y[i]) + kl(y[i], p_t2a[i]) + kl(p_t2a[i], y[i])
                for i in range(B))
    return total / (2 * B)  # Eq. 11


def random_batch(B=5, d=8, dl=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(B, d, generator=g), torch.randn(B, d, generator=g),
            torch.randn(B, dl, generator=g), torch.randn(B, d, generator=g))


@pytest.mark.parametrize("beta,gamma", [(0.1, 0.5), (0.5, 0.1), (0.3, 0.0), (0.7, 1.0), (1.0, 0.5)])
@pytest.mark.parametrize("tau_pred", [1.0, 0.5])
def test_matches_slow_reference(beta, gamma, tau_pred):
    a, t, l, tt = random_batch(seed=int(beta * 10 + gamma * 100))
    scale = torch.tensor(7.0)
    got = soft_target_loss(a, t, scale, l, tt, beta=beta, gamma=gamma, tau_a2a=0.1, tau_t2t=0.2, tau_pred=tau_pred)
    want = reference_loss(a, t, scale, l, tt, beta, gamma, 0.1, 0.2, tau_pred)
    assert got.dtype == torch.float32 and got.dim() == 0
    assert got.item() == pytest.approx(want, rel=1e-5, abs=1e-6)


def test_beta_zero_is_infonce_exactly():
    a, t, l, tt = random_batch(B=7, seed=3)
    scale = torch.tensor(14.3)
    soft = soft_target_loss(a, t, scale, l, tt, beta=0.0, gamma=0.5, tau_a2a=0.1, tau_t2t=0.1)
    a_n, t_n = F.normalize(a, dim=-1), F.normalize(t, dim=-1)
    logits = scale * a_n @ t_n.T
    labels = torch.arange(7)
    infonce = 0.5 * (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels))
    assert torch.allclose(soft, infonce, rtol=1e-6, atol=1e-7)
    assert torch.allclose(clap_loss(a, t, scale), infonce, rtol=1e-6, atol=1e-7)
    # the targets are unused at beta = 0: None is accepted
    assert torch.allclose(soft_target_loss(a, t, scale, None, None, beta=0.0, gamma=0.5, tau_a2a=0.1, tau_t2t=0.1), infonce)


def test_small_beta_is_close_to_but_not_infonce():
    a, t, l, tt = random_batch(seed=4)
    scale = torch.tensor(10.0)
    base = clap_loss(a, t, scale)
    soft = soft_target_loss(a, t, scale, l, tt, beta=0.05, gamma=0.5, tau_a2a=0.1, tau_t2t=0.1)
    assert soft.item() != pytest.approx(base.item(), abs=1e-4)


def test_finite_at_beta_one_and_tiny_temperatures():
    a, t, l, tt = random_batch(B=16, seed=5)
    for beta in (1.0, 1e-6, 0.5):
        loss = soft_target_loss(a, t, torch.tensor(100.0), l, tt, beta=beta, gamma=0.5, tau_a2a=1e-3, tau_t2t=1e-3, tau_pred=0.05)
        assert torch.isfinite(loss)


def test_finite_under_bfloat16_autocast_and_float32_result():
    a, t, l, tt = (x.requires_grad_(i < 2) for i, x in enumerate(random_batch(B=8, seed=6)))
    scale = torch.tensor(20.0, requires_grad=True)
    with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
        loss = soft_target_loss(a.bfloat16(), t.bfloat16(), scale, l, tt, beta=0.5, gamma=0.5, tau_a2a=0.1, tau_t2t=0.1)
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    loss.backward()
    assert torch.isfinite(a.grad).all() and torch.isfinite(scale.grad)


def test_gradients_reach_embeddings_and_scale_not_targets():
    a, t, l, tt = random_batch(seed=7)
    for x in (a, t, l, tt):
        x.requires_grad_(True)
    scale = torch.tensor(5.0, requires_grad=True)
    soft_target_loss(a, t, scale, l, tt, beta=0.5, gamma=0.5, tau_a2a=0.1, tau_t2t=0.1).backward()
    assert a.grad.abs().sum() > 0 and t.grad.abs().sum() > 0 and scale.grad.abs() > 0
    assert l.grad is None and tt.grad is None


def test_gradients_finite_at_beta_zero():
    a, t, l, tt = random_batch(seed=8)
    a.requires_grad_(True)
    soft_target_loss(a, t, torch.tensor(5.0), l, tt, beta=0.0, gamma=0.5, tau_a2a=0.1, tau_t2t=0.1).backward()
    assert torch.isfinite(a.grad).all() and a.grad.abs().sum() > 0


def test_missing_targets_are_named():
    a, t, l, tt = random_batch()
    with pytest.raises(ValueError, match="local_audio_features"):
        soft_target_loss(a, t, torch.tensor(5.0), None, tt, beta=0.5, gamma=0.5, tau_a2a=0.1, tau_t2t=0.1)
    with pytest.raises(ValueError, match="text_target_embeds"):
        soft_target_loss(a, t, torch.tensor(5.0), l, None, beta=0.5, gamma=0.5, tau_a2a=0.1, tau_t2t=0.1)
    with pytest.raises(ValueError, match="beta and gamma"):
        soft_target_loss(a, t, torch.tensor(5.0), l, tt, beta=1.5, gamma=0.5, tau_a2a=0.1, tau_t2t=0.1)


def test_model_loss_gradients_reach_both_heads_and_scale():
    from conftest import tiny_model, tiny_processor, tone

    model = tiny_model(beta=0.5, gamma=0.5).train()
    proc = tiny_processor()
    batch = proc(text=["speaker is happy", "speaker is sad", "a male is speaking"],
                 audio=[tone(200), tone(300, 0.7, seed=1), tone(150, 0.5, seed=2)], sampling_rate=16000)
    out = model(**batch, return_loss=True)
    assert torch.isfinite(out.loss)
    out.loss.backward()
    for head in (model.audio_projection, model.text_projection):
        assert head.linear1.weight.grad is not None and head.linear1.weight.grad.abs().sum() > 0
    assert model.logit_scale.log_scale.grad is not None and model.logit_scale.log_scale.grad.abs() > 0


def test_symmetric_kl_gradient_matches_autograd():
    """The hand-written backward against torch.autograd.gradcheck in float64."""
    from smoothclap.models.modeling_smoothclap import _SymmetricKL

    g = torch.Generator().manual_seed(9)
    logits = torch.randn(6, 6, generator=g, dtype=torch.float64, requires_grad=True)
    log_y = torch.log_softmax(torch.randn(6, 6, generator=g, dtype=torch.float64), dim=-1)
    assert torch.autograd.gradcheck(lambda z: _SymmetricKL.apply(z, log_y.exp(), log_y), (logits,))
    assert torch.autograd.gradcheck(lambda z: _SymmetricKL.apply(z.T.contiguous(), log_y.exp(), log_y), (logits,))


def test_model_with_beta_zero_is_paraclap():
    """A SmoothCLAP configured with beta = 0 trains with ParaCLAP's InfoNCE."""
    from conftest import tiny_model, tiny_processor, tone

    model, proc = tiny_model(beta=0.0), tiny_processor()
    batch = proc(text=["speaker is happy", "speaker is sad"], audio=[tone(200), tone(300, seed=1)],
                 sampling_rate=16000)
    with torch.no_grad():
        out = model(**batch, return_loss=True)
        want = clap_loss(out.audio_embeds, out.text_embeds, model.scale())
    torch.testing.assert_close(out.loss, want)


def test_hyper_parameters_are_keyword_only_and_batches_must_match():
    a, t, l, tt = random_batch(B=4)
    scale = torch.tensor(10.0)
    with pytest.raises(TypeError):
        soft_target_loss(a, t, scale, l, tt, 0.1, 0.5, 0.1, 0.1)  # beta/gamma positionally: refused
    with pytest.raises(ValueError, match="local_audio_features has 8 rows but the batch has 4"):
        soft_target_loss(a, t, scale, torch.cat([l, l]), tt, beta=0.1, gamma=0.5, tau_a2a=0.1, tau_t2t=0.1)
    with pytest.raises(ValueError, match="text_target_embeds has 2 rows but the batch has 4.*gather"):
        soft_target_loss(a, t, scale, l, tt[:2], beta=0.1, gamma=0.5, tau_a2a=0.1, tau_t2t=0.1)
    with pytest.raises(ValueError, match="text_embeds has 3 rows"):
        soft_target_loss(a, t[:3], scale, l, tt, beta=0.0, gamma=0.5, tau_a2a=0.1, tau_t2t=0.1)

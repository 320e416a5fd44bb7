"""smoothclap.evaluation.compare: the paired bootstrap of a UAR difference with speakers resampled,
checked against a slow reference written from the definition."""

import numpy as np
import pytest

from smoothclap.evaluation.compare import paired_bootstrap, resamples, verdict
from smoothclap.evaluation.metrics import uar

LABELS = ["neutral", "happy", "angry", "sad"]


def fake_split(seed=0, voices=6, clips=40, voice_effect=0.0):
    """References, two models' predictions and the voice of each clip. Model A is right with
    probability 0.75, B with 0.70; with ``voice_effect`` A's edge flips sign from voice to voice."""
    rng = np.random.default_rng(seed)
    refs, a, b, groups = [], [], [], []
    for v in range(voices):
        edge = voice_effect * (1 if v % 2 else -1)
        for _ in range(clips):
            r = LABELS[rng.integers(4)]
            wrong = [x for x in LABELS if x != r]
            a.append(r if rng.random() < 0.75 + edge else wrong[rng.integers(3)])
            b.append(r if rng.random() < 0.70 - edge else wrong[rng.integers(3)])
            refs.append(r)
            groups.append(f"spk{v:02d}")
    return refs, a, b, groups


def slow_reference(refs, a, b, groups, n_resamples, seed, confidence=0.95):
    """The definition, one resample at a time with the metric's own UAR (the same draws)."""
    a, b = np.atleast_2d(np.asarray(a, dtype=object)), np.atleast_2d(np.asarray(b, dtype=object))
    refs = np.asarray(refs, dtype=object)
    draws = []
    for index in resamples(groups, n_resamples, seed):
        present = sorted(set(refs[index].tolist()), key=LABELS.index)
        draws.append(np.mean([uar(list(pa[index]), list(refs[index]), labels=present)["uar"]
                              - uar(list(pb[index]), list(refs[index]), labels=present)["uar"]
                              for pa, pb in zip(a, b)]))
    tail = (1 - confidence) / 2
    return list(np.quantile(draws, [tail, 1 - tail])), float(np.mean(np.asarray(draws) > 0))


def test_matches_the_slow_reference_one_and_several_seeds():
    refs, a, b, groups = fake_split()
    fast = paired_bootstrap(refs, a, b, groups, labels=LABELS, n_resamples=300, seed=5)
    ci, share = slow_reference(refs, a, b, groups, 300, 5)
    assert fast["ci"] == pytest.approx(ci, abs=1e-12) and fast["share_a_ahead"] == pytest.approx(share)
    assert fast["difference"] == pytest.approx(uar(a, refs, LABELS)["uar"] - uar(b, refs, LABELS)["uar"])
    assert fast["n_groups"] == 6 and fast["n_clips"] == 240 and fast["n_seeds"] == 1
    _, a2, b2, _ = fake_split(seed=1)
    seeds = paired_bootstrap(refs, [a, a2], [b, b2], groups, labels=LABELS, n_resamples=200, seed=2)
    ci, _ = slow_reference(refs, [a, a2], [b, b2], groups, 200, 2)
    assert seeds["ci"] == pytest.approx(ci, abs=1e-12) and seeds["n_seeds"] == 2


def test_two_stage_draws_take_whole_voices():
    groups = ["v1"] * 3 + ["v2"] * 5 + ["v3"] * 2
    for index in resamples(groups, 50, seed=0):
        assert len(index) in {3 * 3, 5 * 3, 2 * 3, 3 + 3 + 5, 3 + 3 + 2, 5 + 5 + 3, 5 + 5 + 2, 2 + 2 + 3,
                              2 + 2 + 5, 3 + 5 + 2}
        drawn = {groups[i] for i in index}
        assert 1 <= len(drawn) <= 3


def test_voice_resampling_widens_the_interval_when_voices_differ():
    refs, a, b, groups = fake_split(voice_effect=0.15)
    by_voice = paired_bootstrap(refs, a, b, groups, labels=LABELS, n_resamples=500)
    by_clip = paired_bootstrap(refs, a, b, list(range(len(refs))), labels=LABELS, n_resamples=500)
    width = lambda r: r["ci"][1] - r["ci"][0]  # noqa: E731
    assert width(by_voice) > 1.3 * width(by_clip)


def test_verdicts():
    refs, a, b, groups = fake_split()
    same = paired_bootstrap(refs, a, a, groups, labels=LABELS, n_resamples=50)
    assert same["difference"] == 0 and same["ci"] == [0.0, 0.0]
    assert "within noise" in verdict(same)
    perfect = paired_bootstrap(refs, refs, b, groups, labels=LABELS, n_resamples=200)
    assert perfect["ci"][0] > 0 and verdict(perfect).startswith("SmoothCLAP is ahead of ParaCLAP beyond noise")
    behind = paired_bootstrap(refs, b, refs, groups, labels=LABELS, n_resamples=200)
    assert verdict(behind, "X", "Y").startswith("X is behind Y beyond noise")


def test_bad_input():
    refs, a, b, groups = fake_split(voices=2, clips=5)
    with pytest.raises(ValueError, match="must pair up"):
        paired_bootstrap(refs, a, b[:-1], groups)
    with pytest.raises(ValueError, match="same clips"):
        paired_bootstrap(refs, a, b, groups[:-1])
    with pytest.raises(ValueError, match="confidence"):
        paired_bootstrap(refs, a, b, groups, confidence=1.5)

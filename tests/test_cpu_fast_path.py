"""The audio encoder's CPU fast path (pipeline_smoothclap.to_cpu_fast_path, issue 14).

Tiny models (hidden 32, 2 layers), seconds. No timing is asserted anywhere: speed is
bench/cpu_fast_path.py's business.
"""

import copy
import hashlib
import json
import os
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from conftest import ROOT, tiny_model, tiny_processor

FREQS = (140.0, 330.0, 760.0, 1700.0)  # four classes of harmonic tones
LABELS = ["low hum", "middle voice", "high voice", "whistle"]


def clip(freq, seconds, seed):
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * 16000)) / 16000
    f0 = freq * rng.uniform(0.93, 1.07) * (1 + 0.02 * np.sin(2 * np.pi * rng.uniform(3, 6) * t))
    phase = 2 * np.pi * np.cumsum(f0) / 16000
    wave = sum(np.sin(k * phase) / k for k in range(1, 4)) * rng.uniform(0.2, 0.6)
    return (wave + 0.01 * rng.standard_normal(t.shape)).astype(np.float32)


def fixture_set(per_class, seed):
    rng = np.random.default_rng(seed)
    clips, labels = [], []
    for c, f in enumerate(FREQS):
        for _ in range(per_class):
            clips.append(clip(f, rng.uniform(0.6, 1.4), int(rng.integers(1 << 30))))
            labels.append(c)
    return clips, np.array(labels)


def is_quantised(model) -> bool:
    return any("quantized" in type(m).__module__ for m in model.audio_model.modules())


@pytest.fixture(scope="module")
def trained():
    """A tiny SmoothCLAP whose audio head is trained (seconds) so that four tone classes map
    to four label texts: zero-shot top-1 is then meaningful, not a near-tie of a random model."""
    from smoothclap.models.pipeline_smoothclap import text_embeddings

    model, processor = tiny_model(seed=1), tiny_processor()
    train, train_y = fixture_set(12, seed=0)
    with torch.no_grad():
        pooled = torch.cat([model.pooled_audio(**_audio(processor, c)) for c in train])
        text = text_embeddings(model, processor, LABELS)
    y = torch.tensor(train_y)
    model.audio_projection.train()
    opt = torch.optim.Adam(model.audio_projection.parameters(), lr=3e-2)
    for _ in range(300):
        emb = torch.nn.functional.normalize(model.audio_projection(pooled), dim=-1)
        loss = torch.nn.functional.cross_entropy(20.0 * emb @ text.T, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.audio_projection.eval()
    return model.eval(), processor


def _audio(processor, wave):
    enc = processor(audio=[wave], sampling_rate=16000, return_tensors="pt")
    return {"input_values": enc["input_values"], "audio_attention_mask": enc.get("audio_attention_mask")}


def predict(model, processor, clips):
    from smoothclap.models.pipeline_smoothclap import audio_embeddings, logit_multiplier, text_embeddings

    with torch.no_grad():
        audio = audio_embeddings(model, processor, clips)
        logits = logit_multiplier(model) * audio @ text_embeddings(model, processor, LABELS).T
    return logits.argmax(-1).numpy(), audio


def test_same_top1_as_float32_on_a_trained_tiny_model(trained):
    from smoothclap.models.pipeline_smoothclap import to_cpu_fast_path

    model, processor = trained
    clips, y = fixture_set(8, seed=1)  # held out
    ref, ref_emb = predict(model, processor, clips)
    assert (ref == y).mean() >= 0.9, f"the tiny model did not learn the classes: {(ref == y).mean():.2f}"
    for dtype in ("int8", "bfloat16"):
        fast = to_cpu_fast_path(copy.deepcopy(model), dtype, require_native_bf16=False)
        got, emb = predict(fast, processor, clips)
        assert emb.dtype == torch.float32
        assert not torch.equal(emb, ref_emb)  # really converted: the numbers moved a little ...
        assert (emb - ref_emb).abs().max() < 0.05
        assert list(got) == list(ref), dtype  # ... and the answers did not
    assert is_quantised(to_cpu_fast_path(copy.deepcopy(model), "int8"))
    assert not is_quantised(model)  # the float32 model is untouched (deepcopy) and float32 is a no-op
    assert to_cpu_fast_path(model, "float32") is model and not is_quantised(model)


def test_padding_is_handled_as_in_float32(trained):
    """A short clip padded in a batch pools over its valid frames only (bf16 exactly as fp32's
    rule; int8 only up to the per-batch activation range)."""
    from smoothclap.models.pipeline_smoothclap import audio_embeddings, to_cpu_fast_path

    model, processor = trained
    clips = [clip(330.0, 0.7, 1), clip(760.0, 1.5, 2)]
    for dtype, tol in (("bfloat16", 1e-4), ("int8", 2e-2)):
        fast = to_cpu_fast_path(copy.deepcopy(model), dtype, require_native_bf16=False)
        one = audio_embeddings(fast, processor, clips, batch_size=1)
        two = audio_embeddings(fast, processor, clips, batch_size=2)
        assert (one - two).abs().max() < tol, dtype


def test_bad_values_name_the_choices(tmp_path, capsys):
    import smoothclap.evaluation.evaluate as evaluate_zeroshot
    import smoothclap.inference.classify as smoothclap_classify
    from smoothclap.models.pipeline_smoothclap import check_audio_dtype, to_cpu_fast_path

    for bad in ("int4", "float16", 8):
        with pytest.raises(ValueError, match="float32, bfloat16, int8"):
            check_audio_dtype(bad)
    with pytest.raises(ValueError, match="float32, bfloat16, int8"):
        to_cpu_fast_path(tiny_model(), "int4")
    assert check_audio_dtype("bf16") == "bfloat16" and check_audio_dtype(torch.float32) == "float32"
    for main, extra in ((evaluate_zeroshot.main, ["--model", "m", "--dataset", "d", "--output-dir", "o"]),
                        (smoothclap_classify.main, ["x.wav", "--labels", "a,b", "--model", "m"])):
        with pytest.raises(SystemExit) as err:
            main(extra + ["--dtype", "float16"])
        assert err.value.code == 2
        message = capsys.readouterr().err
        assert "invalid choice: 'float16'" in message and "'float32', 'bfloat16', 'int8'" in message


def test_bfloat16_on_a_cpu_without_native_bf16_says_so(monkeypatch):
    import smoothclap.models.pipeline_smoothclap as pipeline_smoothclap

    monkeypatch.setattr(pipeline_smoothclap, "cpu_native_bf16", lambda: False)
    model = tiny_model()
    with pytest.raises(ValueError, match="no native bfloat16|neither avx512_bf16 nor amx_bf16"):
        pipeline_smoothclap.to_cpu_fast_path(model, "bfloat16")
    assert next(model.audio_model.parameters()).dtype == torch.float32  # nothing half-converted
    monkeypatch.setattr(pipeline_smoothclap, "cpu_native_bf16", lambda: True)
    pipeline_smoothclap.to_cpu_fast_path(model, "bfloat16")
    assert next(model.audio_model.parameters()).dtype == torch.bfloat16
    assert next(model.audio_projection.parameters()).dtype == torch.float32  # head and text stay float32
    assert next(model.text_model.parameters()).dtype == torch.float32
    with pytest.raises(ValueError, match="already converted to bfloat16"):
        pipeline_smoothclap.to_cpu_fast_path(model, "int8")


def _hashes(folder):
    return {p: hashlib.sha256(open(os.path.join(folder, p), "rb").read()).hexdigest()
            for p in sorted(os.listdir(folder)) if os.path.isfile(os.path.join(folder, p))}


@pytest.fixture(scope="module")
def folder(tmp_path_factory, trained):
    model, processor = trained
    path = tmp_path_factory.mktemp("fastpath") / "smoothclap"
    model.save_pretrained(path)
    processor.save_pretrained(path)
    return path


def test_saved_folder_is_unchanged_by_the_option(folder, monkeypatch):
    from transformers import AutoModel, pipeline

    import smoothclap.models.pipeline_smoothclap as pipeline_smoothclap
    from smoothclap.evaluation.evaluate import load_model

    monkeypatch.setattr(pipeline_smoothclap, "cpu_native_bf16", lambda: True)  # bf16 allowed on any CPU here
    before = _hashes(folder)
    assert "model.safetensors" in before
    model, _ = load_model(str(folder), dtype="int8")
    assert is_quantised(model)
    model = pipeline_smoothclap.to_cpu_fast_path(AutoModel.from_pretrained(str(folder), trust_remote_code=True),
                                                 "bfloat16")
    assert next(model.audio_model.parameters()).dtype == torch.bfloat16
    clf = pipeline("zero-shot-audio-classification", model=str(folder), trust_remote_code=True, audio_dtype="int8")
    assert is_quantised(clf.model)
    clf(clip(330.0, 1.0, 3), candidate_labels=LABELS)
    assert _hashes(folder) == before  # quantisation happens at load, never on disk


CHILD = textwrap.dedent(
    """
    import json, os, sys
    import numpy as np
    from transformers import pipeline

    folder, root = sys.argv[1], sys.argv[2]
    assert all(os.path.abspath(p or ".") != root for p in sys.path), sys.path
    clips = [np.load(os.path.join(folder, "..", f"clip{i}.npy")) for i in range(4)]
    labels = json.loads(sys.argv[3])
    ref = pipeline("zero-shot-audio-classification", model=folder, trust_remote_code=True)
    fast = pipeline("zero-shot-audio-classification", model=folder, trust_remote_code=True, audio_dtype="int8")
    out = {"module": type(fast).__module__, "dtype": fast.audio_dtype,
           "quantised": any("quantized" in type(m).__module__ for m in fast.model.audio_model.modules()),
           "ref": [r[0]["label"] for r in ref(clips, candidate_labels=labels)],
           "fast": [r[0]["label"] for r in fast(clips, candidate_labels=labels)]}
    try:
        pipeline("zero-shot-audio-classification", model=folder, trust_remote_code=True, audio_dtype="int4")
        out["bad"] = None
    except ValueError as err:
        out["bad"] = str(err)
    print(json.dumps(out))
    """
)


def test_pipeline_in_a_fresh_process_accepts_the_option(folder, tmp_path):
    copy_dir = tmp_path / "copy" / "smoothclap"
    shutil.copytree(folder, copy_dir)
    for i, f in enumerate(FREQS):
        np.save(copy_dir.parent / f"clip{i}.npy", clip(f, 1.0, 100 + i))
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(HF_HUB_OFFLINE="1", HF_MODULES_CACHE=str(tmp_path / "modules"), PYTHONNOUSERSITE="1")
    proc = subprocess.run([sys.executable, str(script), str(copy_dir), ROOT, json.dumps(LABELS)], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["module"].startswith("transformers_modules"), out["module"]  # the folder's own remote code
    assert out["dtype"] == "int8" and out["quantised"]
    assert out["fast"] == out["ref"]
    assert len(set(out["ref"])) >= 3  # the trained model tells the tones apart
    assert out["bad"] and "float32, bfloat16, int8" in out["bad"]

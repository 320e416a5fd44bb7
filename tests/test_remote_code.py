"""A saved SmoothCLAP folder loads through the stock Auto classes and pipeline with
trust_remote_code=True, in a fresh process that cannot import the project."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import torch

from conftest import ROOT, tiny_model, tiny_processor, tone

LABELS = ["speaker is happy", "speaker is sad", "speaker is angry"]

CHILD = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import torch
    assert not any(p and __import__("os").path.abspath(p) == sys.argv[2] for p in sys.path), sys.path
    from transformers import (AutoConfig, AutoFeatureExtractor, AutoModel, AutoProcessor,
                              AutoTokenizer, pipeline)
    folder = sys.argv[1]
    config = AutoConfig.from_pretrained(folder, trust_remote_code=True)
    model = AutoModel.from_pretrained(folder, trust_remote_code=True).eval()
    processor = AutoProcessor.from_pretrained(folder, trust_remote_code=True)
    tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=True)
    extractor = AutoFeatureExtractor.from_pretrained(folder, trust_remote_code=True)
    clip = np.load(folder + "/clip.npy")
    labels = json.load(open(folder + "/labels.json"))
    with torch.no_grad():
        audio = model.get_audio_features(**processor(audio=clip, sampling_rate=16000)).pooler_output
        text = model.get_text_features(**processor(text=labels)).pooler_output
    clf = pipeline("zero-shot-audio-classification", model=folder, trust_remote_code=True)
    scores = clf(clip, candidate_labels=labels)
    print(json.dumps({
        "config": type(config).__name__, "model": type(model).__name__,
        "processor": type(processor).__name__, "module": type(model).__module__,
        "tokenizer": type(tokenizer).__name__, "extractor": type(extractor).__name__,
        "audio": audio.tolist(), "text": text.tolist(), "scores": scores,
    }))
    """
)


def test_auto_classes_and_pipeline_in_fresh_process(tmp_path):
    model, processor = tiny_model(), tiny_processor()
    folder = tmp_path / "smoothclap-tiny"
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    clip = tone(260, 1.2)
    np.save(folder / "clip.npy", clip)
    (folder / "labels.json").write_text(json.dumps(LABELS))
    assert (folder / "model.safetensors").exists()
    config = json.loads((folder / "config.json").read_text())
    assert set(config["auto_map"]) >= {"AutoConfig", "AutoModel"}
    for name in ("audio_smoothclap.py", "configuration_smoothclap.py", "modeling_smoothclap.py",
                 "processing_smoothclap.py"):
        assert (folder / name).exists(), name

    workdir = tmp_path / "elsewhere"
    workdir.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(HF_HUB_OFFLINE="1", HF_MODULES_CACHE=str(tmp_path / "modules"), PYTHONNOUSERSITE="1")
    script = workdir / "child.py"
    script.write_text(CHILD)
    proc = subprocess.run([sys.executable, str(script), str(folder), ROOT], cwd=workdir, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["config"] == "SmoothClapConfig" and out["model"] == "SmoothClapModel"
    assert out["processor"] == "SmoothClapProcessor"
    assert out["module"].startswith("transformers_modules"), out["module"]  # really remote code
    assert out["extractor"] == "Wav2Vec2FeatureExtractor"

    with torch.no_grad():
        audio = model.get_audio_features(**processor(audio=clip, sampling_rate=16000)).pooler_output
        text = model.get_text_features(**processor(text=LABELS)).pooler_output
    np.testing.assert_allclose(np.array(out["audio"]), audio.numpy(), atol=1e-5)
    np.testing.assert_allclose(np.array(out["text"]), text.numpy(), atol=1e-5)

    scores = out["scores"]
    assert sorted(s["label"] for s in scores) == sorted(LABELS)
    values = [s["score"] for s in scores]
    assert values == sorted(values, reverse=True)
    assert abs(sum(values) - 1.0) < 1e-5
    # the pipeline's ranking is the model's own (default template "This is a sound of {}.")
    with torch.no_grad():
        templ = model.get_text_features(**processor(text=[f"This is a sound of {x}." for x in LABELS])).pooler_output
        probs = torch.softmax(model.scale() * audio @ templ.T, dim=-1)[0]
    assert scores[0]["label"] == LABELS[int(probs.argmax())]
    np.testing.assert_allclose(sorted(values, reverse=True), sorted(probs.tolist(), reverse=True), atol=1e-4)

"""The README's "Use" snippets, run as written on local folders: build a model and its
processor from two "pretrained" encoder folders, save them, then load the saved folder
through the stock Auto classes and zero-shot pipeline with trust_remote_code=True, in a
fresh process that cannot import the project (and never touches the network)."""

import json
import os
import re
import subprocess
import sys
import textwrap

import numpy as np
import soundfile as sf
import torch

from conftest import ROOT, tiny_model, tiny_processor, tone

HUB_ENCODERS = ("audeering/wav2vec2-large-robust-12-ft-emotion-msp-dim", "bert-base-uncased")
TEMPLATE = "this person is feeling {}."  # the README pipeline snippet's hypothesis_template
CAPTIONS = ["speaker is angry", "speaker is calm"]  # the README embeddings snippet's texts

CHILD = textwrap.dedent(
    """
    import json, os, sys
    assert not any(p and os.path.abspath(p) == sys.argv[2] for p in sys.path), sys.path
    from transformers import AutoConfig, AutoFeatureExtractor, AutoTokenizer
    folder, blocks = sys.argv[1], json.load(open(sys.argv[3]))
    config = AutoConfig.from_pretrained(folder, trust_remote_code=True)
    tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=True)
    extractor = AutoFeatureExtractor.from_pretrained(folder, trust_remote_code=True)
    ns = {}
    exec(blocks["pipeline"], ns)    # README: the shipped pipeline on a file; the stock class via load_audio
    exec(blocks["embeddings"], ns)  # README: embeddings with AutoModel + AutoProcessor
    model, processor, wave = ns["model"], ns["processor"], ns["wave_16k"]
    print(json.dumps({
        "config": type(config).__name__, "model": type(model).__name__,
        "processor": type(processor).__name__, "module": type(model).__module__,
        "tokenizer": type(tokenizer).__name__, "extractor": type(extractor).__name__,
        "wave_16k": [str(wave.dtype), list(wave.shape)], "scores": ns["scores"],
        "stock_scores": ns["stock_scores"], "pipelines": [type(ns["clf"]).__name__, type(ns["stock"]).__name__],
        "audio": ns["audio"].tolist(), "text": ns["text"].tolist(), "probs": ns["probs"].tolist(),
    }))
    """
)


def readme_python_block(marker: str) -> str:
    text = open(os.path.join(ROOT, "README.md")).read()
    blocks = [b for b in re.findall(r"```python\n(.*?)\n```", text, flags=re.S) if marker in b]
    assert len(blocks) == 1, f"expected one README python block with {marker!r}, found {len(blocks)}"
    return blocks[0]


def run_build_snippet(audio_dir, text_dir, workdir, monkeypatch) -> dict:
    """The README's "build a new model from two pretrained encoders" snippet, as written,
    with the Hub names replaced by local folders; returns its namespace."""
    code = readme_python_block("SmoothClapProcessor.from_audio_text_pretrained")
    for name, local in zip(HUB_ENCODERS, (audio_dir, text_dir)):
        assert f'"{name}"' in code
        code = code.replace(f'"{name}"', repr(local))
    monkeypatch.chdir(workdir)
    ns = {}
    exec(code, ns)
    return ns


def test_readme_snippets_and_remote_code_in_fresh_process(tmp_path, pretrained_encoders, monkeypatch):
    ns = run_build_snippet(*pretrained_encoders, tmp_path, monkeypatch)
    model, processor = ns["model"].eval(), ns["processor"]
    folder = tmp_path / "smoothclap-new"
    assert (folder / "model.safetensors").exists()
    config = json.loads((folder / "config.json").read_text())
    assert set(config["auto_map"]) >= {"AutoConfig", "AutoModel"}
    for name in ("audio_smoothclap.py", "configuration_smoothclap.py", "modeling_smoothclap.py",
                 "processing_smoothclap.py", "processor_config.json", "tokenizer.json"):
        assert (folder / name).exists(), name

    # two files at other rates and channel counts for the snippets
    speech, other = tmp_path / "speech.wav", tmp_path / "other.flac"
    sf.write(speech, np.stack([tone(260, 1.2, sr=44100), tone(390, 1.2, sr=44100, seed=1)], axis=1), 44100)
    sf.write(other, tone(180, 0.7, sr=22050, seed=2), 22050)
    blocks = {}
    for key, marker in (("pipeline", "stock_scores = stock("), ("embeddings", "get_audio_features")):
        code = readme_python_block(marker).replace('"path/or/repo"', repr(str(folder)))
        blocks[key] = code.replace('"speech.wav"', repr(str(speech))).replace('"other.flac"', repr(str(other)))
    (tmp_path / "blocks.json").write_text(json.dumps(blocks))

    workdir = tmp_path / "elsewhere"
    workdir.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(HF_HUB_OFFLINE="1", HF_MODULES_CACHE=str(tmp_path / "modules"), PYTHONNOUSERSITE="1")
    script = workdir / "child.py"
    script.write_text(CHILD)
    proc = subprocess.run([sys.executable, str(script), str(folder), ROOT, str(tmp_path / "blocks.json")],
                          cwd=workdir, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "feature_extractor_class" not in proc.stderr  # transformers 5's deprecation warning
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["config"] == "SmoothClapConfig" and out["model"] == "SmoothClapModel"
    assert out["processor"] == "SmoothClapProcessor"
    assert out["module"].startswith("transformers_modules"), out["module"]  # really remote code
    assert out["extractor"] == "Wav2Vec2FeatureExtractor"
    assert out["wave_16k"] == ["float32", [int(1.2 * 16000)]]  # 44.1 kHz stereo -> 16 kHz mono

    # the remote-code model in the child computes what the built model computes here
    with torch.no_grad():
        audio = model.get_audio_features(**processor(audio=[str(speech), str(other)])).pooler_output
        text = model.get_text_features(**processor(text=CAPTIONS)).pooler_output
    np.testing.assert_allclose(np.array(out["audio"]), audio.numpy(), atol=1e-5)
    np.testing.assert_allclose(np.array(out["text"]), text.numpy(), atol=1e-5)
    np.testing.assert_allclose(np.array(out["probs"]).sum(-1), 1.0, atol=1e-5)

    # the shipped pipeline answers by default; the stock class on the same folder agrees with it
    assert out["pipelines"] == ["SmoothClapZeroShotAudioClassificationPipeline",
                                "ZeroShotAudioClassificationPipeline"]
    assert [s["label"] for s in out["stock_scores"]] == [s["label"] for s in out["scores"]]
    np.testing.assert_allclose([s["score"] for s in out["stock_scores"]],
                               [s["score"] for s in out["scores"]], atol=1e-5)

    # the pipeline's scores are the model's own softmax over the templated labels
    scores = out["scores"]
    values = [s["score"] for s in scores]
    assert values == sorted(values, reverse=True) and abs(sum(values) - 1.0) < 1e-5
    labels = [s["label"] for s in scores]
    with torch.no_grad():
        wave = processor(audio=processor.load_audio(str(speech)), sampling_rate=16000)
        one = model.get_audio_features(**wave).pooler_output
        templ = model.get_text_features(**processor(text=[TEMPLATE.format(x) for x in labels])).pooler_output
        probs = torch.softmax(model.scale() * one @ templ.T, dim=-1)[0]
    np.testing.assert_allclose(values, probs.tolist(), atol=1e-4)


def test_plain_import_loads_a_saved_folder_without_a_prompt(tmp_path):
    """With the flat files imported as plain modules (repository root, pip install), loading a
    saved model folder must not stop at transformers' interactive trust_remote_code prompt
    (the tokenizer loader reads config.json, whose auto_map names remote code)."""
    folder = tmp_path / "model"
    tiny_model().save_pretrained(folder)
    tiny_processor().save_pretrained(folder)
    code = (f"import sys; sys.path.insert(0, {ROOT!r})\n"
            "from processing_smoothclap import SmoothClapProcessor\n"
            "import modeling_smoothclap\n"
            "from transformers import AutoModel\n"
            f"p = SmoothClapProcessor.from_pretrained({str(folder)!r})\n"
            f"m = AutoModel.from_pretrained({str(folder)!r})\n"
            "print('OK', type(p.tokenizer).__name__, type(m).__module__)\n")
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_MODULES_CACHE=str(tmp_path / "modules"))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=180,
                          stdin=subprocess.DEVNULL, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Do you wish to run the custom code" not in proc.stdout + proc.stderr
    assert proc.stdout.split()[-3:] == ["OK", "BertTokenizer", "modeling_smoothclap"]

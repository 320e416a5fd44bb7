"""The ONNX Runtime backend (issue 22, part 2): `smoothclap export-onnx`, onnx_smoothclap.py, and
the "auto" choice of the CPU audio path. A tiny trained model (hidden 32, 2 layers) exported once
per module; its answers compared with eager float32. No timing is asserted (bench/cpu_fast_path.py).
"""

import ast
import json
import os
import sys

import numpy as np
import pytest
import torch

from conftest import ROOT, tiny_model
from test_cpu_fast_path import LABELS, clip, fixture_set, predict, trained  # noqa: F401  (trained: a fixture)

FLOAT_TOLERANCE = 1e-4  # 1 - cosine on the final embedding, float ONNX graph vs eager float32


@pytest.fixture(scope="module")
def folders(tmp_path_factory, trained):  # noqa: F811
    """(the saved model folder, its export with --quantize int8, the CLI's exit status and output)."""
    import smoothclap.cli as smoothclap_cli

    model, processor = trained
    base = tmp_path_factory.mktemp("onnx")
    folder, out = base / "smoothclap", base / "smoothclap-onnx"
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    status = smoothclap_cli.main(["export-onnx", str(folder), str(out), "--quantize", "int8"])
    return folder, out, status


def _waves():
    """Lengths and a batch size the export never saw (it traced 2 x 1 s)."""
    return [clip(330.0, 1.93, 11), clip(760.0, 0.41, 12), clip(140.0, 1.27, 13), clip(1700.0, 0.66, 14)]


def test_export_writes_a_checked_folder(folders):
    import onnx

    folder, out, status = folders
    assert status == 0
    onnx_dir = out / "onnx"
    for name in ("audio.onnx", "audio.int8.onnx", "text.onnx"):
        onnx.checker.check_model(str(onnx_dir / name))
        graph = onnx.load(str(onnx_dir / name), load_external_data=False).graph
        dims = graph.input[0].type.tensor_type.shape.dim
        assert all(d.dim_param and not d.dim_value for d in dims), (name, dims)  # batch and time/sequence dynamic
    audio = onnx.load(str(onnx_dir / "audio.int8.onnx"), load_external_data=False).graph
    ops = {n.op_type for n in audio.node}
    assert "MatMulInteger" in ops and "ConvInteger" not in ops  # MatMul/Gemm quantised, the conv front end not
    for name in os.listdir(folder):  # a full copy of the model folder, remote code included
        assert (out / name).is_file(), name
    assert (out / "onnx_smoothclap.py").is_file() and (folder / "onnx_smoothclap.py").is_file()  # save_pretrained
    readme = (onnx_dir / "README.md").read_text()
    for needle in ("smoothclap export-onnx", "--quantize int8", "onnxruntime 1.", "torch 2.", "Exported on:", "flags"):
        assert needle in readme, needle
    report = json.loads((onnx_dir / "export.json").read_text())
    assert 1 - report["audio"]["float32"]["min_cosine"] <= FLOAT_TOLERANCE
    assert 1 - report["text"]["min_cosine"] <= FLOAT_TOLERANCE


def test_float_graph_equals_eager_at_unseen_lengths_and_batches(folders, trained):  # noqa: F811
    from smoothclap.models.pipeline_smoothclap import audio_embeddings
    from smoothclap.evaluation.predict import load_model

    model, processor = trained
    _, out, _ = folders
    ort_model, ort_processor = load_model(str(out), dtype="float32", backend="onnx")
    assert ort_model.audio_backend == "onnx" and ort_model._cpu_fast_path == "float32"
    assert type(ort_model.audio_model).__name__ == "OrtAudioEncoder"
    waves = _waves()
    ref = audio_embeddings(model, processor, waves, batch_size=1)
    for batch_size in (1, 3, 4):  # padded batches: pooling over valid frames must hold in the graph too
        got = audio_embeddings(ort_model, ort_processor, waves, batch_size=batch_size)
        cos = torch.nn.functional.cosine_similarity(got, ref, dim=-1)
        assert float(1 - cos.min()) <= FLOAT_TOLERANCE, (batch_size, cos)


def test_int8_graph_keeps_the_top1(folders, trained):  # noqa: F811
    from smoothclap.evaluation.predict import load_model

    model, processor = trained
    _, out, _ = folders
    clips, y = fixture_set(8, seed=1)  # held out
    ref, ref_emb = predict(model, processor, clips)
    assert (ref == y).mean() >= 0.9  # a model that tells the classes apart: agreement means something
    int8, _ = load_model(str(out), dtype="int8", backend="onnxruntime")
    assert int8.audio_model.path.endswith("audio.int8.onnx")
    got, emb = predict(int8, processor, clips)
    assert not torch.equal(emb, ref_emb)  # really the int8 graph ...
    assert (got == ref).mean() >= 0.98, (got, ref)  # ... with the same answers


def test_pipeline_takes_the_folder_and_reports_its_backend(folders):
    from transformers import pipeline

    import smoothclap.models.pipeline_smoothclap as pipeline_smoothclap

    _, out, _ = folders
    waves = _waves()
    ref = pipeline("zero-shot-audio-classification", model=str(out), trust_remote_code=True)
    assert (ref.audio_backend, ref.audio_dtype) == ("torch", "float32")  # the default is unchanged
    ort = pipeline("zero-shot-audio-classification", model=str(out), trust_remote_code=True, backend="onnx")
    assert (ort.audio_backend, ort.audio_dtype) == ("onnx", "int8") and "audio.int8.onnx" in ort.audio_backend_reason
    want = [r[0]["label"] for r in ref(waves, candidate_labels=LABELS)]
    assert [r[0]["label"] for r in ort(waves, candidate_labels=LABELS)] == want
    auto = pipeline("zero-shot-audio-classification", model=str(out), trust_remote_code=True, audio_dtype="auto")
    expected = ("torch", "bfloat16") if pipeline_smoothclap.cpu_native_bf16() else ("onnx", "int8")  # this CPU
    assert (auto.audio_backend, auto.audio_dtype) == expected, auto.audio_backend_reason
    with pytest.raises(ValueError, match="chosen when the pipeline is built"):
        ort(waves[0], candidate_labels=LABELS, backend="torch")


def test_auto_rules(folders, monkeypatch):
    from transformers import AutoModel

    import smoothclap.models.pipeline_smoothclap as ps
    from smoothclap.models.onnx_smoothclap import resolve_audio_backend

    folder, out, _ = folders
    exported = AutoModel.from_pretrained(str(out))  # the local classes (registered at import)
    plain = AutoModel.from_pretrained(str(folder))
    monkeypatch.setattr(ps, "cpu_native_bf16", lambda: True)
    assert ps.select_audio_backend(exported)[:2] == ("torch", "bfloat16")
    monkeypatch.setattr(ps, "cpu_native_bf16", lambda: False)
    backend, dtype, reason = ps.select_audio_backend(exported)
    assert (backend, dtype) == ("onnx", "int8") and "no native bfloat16" in reason
    assert ps.select_audio_backend(exported, "auto", "torch")[:2] == ("torch", "float32")
    assert ps.select_audio_backend(exported, "int8")[:2] == ("torch", "int8")  # an explicit dtype: torch
    assert ps.select_audio_backend(exported, "float32", "onnx")[:2] == ("onnx", "float32")
    backend, dtype, reason = ps.select_audio_backend(plain)
    assert (backend, dtype) == ("torch", "float32") and "smoothclap export-onnx" in reason
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # as if not installed
    backend, dtype, reason = ps.select_audio_backend(exported)
    assert (backend, dtype) == ("torch", "float32") and 'pip install "smoothclap[onnx]"' in reason
    gpu = resolve_audio_backend("auto", "auto", device_type="cuda", native_bf16=True, exports={"int8": "x"},
                                ort_available=True)
    assert gpu[:2] == ("torch", "float32") and "changes nothing" in gpu[2]
    ps.to_cpu_fast_path(plain, "auto")  # logged and kept on the model
    assert (plain.audio_backend, plain._cpu_fast_path) == ("torch", "float32") and plain.audio_backend_reason


def test_missing_extra_and_missing_export_say_what_to_do(folders, monkeypatch):
    from smoothclap.models.onnx_smoothclap import OrtAudioEncoder
    from smoothclap.evaluation import EvaluationError
    from smoothclap.evaluation.predict import load_model

    folder, out, _ = folders
    with pytest.raises(EvaluationError, match="smoothclap export-onnx") as err:
        load_model(str(folder), backend="onnx")
    assert "\n" not in str(err.value)
    with pytest.raises(EvaluationError, match="auto, torch, onnx"):
        load_model(str(out), backend="tensorrt")
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(EvaluationError, match=r'pip install "smoothclap\[onnx\]"') as err:
        load_model(str(out), backend="onnx")
    assert "\n" not in str(err.value)
    with pytest.raises(ValueError, match=r'pip install "smoothclap\[onnx\]"'):
        OrtAudioEncoder(str(out / "onnx" / "audio.onnx"), tiny_model().config.audio_config)


def test_export_cli_bad_input_exits_2(folders, tmp_path, capsys, monkeypatch):
    import smoothclap.cli as smoothclap_cli

    folder, out, _ = folders
    cases = [([str(tmp_path / "nope"), str(tmp_path / "a")], "not found"),
             ([str(folder), str(out)], "not empty"),
             ([str(folder), str(tmp_path / "b"), "--quantize-conv"], "--quantize int8")]
    for argv, needle in cases:
        assert smoothclap_cli.main(["export-onnx", *argv]) == 2
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error:") and needle in lines[0], lines
    monkeypatch.setitem(sys.modules, "onnxscript", None)
    assert smoothclap_cli.main(["export-onnx", str(folder), str(tmp_path / "c")]) == 2
    assert 'pip install "smoothclap[onnx]"' in capsys.readouterr().err
    assert not (tmp_path / "c").exists()  # nothing written before the checks pass


def test_flat_file_needs_no_onnxruntime_to_import():
    """Remote code: onnx_smoothclap.py imports torch, numpy and transformers only; onnxruntime lazily."""
    tree = ast.parse(open(os.path.join(ROOT, "onnx_smoothclap.py")).read())
    top = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            top |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            top.add(node.module.split(".")[0])
    assert top <= {"__future__", "importlib", "os", "numpy", "torch", "transformers"}, top
    source = open(os.path.join(ROOT, "onnx_smoothclap.py")).read()
    assert "import onnxruntime" not in source and 'import_module("onnxruntime")' in source
    pipeline_source = open(os.path.join(ROOT, "pipeline_smoothclap.py")).read()
    assert "from .onnx_smoothclap import" in pipeline_source  # save_pretrained copies it with the pipeline
    assert np is not None


def test_evaluate_takes_dtype_auto_and_backend():
    import smoothclap.evaluation.evaluate as evaluate_zeroshot

    args = evaluate_zeroshot.build_parser().parse_args(
        ["--model", "m", "--dataset", "d", "--output-dir", "o", "--dtype", "auto", "--backend", "onnxruntime"])
    assert (args.dtype, args.backend) == ("auto", "onnxruntime")
    defaults = evaluate_zeroshot.build_parser().parse_args(["--model", "m", "--dataset", "d", "--output-dir", "o"])
    assert (defaults.dtype, defaults.backend) == ("float32", "auto")  # a benchmark's numbers stay exact by default

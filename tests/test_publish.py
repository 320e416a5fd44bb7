"""`smoothclap publish`: the checks on a model folder the trainer really exported and on
datasets the builders really built, each failure planted in a copy; the upload offline.

Nothing reaches the network: HF_HUB_OFFLINE=1, and the upload test also points
HF_ENDPOINT at an unroutable local port.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import ROOT

import smoothclap.release.publish as publish

SEED_BASES = ["smoothclap-tests/tiny-wav2vec2", "smoothclap-tests/tiny-bert"]


def run(*argv) -> int:
    return publish.main([str(a) for a in argv])


def errors_of(stderr: str) -> dict[str, str]:
    """check name -> its error line."""
    return {m.group(1): line for line in stderr.splitlines() if (m := re.match(r"error: ([\w ]+): ", line))}


# --------------------------------------------------------------------------- a real export
@pytest.fixture(scope="module")
def exported(tmp_path_factory, tiny_data, tiny_smoothclap):
    """<output-dir>/model of a 1-step training run that fine-tuned a local SmoothCLAP whose
    card names its encoders (as a published SmoothCLAP downloaded with `hf download` does)."""
    import smoothclap.training.trainer as train_accelerate
    from processes import reset_accelerate_state

    tmp = tmp_path_factory.mktemp("publish")
    start = shutil.copytree(tiny_smoothclap, tmp / "start")
    (start / "README.md").write_text("---\nbase_model:\n" + "".join(f"- {b}\n" for b in SEED_BASES) + "---\n# tiny\n")
    try:
        train_accelerate.main(["--dataset", tiny_data, "--model", str(start), "--output-dir", str(tmp / "run"),
                               "--batch-size", "4", "--epochs", "1", "--max-steps", "1", "--max-duration", "1.0",
                               "--no-progress-bar", "--report-to", "none", "--no-feature-cache", "--dataset-id", "me/tiny-corpus"])
    finally:
        reset_accelerate_state()
    return tmp / "run" / "model"


def card_meta(folder: Path) -> dict:
    return yaml.safe_load((folder / "README.md").read_text().split("---\n")[1])


def test_exported_card_carries_the_hub_metadata_at_the_top(exported):
    text = (exported / "README.md").read_text()
    assert text.startswith("---\n")
    meta = card_meta(exported)
    results = json.loads((exported / "training_results.json").read_text())
    assert meta["library_name"] == "transformers" and meta["pipeline_tag"] == "zero-shot-audio-classification"
    assert meta["license"] and meta["base_model"] == SEED_BASES and meta["datasets"] == ["me/tiny-corpus"]
    metric = meta["model-index"][0]["results"][0]["metrics"][0]
    assert metric["type"] == "uar" and metric["value"] == round(results["validation_uar"], 4)
    # the repository card's sections, but for its results block (those numbers are another model's)
    template = re.sub(r"<!-- evaluate_zeroshot:results:start -->.*<!-- evaluate_zeroshot:results:end -->", "",
                      (Path(ROOT) / "model_card.md").read_text(), flags=re.S)
    sections = re.findall(r"^## .+$", template, flags=re.M)
    assert len(sections) > 5 and [s for s in sections if s not in text] == []


def test_card_base_model_names_hub_repo_ids_only(tmp_path, pretrained_encoders):
    from smoothclap.training.export import base_models

    paper = {"audio_encoder": "audeering/wav2vec2-large-robust-12-ft-emotion-msp-dim", "text_encoder": "bert-base-uncased"}
    assert base_models(paper) == ["audeering/wav2vec2-large-robust-12-ft-emotion-msp-dim", "google-bert/bert-base-uncased"]
    audio_dir, text_dir = pretrained_encoders  # local folders: no id is known, none is made up
    assert base_models({"audio_encoder": audio_dir, "text_encoder": text_dir}) == []
    assert base_models({"model": "me/smoothclap", "audio_encoder": None}) == ["me/smoothclap"]
    # local copies on an offline cluster: the user names the ids (--base-model), checked before training
    named = {"audio_encoder": audio_dir, "text_encoder": text_dir, "base_model": "org/audio, org/text"}
    assert base_models(named) == ["org/audio", "org/text"]
    from smoothclap.training.config import TrainingConfigError, parse_args, validate_args

    args = parse_args(["--dataset", ROOT, "--output-dir", str(tmp_path), "--audio-encoder", audio_dir,
                       "--text-encoder", text_dir, "--base-model", "org/audio,/home/me/bert"])
    with pytest.raises(TrainingConfigError, match="'/home/me/bert' is not a Hub repo id"):
        validate_args(args)


def test_exported_model_passes_the_dry_run_and_lists_every_file_with_its_size(exported, capsys):
    assert run(exported, "--repo-id", "me/smoothclap-tiny", "--dry-run") == 0
    out, err = capsys.readouterr()
    assert "error" not in err
    assert "checks passed: safetensors, local paths, card, remote code, load" in out
    listed = {m.group(3): (float(m.group(1)), m.group(2))
              for m in re.finditer(r"^\s+([\d.]+) (B|KB|MB|GB)\s{2}(\S+)$", out, flags=re.M)}
    files = [p for p in exported.rglob("*") if p.is_file()]
    assert set(listed) == {str(p.relative_to(exported)) for p in files}
    assert re.search(rf"^\s+[\d.]+ MB  in {len(files)} files$", out, flags=re.M)
    for p in files:
        value, unit = listed[str(p.relative_to(exported))]
        size = value * 1024 ** ("B", "KB", "MB", "GB").index(unit)
        assert abs(size - p.stat().st_size) <= 0.06 * p.stat().st_size + 1, (p.name, value, unit)


def _plant_path(folder: Path):
    args = json.loads((folder / "training_args.json").read_text())
    args["dataset"] = str(folder.parent / "data" / "msp_podcast")  # /tmp/pytest-...: this machine's
    (folder / "training_args.json").write_text(json.dumps(args))


def _plant_bin(folder: Path):
    import torch

    torch.save({"w": torch.zeros(2)}, folder / "pytorch_model.bin")


def _break_yaml(folder: Path):
    card = folder / "README.md"
    card.write_text(card.read_text().replace("license: apache-2.0", "license: [apache-2.0", 1))


def _drop_base_model(folder: Path):
    card = folder / "README.md"
    head, body = card.read_text().split("---\n", 2)[1:]
    meta = yaml.safe_load(head)
    meta.pop("base_model")
    card.write_text("---\n" + yaml.safe_dump(meta, sort_keys=False) + "---\n" + body)


PLANTED = {
    "absolute path": (_plant_path, "local paths", "training_args.json:1 /"),
    "pickled weights": (_plant_bin, "safetensors", "pytorch_model.bin"),
    "broken card YAML": (_break_yaml, "card", "does not parse"),
    "no base_model": (_drop_base_model, "card", "base_model"),
    "no remote code": (lambda f: (f / "configuration_smoothclap.py").unlink(), "remote code",
                       "configuration_smoothclap.py missing"),
}


@pytest.mark.parametrize("problem", list(PLANTED))
def test_each_failed_check_exits_2_naming_it(exported, tmp_path, capsys, problem):
    plant, check, detail = PLANTED[problem]
    folder = Path(shutil.copytree(exported, tmp_path / "model"))
    plant(folder)
    assert run(folder, "--repo-id", "me/x", "--dry-run") == 2
    out, err = capsys.readouterr()
    errors = errors_of(err)
    assert set(errors) == {check, "load"}, err  # only the planted problem; the slow load waits for it
    assert detail in errors[check] and "load: not run yet" in errors["load"]
    assert "Traceback" not in err and "would upload" in out  # the dry run still lists the files


def test_load_check_loads_in_a_fresh_process_and_names_the_failing_step(exported, tmp_path, capsys):
    folder = Path(shutil.copytree(exported, tmp_path / "model"))
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])  # a cut-off download
    assert run(folder, "--repo-id", "me/x") == 2
    errors = errors_of(capsys.readouterr().err)
    assert set(errors) == {"load"}
    assert "AutoModel.from_pretrained(DIR, trust_remote_code=True) failed in a fresh process" in errors["load"]


# --------------------------------------------------------------------------- datasets
@pytest.fixture(scope="module")
def msp(tmp_path_factory):
    """A built MSP-Podcast (a licensed corpus; generated tones) and its captions-only export."""
    from test_msp_podcast import make_tree, row

    from smoothclap.data import build, export_captions

    tmp = tmp_path_factory.mktemp("msp")
    rows = [row(i, "AHSN"[i % 4], ("Train", "Development", "Test1")[i % 3]) for i in range(12)]
    make_tree(tmp / "MSP-PODCAST", rows)
    build("msp_podcast", str(tmp / "MSP-PODCAST"), tmp / "msp_podcast", progress=False)
    export_captions(tmp / "msp_podcast", tmp / "msp_podcast_captions")
    return tmp / "msp_podcast", tmp / "msp_podcast_captions"


def test_builders_cards_carry_the_hub_metadata(msp):
    from huggingface_hub import DatasetCard

    for folder in msp:
        meta = DatasetCard.load(folder / "README.md").data.to_dict()
        assert meta["license"] == "other" and meta["license_name"] == "msp-podcast-licence", meta
        assert meta["task_categories"] == ["audio-classification"] and meta["size_categories"] == ["n<1K"]


def test_licensed_corpus_with_audio_is_refused_publicly_and_warned_privately(msp, capsys):
    built, _ = msp
    assert run(built, "--repo-type", "dataset", "--repo-id", "me/msp", "--public", "--dry-run") == 2
    errors = errors_of(capsys.readouterr().err)
    assert set(errors) == {"licence"}
    assert "MSP-Podcast licence forbids" in errors["licence"] and "export-captions" in errors["licence"]

    assert run(built, "--repo-type", "dataset", "--repo-id", "me/msp", "--private", "--dry-run") == 0
    err = capsys.readouterr().err
    assert not errors_of(err) and "warning:" in err and "private" in err


def test_captions_only_export_passes_and_an_audio_file_in_it_does_not(msp, tmp_path, capsys):
    built, captions = msp
    assert run(captions, "--repo-type", "dataset", "--repo-id", "me/msp-captions", "--dry-run") == 0
    out, err = capsys.readouterr()
    assert "checks passed: safetensors, local paths, card, licence" in out and not err
    folder = Path(shutil.copytree(captions, tmp_path / "captions"))
    shutil.copyfile(built.parent / "MSP-PODCAST" / "Audios" / "MSP-PODCAST_0001_0000.wav", folder / "clip.wav")
    assert run(folder, "--repo-type", "dataset", "--repo-id", "me/msp-captions", "--public", "--dry-run") == 2
    assert "audio files (clip.wav)" in errors_of(capsys.readouterr().err)["licence"]


def test_a_dataset_published_as_a_model_is_named_as_such(msp, capsys):
    assert run(msp[1], "--repo-id", "me/x", "--dry-run") == 2
    assert capsys.readouterr().err.strip() == f"error: {msp[1]} is a built dataset; add --repo-type dataset"


def test_dataset_without_card_or_card_metadata_fails(msp, tiny_data, tmp_path, capsys):
    assert run(tiny_data, "--repo-type", "dataset", "--repo-id", "me/tiny", "--dry-run") == 2
    assert "no README.md" in errors_of(capsys.readouterr().err)["card"]
    folder = Path(shutil.copytree(msp[1], tmp_path / "captions"))
    card = folder / "README.md"
    card.write_text(re.sub(r"task_categories:\n- audio-classification\n", "", card.read_text()))
    assert run(folder, "--repo-type", "dataset", "--repo-id", "me/x", "--dry-run") == 2
    assert "no task_categories" in errors_of(capsys.readouterr().err)["card"]


# --------------------------------------------------------------------------- upload
def test_real_upload_offline_is_one_error_line_with_the_retry_command(msp, tmp_path):
    captions = msp[1]
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_ENDPOINT="http://127.0.0.1:9", HF_HOME=str(tmp_path / "hf"))
    code = "import sys, smoothclap.release.publish as p; sys.exit(p.main(sys.argv[1:]))"
    proc = subprocess.run([sys.executable, "-c", code, str(captions), "--repo-type", "dataset", "--repo-id",
                           "me/msp-captions", "--private"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 1, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: upload of "), proc.stderr
    assert "checks passed (safetensors, local paths, card, licence)" in lines[0]
    assert f"hf upload me/msp-captions {captions} --repo-type dataset --private" in lines[0]


def test_card_datasets_must_be_hub_ids(exported, tmp_path, capsys):
    folder = Path(shutil.copytree(exported, tmp_path / "model"))
    card = folder / "README.md"
    card.write_text(card.read_text().replace("- me/tiny-corpus", "- tiny"))
    assert run(folder, "--repo-id", "me/x", "--dry-run") == 2
    assert "--dataset-id ORG/NAME" in errors_of(capsys.readouterr().err)["card"]


def test_a_dataset_with_speaker_ids_is_private_unless_public_is_given(tiny_data, tmp_path, capsys):
    folder = Path(shutil.copytree(tiny_data, tmp_path / "data"))
    (folder / "README.md").write_text("---\nlicense: cc-by-4.0\ntask_categories:\n- audio-classification\n---\n")
    assert run(folder, "--repo-type", "dataset", "--repo-id", "me/tiny", "--dry-run") == 0
    out = capsys.readouterr().out
    assert "(dataset, private by default: the dataset holds audio" in out and "speaker ids (9 distinct" in out
    assert run(folder, "--repo-type", "dataset", "--repo-id", "me/tiny", "--public", "--dry-run") == 0
    out, err = capsys.readouterr()
    assert "(dataset, public," in out and "warning: --public exposes speaker ids (9 distinct" in err


def test_model_index_keeps_one_entry_per_corpus_and_split(exported, tmp_path):
    from smoothclap.evaluation.outputs import update_model_card

    card = Path(shutil.copytree(exported, tmp_path / "model")) / "README.md"
    before = card_meta(card.parent)["model-index"][0]["results"]
    assert [(r["dataset"]["type"], r["dataset"]["split"]) for r in before] == [("synthetic", "validation")]
    result = {"splits": ["validation"], "uar": 0.5, "wa": 0.5, "macro_f1": 0.4, "labels": ["a", "b"], "n_scored": 8,
              "n_total": 8, "uar_ci95": [0.3, 0.7]}
    for _ in range(2):
        update_model_card(card, {"synthetic/default": result}, "tiny")
    entries = card_meta(card.parent)["model-index"][0]["results"]
    assert {(e["dataset"]["type"], e["dataset"]["split"]) for e in entries} == {("synthetic", "validation")}
    assert len(entries) == 1 and len(entries[0]["metrics"]) == 3


def test_a_fine_tune_of_a_hub_download_names_that_model_as_base_model(tmp_path):
    from smoothclap.training.export import base_models

    snapshot = tmp_path / "hub" / "models--me--smoothclap-base" / "snapshots" / "0123abcd"
    snapshot.mkdir(parents=True)
    (snapshot / "README.md").write_text("---\nbase_model:\n- org/audio\n- org/text\n---\n")
    assert base_models({"model": str(snapshot)}) == ["me/smoothclap-base"]  # not its encoders
    plain = tmp_path / "local-copy"
    plain.mkdir()
    (plain / "README.md").write_text("---\nbase_model:\n- org/audio\n---\n")
    assert base_models({"model": str(plain)}) == ["org/audio"]  # no id known: the card's, as before

"""The exported, Hub-ready folder: model + processor + code, safetensors, auto_map, card.

``model/`` under ``--output-dir`` holds ``config.json`` (with ``auto_map``),
``model.safetensors``, the processor files, the flat ``*_smoothclap.py`` files
(``save_pretrained`` copies them) and ``README.md``, a model card filled with the run's
options and results. It loads with ``AutoModel.from_pretrained(folder,
trust_remote_code=True)`` and in the stock zero-shot audio pipeline. LoRA adapters are
merged into the weights; with ``--export-adapters`` they are also written unmerged to
``adapter/`` (a peft folder: ``PeftModel.from_pretrained(base, "<output-dir>/adapter")``).
Both name no local path: in ``config.json`` (``_name_or_path``, also per tower),
``training_args.json``, the cards and ``adapter_config.json`` a local file or folder
becomes its name (``/data/msp_podcast`` -> ``msp_podcast``); a Hub repo id stays as it is.
A failed upload names the command that retries it: ``hf upload REPO_ID FOLDER [--private]``.
"""

from __future__ import annotations

import json
import os
import re
import shutil

from smoothclap.repo_ids import REPO_ID, looks_like_path

# the repository's model_card.md (a symlink here, so that a wheel ships it as package data)
MODEL_CARD_TEMPLATE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "model_card.md")


def _split_front_matter(text: str) -> tuple[str, str]:
    if text.startswith("---\n"):
        end = text.index("\n---", 4)
        return text[4:end], text[end + 4:].lstrip("\n")
    return "", text


RESULTS_START, RESULTS_END = "<!-- evaluate_zeroshot:results:start -->", "<!-- evaluate_zeroshot:results:end -->"


# the Hub's base_model takes repo ids; these encoders moved and are published under a new id
CANONICAL_IDS = {"bert-base-uncased": "google-bert/bert-base-uncased"}


def card_metadata(path: str) -> dict:
    """The YAML header of a card (README.md) as a dict, {} when there is none."""
    import yaml

    if not os.path.isfile(path):
        return {}
    with open(path, encoding="utf-8") as fh:
        meta = yaml.safe_load(_split_front_matter(fh.read())[0] or "{}")
    return meta if isinstance(meta, dict) else {}


def _hub_ids(source) -> list[str]:
    """The Hub ids behind a model source: a repo id is one; a local folder passes on its own
    card's base_model (a published SmoothCLAP downloaded to fine-tune); else none is known."""
    if not isinstance(source, str) or not source:
        return []
    local = os.path.expanduser(source)
    snapshot = re.search(r"models--([\w.-]+)--([\w.-]+)[/\\]snapshots[/\\]", os.path.abspath(local))
    if os.path.isdir(local) and snapshot:  # a Hub download in the HF cache: the model it started from
        return [f"{snapshot.group(1)}/{snapshot.group(2)}"]
    if os.path.isdir(local):
        base = card_metadata(os.path.join(local, "README.md")).get("base_model") or []
        return [b for b in ([base] if isinstance(base, str) else base) if isinstance(b, str)]
    source = CANONICAL_IDS.get(source, source)
    return [source] if REPO_ID.fullmatch(source) else []


def base_models(config: dict) -> list[str]:
    """The card's base_model, read from the run's options before their local paths are
    reduced to names: the fine-tuned SmoothCLAP (``model``) or the two encoders."""
    if config.get("base_model"):  # given by the user (--base-model): the encoders are local copies
        return [b.strip() for b in str(config["base_model"]).split(",") if b.strip()]
    sources = [config.get("model")] if config.get("model") else [config.get(k) for k in ("audio_encoder", "text_encoder")]
    return list(dict.fromkeys(i for s in sources for i in _hub_ids(s)))


def _front_matter(template_front: str, config: dict, results: dict, bases: list[str] | None = None) -> str:
    """The template's card metadata with this run's base_model, datasets and model-index
    (validation UAR) instead of the template's: the repository card's numbers belong to
    another model. base_model is left out when no encoder was given as a Hub id (the Hub
    rejects a card whose base_model is not a repo id); `smoothclap publish` then says so."""
    import yaml

    meta = yaml.safe_load(template_front) if template_front.strip() else {}
    meta = meta if isinstance(meta, dict) else {}
    meta.setdefault("library_name", "transformers")
    meta.setdefault("pipeline_tag", "zero-shot-audio-classification")
    meta.pop("model-index", None)
    meta.pop("base_model", None)
    if bases:
        meta["base_model"] = list(bases)
    meta.pop("datasets", None)
    if config.get("dataset_id"):  # a Hub id only: a local folder's name is no link (the text names the data)
        meta["datasets"] = [config["dataset_id"]]
    if results.get("validation_uar") is not None:
        corpus = results.get("corpus") or os.path.basename(os.path.normpath(str(config.get("dataset", "dataset"))))
        meta["model-index"] = [{"name": "SmoothCLAP", "results": [{
            "task": {"type": "zero-shot-audio-classification", "name": "Zero-shot audio classification"},
            "dataset": {"name": corpus, "type": corpus, "split": config.get("validation_split")},
            "metrics": [{"type": "uar", "value": round(float(results["validation_uar"]), 4),
                         "name": "validation UAR (model selection)"}]}]}]
    return yaml.safe_dump(meta, sort_keys=False, allow_unicode=True)


def _without_template_results(body: str) -> str:
    """Empty the repository card's results block (evaluate_zeroshot.py fills it per model)."""
    if RESULTS_START in body and RESULTS_END in body:
        head, rest = body.split(RESULTS_START, 1)
        tail = rest.split(RESULTS_END, 1)[1]
        note = ("## Zero-shot results\n\nNot evaluated yet: run `smoothclap evaluate --model <this folder> "
                "--dataset DIR --update-model-card <this folder>/README.md`.\n")
        body = head + RESULTS_START + "\n" + note + RESULTS_END + tail
    return body


def model_card(config: dict, results: dict, base: str, bases: list[str] | None = None) -> str:
    """README.md of the exported folder: the repository's model card, headed by this run."""
    front, body = "", "# SmoothCLAP\n"
    if os.path.isfile(MODEL_CARD_TEMPLATE):
        front, body = _split_front_matter(open(MODEL_CARD_TEMPLATE, encoding="utf-8").read())
    uar = results.get("validation_uar")
    lines = ["## This checkpoint", "",
             f"Trained with `train_accelerate.py` from `{base}` on `{config.get('dataset')}` "
             f"(train split `{config.get('train_split')}`, {results.get('global_step')} optimizer steps, "
             f"{results.get('epochs_trained')} epoch(s), {results.get('num_processes')} process(es), "
             f"global batch {results.get('global_batch_size')}).", ""]
    if results.get("selected") is False and results.get("history"):
        last = "-" if uar is None else f"{uar:.4f}"
        lines += [f"The model of the **last epoch** ({results.get('exported_epoch')}, validation UAR {last}): "
                  "the best epoch's weights were not in the run folder (resumed from a checkpoint of another "
                  "run), so no epoch was selected on validation.", ""]
    elif uar is not None:
        lines += [f"Selected on **validation** zero-shot UAR = {uar:.4f} (epoch {results.get('best_epoch')}; "
                  f"queries: {', '.join(repr(q) for q in results.get('query_texts') or [])}). "
                  "Never selected on a test split.", ""]
    else:
        lines += ["No validation split: this is the model of the last epoch (no selection).", ""]
    if results.get("history"):
        lines += ["| epoch | mean train loss | validation UAR |", "|---|---|---|"]
        for h in results["history"]:
            v = h.get("validation_uar")
            lines.append(f"| {h['epoch']} | {h['train_loss']:.4f} | {'-' if v is None else f'{v:.4f}'} |")
        lines.append("")
    lines += ["Run options (`training_args.json` holds them as JSON):", "", "| option | value |", "|---|---|"]
    lines += [f"| `{k}` | `{v}` |" for k, v in sorted(config.items()) if v is not None]
    return ("---\n" + _front_matter(front, config, results, bases) + "---\n\n" + "\n".join(lines) + "\n\n"
            + _without_template_results(body))


def export_model(model, processor, out_dir, config: dict, results: dict, base: str,
                 adapters_dir: str | None = None) -> str:
    """Write the Hub-ready folder (main process only). ``model`` is the unwrapped model,
    a SmoothClapModel or a peft model (merged here; its adapters saved first if asked)."""
    bases = base_models(config)  # before the local paths become names: a local folder's card is read
    config, base = public_config(config), public_name(base)  # no local paths in a folder meant for the Hub
    if hasattr(model, "merge_and_unload"):
        if adapters_dir is not None:
            model.save_pretrained(adapters_dir)
            # peft records the base model's local path in adapter_config.json and its card (it
            # needs the real one while saving: it looks for the base's config.json there)
            _public_names_in_folder(adapters_dir)
            local = model.peft_config[model.active_adapter].base_model_name_or_path
            card = os.path.join(adapters_dir, "README.md")
            if local and public_name(local) != local and os.path.isfile(card):
                with open(card, encoding="utf-8") as fh:
                    text = fh.read()
                with open(card, "w", encoding="utf-8") as fh:
                    fh.write(text.replace(local, public_name(local)))
        model = model.merge_and_unload()
    tmp = out_dir.rstrip("/") + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp, safe_serialization=True)
    processor.save_pretrained(tmp)
    _public_names_in_folder(tmp)
    with open(os.path.join(tmp, "README.md"), "w", encoding="utf-8") as fh:
        fh.write(model_card(config, results, base, bases))
    with open(os.path.join(tmp, "training_args.json"), "w", encoding="utf-8") as fh:
        json.dump(config, fh, indent=2, sort_keys=True)
    with open(os.path.join(tmp, "training_results.json"), "w", encoding="utf-8") as fh:
        json.dump(results, fh, indent=2, sort_keys=True)
    shutil.rmtree(out_dir, ignore_errors=True)
    os.replace(tmp, out_dir)
    return out_dir


# options that name a local file or folder, or a Hub repo id
PATH_OPTIONS = ("dataset", "model", "audio_encoder", "text_encoder", "local_features", "output_dir",
                "feature_cache_dir", "resume_from_checkpoint", "config")


def public_name(value):
    """``value`` as a user would publish it: a repo id or a keyword stays as is, a local path
    (absolute, relative or ~) becomes its folder's or file's name."""
    if not isinstance(value, str) or not value:
        return value
    if " + " in value:  # "AUDIO + TEXT" (a model built from two encoders)
        return " + ".join(public_name(v) for v in value.split(" + "))

    expanded = os.path.expanduser(value)
    if os.path.exists(expanded) or looks_like_path(value) or os.path.isabs(expanded):
        return os.path.basename(os.path.normpath(expanded)) or value
    return value


def public_config(config: dict) -> dict:
    """The run's options without local paths (``PATH_OPTIONS`` reduced to names)."""
    return {k: public_name(v) if k in PATH_OPTIONS else v for k, v in config.items()}


def _public_names_in_json(path: str, keys=("_name_or_path", "name_or_path", "base_model_name_or_path")) -> None:
    """Rewrite ``keys`` (at any depth) of a JSON file that transformers/peft wrote with the
    local path a model was loaded from (config.json's ``_name_or_path``, also per tower)."""
    with open(path, encoding="utf-8") as fh:
        data = json.load(fh)

    def walk(node):
        if isinstance(node, dict):
            return {k: public_name(v) if k in keys else walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    cleaned = walk(data)
    if cleaned != data:
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(cleaned, fh, indent=2, sort_keys=False)
            fh.write("\n")


def _public_names_in_folder(folder: str) -> None:
    for name in os.listdir(folder):
        if name.endswith(".json"):
            _public_names_in_json(os.path.join(folder, name))


class PushError(RuntimeError):
    """The upload failed; the exported folder is complete on disk."""


def push_to_hub(folder: str, repo_id: str, private: bool, log=print) -> str:
    """Upload the exported folder; a clear error (the folder stays on disk) when it fails."""
    from huggingface_hub import HfApi

    api = HfApi()
    try:
        api.create_repo(repo_id, private=private, exist_ok=True)
        api.upload_folder(folder_path=folder, repo_id=repo_id, commit_message="Upload SmoothCLAP (train_accelerate.py)")
    except Exception as err:  # network, auth, permissions
        raise PushError(
            f"--push-to-hub {repo_id!r} failed ({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}). "
            f"The trained model is complete in {folder}; upload it later with "
            f"`hf upload {repo_id} {folder}{' --private' if private else ''}`.") from None
    log(f"uploaded {folder} to https://huggingface.co/{repo_id}")
    return repo_id

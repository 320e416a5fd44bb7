"""Command line of train_accelerate.py: flags, ``--config`` files and up-front checks.

Every option is a flag; any of them can also come from a YAML or JSON file given with
``--config run.yaml`` (keys are the flag names, with dashes or underscores). Flags on the
command line win over the file. ``validate_args`` checks every hyper-parameter before
any data or model is loaded, so a typo costs a second, not a cache build.
"""

from __future__ import annotations

import argparse
import json
import math
import os

from smoothclap.processes import core_count
from smoothclap.repo_ids import REPO_ID, looks_like_path

LORA_TOWERS = ("text", "audio")
# LoRA target modules per tower (attention query/value projections of BERT and wav2vec2)
DEFAULT_LORA_TARGETS = {"text": ("query", "value"), "audio": ("q_proj", "v_proj")}
# training configs in configs/ (shipped as package data; the accelerate_*.yaml files there are
# `accelerate launch --config_file` files, not these)
SHIPPED_CONFIGS = ("msp_podcast.yaml", "paraclap_baseline.yaml")
TRACKERS = ("tensorboard", "wandb", "comet_ml", "aim", "mlflow", "clearml", "dvclive", "swanlab",
            "trackio", "all", "none")


class TrainingConfigError(ValueError):
    """A bad option, config file or dataset, found before training starts."""


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    """``prog``: how the usage line names the command (default: how it was started)."""
    p = argparse.ArgumentParser(
        prog=prog,
        description="Train SmoothCLAP (or the ParaCLAP baseline, --beta 0) on a dataset built by "
                    "`smoothclap build` (smoothclap.data), on one CPU, one GPU, many GPUs or many nodes "
                    "(several processes: `accelerate launch -m smoothclap train ...`, or "
                    "`accelerate launch train_accelerate.py ...` in a clone). Defaults follow the "
                    "paper's recipe (SmoothCLAP, section 3.1).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--config", help="YAML or JSON file with any of these options (keys = flag names); flags on "
                                    "the command line win. A name the package ships works from any folder: "
                                    f"{', '.join(SHIPPED_CONFIGS)} (also as configs/NAME)")

    g = p.add_argument_group("data")
    g.add_argument("--dataset", help="folder written by `python -m smoothclap.data build` (required)")
    g.add_argument("--train-split", default="train")
    g.add_argument("--validation-split", default="validation",
                   help="split for zero-shot UAR model selection; 'none' selects the last epoch. "
                        "Never a test split")
    g.add_argument("--max-duration", type=float, default=5.0,
                   help="seconds: training audio is randomly cropped or zero-padded to this length")
    g.add_argument("--caption-variant", choices=("emotion_plus", "no_emotion", "emotion_only"), default=None,
                   help="caption variant re-drawn every epoch (default: the dataset's build setting)")
    g.add_argument("--max-tags", type=int, default=None,
                   help="most extra tag sentences per caption (default: the dataset's build setting)")
    g.add_argument("--fixed-captions", action="store_true",
                   help="use the dataset's stored `caption` column every epoch instead of re-drawing")
    g.add_argument("--query-template", default="this person is feeling {}.",
                   help="validation query text for corpora without stored query texts (MSP-Podcast)")
    g.add_argument("--num-workers", type=int, default=None,
                   help="DataLoader worker processes that decode, crop and tokenise (default: 0 on CPU; on a "
                        "GPU min(4, CPU cores per process - 1)). Workers ignore SIGINT/SIGTERM: the main "
                        "process decides when to stop and saves first")

    g = p.add_argument_group("model")
    g.add_argument("--model", help="a SmoothCLAP folder or Hub repo to fine-tune")
    g.add_argument("--audio-encoder", help="pretrained audio encoder (name or path), with --text-encoder; "
                                           "paper: audeering/wav2vec2-large-robust-12-ft-emotion-msp-dim")
    g.add_argument("--text-encoder", help="pretrained text encoder (name or path); paper: bert-base-uncased")
    g.add_argument("--projection-dim", type=int, default=768, help="shared embedding size (new models)")
    g.add_argument("--text-pooling", choices=("cls", "mean"), default="cls", help="new models only")
    g.add_argument("--beta", type=float, default=None, help="fusion factor of Eq. 8 (default: model config; "
                                                             "0 = ParaCLAP's InfoNCE)")
    g.add_argument("--gamma", type=float, default=None, help="mix gamma of Eq. 7 (default: model config)")
    g.add_argument("--tau-a2a", type=float, default=None, help="temperature of Eq. 5 (default: model config)")
    g.add_argument("--tau-t2t", type=float, default=None, help="temperature of Eq. 6 (default: model config)")
    g.add_argument("--tau-pred", type=float, default=None, help="temperature of Eq. 9-10 (default: model config)")
    g.add_argument("--local-features", default="encoder",
                   help="inputs of the audio-to-audio target (Eq. 5): 'encoder' (the frozen audio "
                        "encoder's pooled states, the paper's main setup), 'egemaps' (the dataset's "
                        "88 functionals, standardised with train statistics) or a model name/path "
                        "(WavLM, HuBERT, wav2vec 2.0: the paper's Table 2)")
    g.add_argument("--text-target", choices=("caption", "tags"), default="caption",
                   help="inputs of the text-to-text target (Eq. 6): caption embeddings or the compact `tags`")
    g.add_argument("--train-audio-encoder", action="store_true",
                   help="fine-tune the audio encoder (ParaCLAP's setting); the paper's recipe keeps it frozen")
    g.add_argument("--gradient-checkpointing", action="store_true", help="for the text encoder")

    g = p.add_argument_group("LoRA (peft)")
    g.add_argument("--lora", default=None,
                   help="'text', 'audio' or 'text,audio': LoRA adapters on those encoders. A tower without LoRA "
                        "keeps the recipe: the text encoder fully fine-tuned; the audio encoder frozen, or "
                        "fully fine-tuned with --train-audio-encoder (with --lora text only: --lora audio and "
                        "--train-audio-encoder both train the audio encoder, so they are refused together)")
    g.add_argument("--lora-rank", type=int, default=8)
    g.add_argument("--lora-alpha", type=float, default=16.0)
    g.add_argument("--lora-dropout", type=float, default=0.0)
    g.add_argument("--lora-targets", default=None,
                   help="comma-separated module names (default: query,value for text; q_proj,v_proj for audio)")
    g.add_argument("--lora-lr", type=float, default=1e-4, help="learning rate of the adapters")
    g.add_argument("--export-adapters", action="store_true",
                   help="ALSO write the unmerged peft adapter to <output-dir>/adapter (the merged model is "
                        "always written to <output-dir>/model). The adapter on the base model equals the merged "
                        "export: a tower trained in full next to the LoRA (the text encoder with --lora audio, the "
                        "audio encoder with --lora text --train-audio-encoder) is saved whole inside the adapter "
                        "(peft modules_to_save), so that adapter is as large as that tower")

    g = p.add_argument_group("optimisation")
    g.add_argument("--batch-size", type=int, default=None,
                   help="per process (default 32); the loss sees the global batch = processes x batch")
    g.add_argument("--global-batch-size", type=int, default=None,
                   help="the batch the loss sees, split over the processes (per process = global / "
                        "processes; an error when it does not divide). The paper's 32 stays 32 on any "
                        "number of GPUs. Not with --batch-size")
    g.add_argument("--epochs", type=int, default=10)
    g.add_argument("--max-steps", type=int, default=None, help="stop after this many optimizer steps")
    g.add_argument("--text-lr", type=float, default=1e-5, help="text encoder")
    g.add_argument("--head-lr", type=float, default=1e-3, help="projection heads and logit scale")
    g.add_argument("--audio-lr", type=float, default=1e-5, help="audio encoder (with --train-audio-encoder)")
    g.add_argument("--weight-decay", type=float, default=0.0, help="0 = plain Adam (the paper)")
    g.add_argument("--warmup-steps", type=int, default=0, help="linear warm-up, then constant")
    g.add_argument("--gradient-accumulation-steps", type=int, default=1,
                   help="optimizer step every N batches (and on the last, shorter window of an epoch: "
                        "steps per epoch = ceil(batches / N)). It does NOT enlarge the contrastive batch: "
                        "the similarities and soft targets still see processes x batch rows (unlike "
                        "open_clip's accum_freq); it only averages the gradients of N such losses")
    g.add_argument("--max-grad-norm", type=float, default=0.0, help="gradient clipping; 0 = off (the paper)")
    g.add_argument("--mixed-precision", choices=("no", "bf16", "fp16"), default=None,
                   help="autocast for the encoders; the loss is always computed in float32. Default: "
                        "what the launcher says (`accelerate launch --mixed_precision bf16`, an accelerate "
                        "config's `mixed_precision:`), else no. The effective value is logged and saved in "
                        "training_results.json")
    g.add_argument("--seed", type=int, default=0)

    g = p.add_argument_group("frozen-feature cache")
    c = g.add_mutually_exclusive_group()
    c.add_argument("--no-feature-cache", action="store_true", help="run the frozen audio encoder every step")
    c.add_argument("--feature-cache", action="store_true",
                   help="require the cache (an error if the audio side is trainable); default: used "
                        "whenever the audio encoder and local extractor are frozen")
    g.add_argument("--feature-cache-dir", default=None,
                   help="where cached features live (default: <output-dir>/feature_cache; give one folder to "
                        "share the cache between runs)")
    g.add_argument("--speaker-norm", default=None, metavar="COLUMN",
                   help="standardise each speaker's pooled audio-encoder outputs on that speaker's own clips "
                        "(COLUMN names the speaker, e.g. speaker) before the audio head: a voice's baseline "
                        "taken out. Needs the feature cache (a frozen audio encoder). Saved in the model's "
                        "config; `smoothclap evaluate` then does the same by the same column")
    g.add_argument("--crops-per-clip", type=int, default=None,
                   help="K fixed crops per clip, drawn once, one used per epoch (default: 5 with the cache; "
                        "without it a fresh random crop every epoch). Give it without the cache to "
                        "reproduce a cached run's crops")
    g.add_argument("--crop-seed", type=int, default=None,
                   help="seed of the crop windows (default: --seed). The feature cache is keyed by it, not "
                        "by --seed: a seed sweep with one --crop-seed computes the features once")

    g = p.add_argument_group("checkpoints, logging, export")
    g.add_argument("--output-dir", help="checkpoints, logs and the exported model (required)")
    g.add_argument("--checkpoint-every", type=int, default=0, help="also checkpoint every N steps (0 = epochs only)")
    g.add_argument("--keep-checkpoints", type=int, default=2, help="keep the last K step checkpoints")
    g.add_argument("--resume-from-checkpoint", default=None, help="'latest' or a checkpoint folder")
    g.add_argument("--allow-changed-settings", action="store_true",
                   help="resume even though loss, batch or optimiser settings differ from the checkpoint's (a "
                        "warning lists them; without this flag it is an error)")
    g.add_argument("--report-to", default="tensorboard",
                   help="comma-separated accelerate trackers (tensorboard, wandb, ...), 'all' or 'none'")
    g.add_argument("--project-name", default="smoothclap", help="tracker project/run name")
    g.add_argument("--log-every", type=int, default=10, help="log loss/lr/logit scale/samples per s every N steps")
    g.add_argument("--no-progress-bar", action="store_true")
    g.add_argument("--base-model", default=None, metavar="ORG/NAME[,ORG/NAME]",
                   help="the Hub ids the exported card names as base_model, when the encoders were given as "
                        "local copies (an offline cluster) whose ids cannot be read from them; default: "
                        "--model's or the encoders' ids when they are Hub ids (or a local SmoothCLAP's card)")
    g.add_argument("--dataset-id", default=None, metavar="ORG/NAME",
                   help="the Hub id of the training data, for the card's `datasets:` (a local dataset folder's "
                        "name is no Hub link: without this the card names the data in its text only)")
    g.add_argument("--push-to-hub", default=None, metavar="REPO_ID", help="upload the exported folder")
    g.add_argument("--hub-private", action="store_true", help="create the Hub repo as private")
    return p


def resolve_config_path(path: str) -> str:
    """``path`` if that file exists; else a config the package ships, given by name
    (``msp_podcast.yaml``, ``msp_podcast``) or as in a clone (``configs/msp_podcast.yaml``)."""
    if os.path.isfile(path):
        return path
    from smoothclap.assets import shipped_folder

    folder, name = os.path.split(path)
    if folder in ("", "configs"):
        name = name if os.path.splitext(name)[1] else name + ".yaml"
        shipped = shipped_folder("configs") / name
        if shipped.is_file():
            return str(shipped)
    raise TrainingConfigError(f"--config {path!r}: file not found (the package ships {', '.join(SHIPPED_CONFIGS)}: "
                              "give one by name, e.g. --config msp_podcast.yaml).")


def _read_config_file(path: str) -> dict:
    text = open(path, encoding="utf-8").read()
    try:
        if path.endswith(".json"):
            data = json.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
    except Exception as err:  # yaml/json syntax errors
        raise TrainingConfigError(f"--config {path!r} is not valid YAML/JSON: {err}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise TrainingConfigError(f"--config {path!r} must hold a mapping of option: value, got {type(data).__name__}.")
    return data


def parse_args(argv=None, prog: str | None = None) -> argparse.Namespace:
    """Parse flags, merging a ``--config`` file underneath them (flags win)."""
    parser = build_parser(prog)
    pre_parser = argparse.ArgumentParser(add_help=False)
    pre_parser.add_argument("--config")
    pre, _ = pre_parser.parse_known_args(argv)
    if pre.config:
        pre.config = resolve_config_path(pre.config)
        data = _read_config_file(pre.config)
        known = {a.dest: a for a in parser._actions if a.dest not in ("help", "config")}
        defaults = {}
        for key, value in data.items():
            dest = str(key).lstrip("-").replace("-", "_")
            if dest not in known:
                raise TrainingConfigError(
                    f"--config {pre.config!r}: unknown option {key!r}; valid keys: {', '.join(sorted(known))}.")
            action = known[dest]
            if value is not None and action.type is not None and not isinstance(value, bool):
                try:
                    value = action.type(value)
                except (TypeError, ValueError):
                    raise TrainingConfigError(f"--config {pre.config!r}: {key}={value!r} is not a valid "
                                              f"{action.type.__name__}.") from None
            if action.choices is not None and value not in action.choices:
                raise TrainingConfigError(f"--config {pre.config!r}: {key}={value!r}; choose from {list(action.choices)}.")
            defaults[dest] = value
        # --batch-size and --global-batch-size are one setting: the command line's wins over the file's
        given = {a.dest for a in parser._actions for opt in a.option_strings
                 for arg in (argv if argv is not None else __import__("sys").argv[1:])
                 if arg == opt or arg.startswith(opt + "=")}
        for one, other in (("batch_size", "global_batch_size"), ("global_batch_size", "batch_size")):
            if one in given and other in defaults and other not in given:
                defaults.pop(other)
        parser.set_defaults(**defaults)
    args = parser.parse_args(argv)
    if pre.config:
        args.config = pre.config  # the file really read (training_args.json records it)
    return args


MODEL_SOURCES = ("model", "audio_encoder", "text_encoder", "local_features")


def _hub_offline() -> bool:
    """Offline as huggingface_hub will see it (its constant is read at import; the variables
    may be set later in this process)."""
    from huggingface_hub import constants

    flags = (os.environ.get("HF_HUB_OFFLINE"), os.environ.get("TRANSFORMERS_OFFLINE"))
    return bool(constants.HF_HUB_OFFLINE) or any(str(f).strip().upper() in ("1", "ON", "YES", "TRUE") for f in flags)


def model_source_problem(flag: str, value: str) -> str | None:
    """Why ``value`` (a --model/--audio-encoder/--text-encoder/--local-features NAME_OR_PATH)
    cannot load, found without loading anything or reaching the network; None if it may."""
    path = os.path.expanduser(value)
    if os.path.isdir(path):
        if not os.path.isfile(os.path.join(path, "config.json")):
            return f"{flag} {value!r} is a folder without config.json (not a saved model)."
        return None
    if os.path.exists(path):
        return f"{flag} {value!r} is a file; give the model's folder (with config.json) or a Hub repo id."
    if looks_like_path(value):
        return f"{flag} {value!r}: no such folder ({os.path.abspath(path)!r} does not exist)."
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(value)
    except HFValidationError:
        return (f"{flag} {value!r} is neither a local folder nor a valid Hub repo id "
                "('name' or 'namespace/name').")
    if _hub_offline():
        from huggingface_hub import try_to_load_from_cache

        if not isinstance(try_to_load_from_cache(value, "config.json"), str):
            return (f"{flag} {value!r} is not a local folder and not in the Hugging Face cache, and the Hub is "
                    "offline (HF_HUB_OFFLINE=1): download it first (`hf download " + value + "` with network) "
                    "or give a local folder.")
    return None


def _problems(args) -> list[str]:
    """Every problem with the options (empty when all is well)."""
    bad = []
    if not args.dataset:
        bad.append("--dataset is required (a folder written by `python -m smoothclap.data build`).")
    elif not os.path.isdir(args.dataset):
        bad.append(f"--dataset {args.dataset!r} is not a folder.")
    if not args.output_dir:
        bad.append("--output-dir is required.")
    for option, value in (("--output-dir", args.output_dir), ("--feature-cache-dir", args.feature_cache_dir)):
        if value:  # a file, under a file, unwritable, /proc: said now, not as a traceback at the first save
            from smoothclap.data.outdir import check_output_location

            try:
                check_output_location(value, option, "folder", TrainingConfigError)
            except TrainingConfigError as err:
                bad.append(str(err))
    if args.model and (args.audio_encoder or args.text_encoder):
        bad.append("give either --model (fine-tune a SmoothCLAP) or --audio-encoder + --text-encoder, not both.")
    if not args.model and not (args.audio_encoder and args.text_encoder):
        bad.append("give --model PATH_OR_REPO, or both --audio-encoder and --text-encoder.")
    for name in MODEL_SOURCES:
        value = getattr(args, name)
        if value and not (name == "local_features" and value in ("encoder", "egemaps")):
            problem = model_source_problem("--" + name.replace("_", "-"), str(value))
            if problem:
                bad.append(problem)
    for name in ("beta", "gamma"):
        value = getattr(args, name)
        if value is not None and not (math.isfinite(value) and 0.0 <= value <= 1.0):
            bad.append(f"--{name} must be in [0, 1], got {value}.")
    for name in ("tau_a2a", "tau_t2t", "tau_pred"):
        value = getattr(args, name)
        if value is not None and not (math.isfinite(value) and value > 0):
            bad.append(f"--{name.replace('_', '-')} must be a positive temperature, got {value}.")
    for name in ("text_lr", "head_lr", "audio_lr", "lora_lr", "max_duration"):
        value = getattr(args, name)
        if not (math.isfinite(value) and value > 0):
            bad.append(f"--{name.replace('_', '-')} must be > 0, got {value}.")
    if args.batch_size is not None and args.global_batch_size is not None:
        bad.append("give --batch-size (per process) or --global-batch-size (split over the processes), not both.")
    for name in ("batch_size", "global_batch_size", "epochs", "gradient_accumulation_steps", "lora_rank",
                 "log_every", "projection_dim"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            bad.append(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}.")
    for name in ("warmup_steps", "checkpoint_every", "num_workers", "keep_checkpoints"):
        if getattr(args, name) is not None and getattr(args, name) < 0:
            bad.append(f"--{name.replace('_', '-')} must be >= 0, got {getattr(args, name)}.")

    if args.base_model is not None:
        wrong = [b for b in args.base_model.split(",") if not REPO_ID.fullmatch(b.strip())]
        if wrong:
            bad.append(f"--base-model: {', '.join(map(repr, wrong))} is not a Hub repo id (ORG/NAME, comma-separated).")
    if args.dataset_id and not REPO_ID.fullmatch(args.dataset_id):
        bad.append(f"--dataset-id {args.dataset_id!r} is not a Hub dataset id (ORG/NAME).")
    if args.keep_checkpoints == 0:
        bad.append("--keep-checkpoints must be >= 1 (the last checkpoint is what a resume starts from).")
    if args.max_steps is not None and args.max_steps < 1:
        bad.append(f"--max-steps must be >= 1, got {args.max_steps}.")
    if args.max_tags is not None and args.max_tags < 1:
        bad.append(f"--max-tags must be >= 1, got {args.max_tags}.")
    if args.crops_per_clip is not None and args.crops_per_clip < 1:
        bad.append(f"--crops-per-clip must be >= 1, got {args.crops_per_clip}.")
    if not (math.isfinite(args.weight_decay) and args.weight_decay >= 0):
        bad.append(f"--weight-decay must be >= 0, got {args.weight_decay}.")
    if not (math.isfinite(args.max_grad_norm) and args.max_grad_norm >= 0):
        bad.append(f"--max-grad-norm must be >= 0 (0 = off), got {args.max_grad_norm}.")
    if not 0.0 <= args.lora_dropout < 1.0:
        bad.append(f"--lora-dropout must be in [0, 1), got {args.lora_dropout}.")
    if not args.lora_alpha > 0:
        bad.append(f"--lora-alpha must be > 0, got {args.lora_alpha}.")
    towers = lora_towers(args)
    unknown = [t for t in towers if t not in LORA_TOWERS]
    if unknown:
        bad.append(f"--lora {args.lora!r}: unknown part(s) {unknown}; use 'text', 'audio' or 'text,audio'.")
    if args.lora_targets and len(towers) != 1:
        bad.append("--lora-targets applies to one tower; with --lora text,audio use the defaults.")
    if args.export_adapters and not towers:
        bad.append("--export-adapters needs --lora.")
    if "audio" in towers and args.feature_cache:
        bad.append("--lora audio trains the audio encoder, so its features cannot be cached: drop "
                   "--feature-cache (the cache is then off) or LoRA on the audio encoder.")
    if args.train_audio_encoder and args.feature_cache:
        bad.append("--train-audio-encoder changes the audio features every step, so they cannot be "
                   "cached: drop --feature-cache.")
    if "audio" in towers and args.train_audio_encoder:
        bad.append("--lora audio and --train-audio-encoder both train the audio encoder; choose one.")
    trackers = [t.strip() for t in str(args.report_to).split(",") if t.strip()]
    for t in trackers:
        if t not in TRACKERS:
            bad.append(f"--report-to {t!r} is not an accelerate tracker; choose from {', '.join(TRACKERS)}.")
    if args.validation_split and args.validation_split.lower().startswith("test"):
        bad.append(f"--validation-split {args.validation_split!r}: model selection on a test split is not "
                   "allowed (it would report an optimistic test score); use a validation split or 'none'.")
    if "{}" not in args.query_template:
        bad.append(f"--query-template {args.query_template!r} needs a '{{}}' for the class name.")
    return bad


def lora_towers(args) -> list[str]:
    return [t.strip() for t in (args.lora or "").split(",") if t.strip()]


def validate_args(args) -> None:
    """Raise TrainingConfigError listing every problem with the options."""
    bad = _problems(args)
    if len(bad) == 1:  # one problem: one line
        raise TrainingConfigError(bad[0])
    if bad:
        raise TrainingConfigError("invalid options:\n  - " + "\n  - ".join(bad))


DEFAULT_BATCH_SIZE = 32  # the paper's


def resolve_batch_size(args, num_processes: int) -> int:
    """Set and return ``args.batch_size`` (per process) from --batch-size / --global-batch-size."""
    if args.global_batch_size is not None:
        if args.global_batch_size % num_processes:
            raise TrainingConfigError(
                f"--global-batch-size {args.global_batch_size} does not divide over {num_processes} processes; "
                f"use a multiple of {num_processes} (e.g. {num_processes * max(1, args.global_batch_size // num_processes)}) "
                "or --batch-size per process.")
        args.batch_size = args.global_batch_size // num_processes
    elif args.batch_size is None:
        args.batch_size = DEFAULT_BATCH_SIZE
    args.global_batch_size = args.batch_size * num_processes
    return args.batch_size


def resolve_num_workers(args, device_type: str, local_processes: int) -> int:
    """--num-workers, or the default: none on CPU (the cores train), a few per process on a GPU."""
    if args.num_workers is None:
        cores = core_count()
        args.num_workers = 0 if device_type == "cpu" else max(0, min(4, cores // max(1, local_processes) - 1))
    return args.num_workers


def run_config(args) -> dict:
    """The options as a flat dict of plain values (trackers, the model card, checkpoints)."""
    return {k: v for k, v in sorted(vars(args).items()) if isinstance(v, (int, float, str, bool)) or v is None}

"""The model a run trains: built from --model or two pretrained encoders, towers frozen or
trained (in full or with LoRA adapters), the optimizer's parameter groups, and the separate
frozen local feature extractor (--local-features NAME_OR_PATH)."""

from __future__ import annotations

from smoothclap.training.config import TrainingConfigError, lora_towers
from smoothclap.training.data import SAMPLING_RATE


def build_model_and_processor(args):
    """(model, processor) from --model, or from --audio-encoder + --text-encoder."""
    from smoothclap.models.modeling_smoothclap import SmoothClapModel
    from smoothclap.models.processing_smoothclap import SmoothClapProcessor

    from huggingface_hub.errors import HFValidationError

    source = f"--model {args.model!r}" if args.model else \
        f"--audio-encoder {args.audio_encoder!r} / --text-encoder {args.text_encoder!r}"
    try:
        if args.model:
            # this repository's classes, not the folder's copies of the code (no trust_remote_code:
            # importing configuration_smoothclap registers it with AutoConfig, so the tokenizer
            # loader does not stop at the remote-code prompt)
            model = SmoothClapModel.from_pretrained(args.model)
            processor = SmoothClapProcessor.from_pretrained(args.model)
        else:
            model = SmoothClapModel.from_audio_text_pretrained(
                args.audio_encoder, args.text_encoder, projection_dim=args.projection_dim,
                text_pooling=args.text_pooling)
            processor = SmoothClapProcessor.from_audio_text_pretrained(args.audio_encoder, args.text_encoder)
    except (OSError, HFValidationError) as err:  # missing files, no network: one line, not a traceback
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise TrainingConfigError(f"{source} could not be loaded: {first}") from err
    for name in ("beta", "gamma", "tau_a2a", "tau_t2t", "tau_pred"):  # flags override the config
        if getattr(args, name) is not None:
            setattr(model.config, name, float(getattr(args, name)))
    return model, processor


def audio_is_trainable(args) -> bool:
    return args.train_audio_encoder or "audio" in lora_towers(args)


def tower_modes(args) -> dict:
    """How each encoder trains: 'LoRA', 'full' (every weight) or 'frozen'."""
    towers = lora_towers(args)
    return {"text": "LoRA" if "text" in towers else "full",
            "audio": "LoRA" if "audio" in towers else ("full" if args.train_audio_encoder else "frozen")}


def trainable_per_tower(model) -> dict:
    """Trainable parameter counts: text encoder, audio encoder, heads (projections + logit scale)."""
    counts = {"text": 0, "audio": 0, "heads": 0}
    for name, param in model.named_parameters():
        if param.requires_grad:
            part = "text" if "text_model." in name else "audio" if "audio_model." in name else "heads"
            counts[part] += param.numel()
    return counts


def prepare_towers(model, args, log):
    """Freeze what the recipe freezes, add LoRA adapters; returns the (maybe peft) model.

    A tower without LoRA that still trains in full (the text encoder; the audio encoder with
    --train-audio-encoder) goes into peft's ``modules_to_save``: peft keeps it trainable and
    saves it inside the adapter, so the adapter on the base model equals the merged export.
    Logs, per tower, how it trains and how many parameters really do.
    """
    modes = tower_modes(args)
    if modes["audio"] == "frozen":
        model.freeze_encoder("audio")  # no grad, and kept in eval mode (no SpecAugment/dropout)
    if args.gradient_checkpointing:
        model.text_model.activation_checkpointing_enable({"use_reentrant": False})  # transformers >= 5.23
    towers = lora_towers(args)
    if towers:
        from peft import LoraConfig, get_peft_model

        from smoothclap.training.config import DEFAULT_LORA_TARGETS

        patterns = []
        for tower in towers:
            names = args.lora_targets.split(",") if args.lora_targets else DEFAULT_LORA_TARGETS[tower]
            patterns.append(rf".*{tower}_model\..*\.({'|'.join(n.strip() for n in names)})")
        full = [f"{tower}_model" for tower, mode in modes.items() if mode == "full"]
        config = LoraConfig(r=args.lora_rank, lora_alpha=args.lora_alpha, lora_dropout=args.lora_dropout,
                            target_modules="|".join(f"({p})" for p in patterns),
                            modules_to_save=["audio_projection", "text_projection", "logit_scale", *full])
        model = get_peft_model(model, config)  # trains only adapters and modules_to_save
    counts = trainable_per_tower(model)
    for tower, mode in modes.items():  # what the log says is what trains
        if (mode == "frozen") != (counts[tower] == 0):
            raise RuntimeError(f"the {tower} encoder should be {mode} but has {counts[tower]:,} trainable parameters")
    lora = f" (LoRA rank {args.lora_rank})" if towers else ""
    log(f"trainable parameters{lora}: text encoder {counts['text']:,} ({modes['text']}), audio encoder "
        f"{counts['audio']:,} ({modes['audio']}), heads and logit scale {counts['heads']:,}")
    return model


def parameter_groups(model, args):
    """Adam groups: heads + logit scale (--head-lr), adapters (--lora-lr), text encoder
    (--text-lr), audio encoder (--audio-lr). Every trainable parameter is in exactly one."""
    groups = {"heads": [], "lora": [], "text": [], "audio": []}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        if "lora_" in name:
            groups["lora"].append(param)
        elif "text_model." in name:  # towers first: wav2vec2 has its own feature_projection
            groups["text"].append(param)
        elif "audio_model." in name:
            groups["audio"].append(param)
        elif "projection" in name or "logit_scale" in name:
            groups["heads"].append(param)
        else:
            raise RuntimeError(f"no learning rate for trainable parameter {name}")
    lrs = {"heads": args.head_lr, "lora": args.lora_lr, "text": args.text_lr, "audio": args.audio_lr}
    return [{"params": p, "lr": lrs[k], "name": k} for k, p in groups.items() if p]


def load_local_extractor(args, device, processor=None, log=print):
    """A separate frozen local feature extractor (--local-features NAME_OR_PATH), or None.

    It gets its input normalised by ITS OWN feature extractor (the folder's
    preprocessor_config.json), attached as ``smoothclap.training.cache.INPUT_PROCESSOR_ATTR``; a
    folder without one falls back to SmoothCLAP's processor settings (logged)."""
    if args.local_features in ("encoder", "egemaps"):
        return None
    import copy

    from transformers import AutoFeatureExtractor, AutoModel

    from smoothclap.training.cache import INPUT_PROCESSOR_ATTR, input_normalization

    extractor = AutoModel.from_pretrained(args.local_features).to(device).eval()
    try:
        fe = AutoFeatureExtractor.from_pretrained(args.local_features)
    except (OSError, ValueError):
        fe = copy.deepcopy(processor.feature_extractor) if processor is not None else None
        log(f"local extractor {args.local_features}: no feature extractor config (preprocessor_config.json); "
            "its input is normalised as SmoothCLAP's processor does "
            f"({input_normalization(fe) if fe is not None else 'do_normalize=True'})")
    if fe is not None and int(fe.sampling_rate) != SAMPLING_RATE:
        raise TrainingConfigError(f"--local-features {args.local_features!r} expects {fe.sampling_rate} Hz audio; "
                                  f"training audio is {SAMPLING_RATE} Hz.")
    if fe is not None:
        setattr(extractor, INPUT_PROCESSOR_ATTR, fe)
    return extractor.requires_grad_(False)

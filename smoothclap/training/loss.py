"""The loss over the GLOBAL batch: every process gathers all processes' embeddings (with
gradient) and the soft targets' inputs (without), and computes the same loss; N processes
of batch b give exactly the loss and gradients of one process with batch N*b."""

from __future__ import annotations

import torch

MODEL_INPUTS = ("input_ids", "attention_mask", "token_type_ids", "input_values", "audio_attention_mask",
                "pooled_audio_features")


class NonFiniteLossError(RuntimeError):
    """The loss became NaN or Inf; the message names the step and the batch's rows."""


def gather_with_grad(accelerator, x):
    """Concatenate every process's ``x`` (rank order); gradients flow back to each process's
    own slice (accelerate's ``gather`` would cut them)."""
    if accelerator.num_processes == 1:
        return x
    # torch's functional collective (differentiable; backward = reduce-scatter with sum, as
    # the deprecated torch.distributed.nn.functional.all_gather did)
    from torch.distributed import group
    from torch.distributed._functional_collectives import AsyncCollectiveTensor, all_gather_single

    gathered = all_gather_single(x.contiguous(), 0, group.WORLD)
    return gathered.wait() if isinstance(gathered, AsyncCollectiveTensor) else gathered


def compute_loss(accelerator, model, batch, extractor=None):
    """The soft-target loss over the global batch (the same value on every process).

    ``model`` is the prepared (maybe DDP-wrapped) model: its forward runs the towers on
    this process's rows; embeddings are gathered with gradient, the targets' inputs
    (local audio features, text-target embeddings) without; ``model.loss`` then sees the
    whole batch. With N processes of batch b this equals one process of batch N*b.
    """
    core = accelerator.unwrap_model(model)
    out = model(**{k: v for k, v in batch.items() if k in MODEL_INPUTS})
    config = core.config
    local = text_target = None
    if config.beta > 0 and config.gamma < 1:  # inputs of the audio-to-audio target (Eq. 5)
        local = batch.get("local_audio_features", batch.get("cached_local_features"))
        if local is None and extractor is not None:
            with torch.no_grad(), accelerator.autocast():  # as the cache builds it
                from smoothclap.training.cache import pooled_output

                own = "local_input_values" in batch  # the extractor's own normalisation of the raw crop
                local = pooled_output(extractor, batch["local_input_values" if own else "input_values"],
                                      batch["local_attention_mask" if own else "audio_attention_mask"]).float()
        if local is None:  # the model's own rule: eval-mode, gradient-free encoder features
            # (the pooled output as is when frozen or cached; a no-grad eval pass when trained)
            local = core.target_audio_features(out.audio_pooled_output, batch.get("input_values"),
                                               batch.get("audio_attention_mask"), "pooled_audio_features" in batch)
        local = accelerator.gather(local.detach().float().contiguous())
    if config.beta > 0 and config.gamma > 0:  # inputs of the text-to-text target (Eq. 6)
        # like the audio side: no dropout, no gradient (an eval-mode pass while the text trains)
        with accelerator.autocast():
            if "tags_input_ids" in batch:  # --text-target tags
                text_target = core.clean_text_embeds(
                    **{k[len("tags_"):]: v for k, v in batch.items() if k.startswith("tags_")})
            else:
                text_target = core.target_text_features(out.text_embeds, batch["input_ids"],
                                                        batch.get("attention_mask"), batch.get("token_type_ids"))
        text_target = accelerator.gather(text_target.float().contiguous())
    audio = gather_with_grad(accelerator, out.audio_embeds)
    text = gather_with_grad(accelerator, out.text_embeds)
    return core.loss(audio, text, local_audio_features=local, text_target_embeds=text_target)


def check_finite(accelerator, loss, batch, state, last_checkpoint):
    if torch.isfinite(loss.detach()).item():
        return
    from accelerate.utils import gather_object

    ids = gather_object(list(batch["ids"]))
    where = f"the last good checkpoint, untouched: {last_checkpoint}" if last_checkpoint else "no checkpoint was written"
    raise NonFiniteLossError(
        f"loss is {loss.item()} at step {state.global_step + 1} (epoch {state.epoch}, batch "
        f"{state.batches_done} of the epoch); rows of the global batch: {', '.join(map(str, ids))}. "
        f"Stopped without saving; {where}. Lower the learning rates, check these rows, or use "
        "--mixed-precision no.")

"""Step 2 of the demo: the small frozen audio encoder, fitted here (no speech encoder can be
downloaded), cached by its settings; and the linear-probe ceiling of what it carries.

    audio_encoder(corpus_dir, recipe, seed, cache_dir) -> folder   # fitted or reused
    fit_audio_encoder(train, recipe, seed) -> (model, extractor, losses)
    probe_ceiling(encoder_dir, corpus_dir) -> {split: UAR}
"""

from __future__ import annotations

import json
import os
import shutil
import time

from smoothclap.data.card import read_metadata
from smoothclap.demo.recipe import AVD, SAMPLING_RATE, Recipe, encoder_config, read_json, settings_of


def encoder_batches(extractor, waves, order, batch_size):
    """(indices, input_values, attention_mask) batches, zero-padded to the longest clip."""
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        inputs = extractor([waves[i] for i in idx], sampling_rate=SAMPLING_RATE, padding=True,
                           return_attention_mask=True, return_tensors="pt")
        yield idx, inputs["input_values"], inputs["attention_mask"]


def frames(model, input_values, attention_mask):
    """(last hidden state (B, T, H), its valid frames (B, T))."""
    hidden = model(input_values, attention_mask=attention_mask).last_hidden_state
    return hidden, model._get_feature_vector_attention_mask(hidden.shape[1], attention_mask)


def pooled(model, input_values, attention_mask):
    """Mean of the last hidden state over valid frames (what SmoothClapModel.pooled_audio does)."""
    from smoothclap.models.modeling_smoothclap import mean_pool

    return mean_pool(*frames(model, input_values, attention_mask))


PITCH_BINS = 37  # semitones 0..35 upwards of 55 Hz (to 440 Hz), and the last bin: unvoiced


def _frame_windows(wave, config, count: int, window: int = 640):
    """(count, window) samples of ``wave``: one 40 ms window centred on each encoder frame's
    receptive field (``config``: the encoder's Wav2Vec2Config), zero beyond the clip."""
    import numpy as np

    strides, kernels = list(config.conv_stride), list(config.conv_kernel)
    hop = int(np.prod(strides))
    field = 1 + sum((k - 1) * int(np.prod(strides[:i])) for i, k in enumerate(kernels))
    starts = hop * np.arange(count) + field // 2 - window // 2 + window  # in the padded wave
    padded = np.pad(np.asarray(wave, dtype=np.float32), (window, window + hop))
    return padded[np.minimum(starts[:, None] + np.arange(window)[None], len(padded) - 1)]


def pitch_bins(wave, config, count: int):
    """Per encoder frame (``count`` of them, ``config``: the encoder's Wav2Vec2Config): the
    semitone above 55 Hz of the strongest autocorrelation peak between 60 and 400 Hz in a
    40 ms window centred on the frame's receptive field, or ``PITCH_BINS - 1`` where the
    frame is unvoiced (peak below 0.5 of the energy) or silent. The encoder's pitch targets."""
    import numpy as np

    rate = SAMPLING_RATE
    chunk = _frame_windows(wave, config, count)
    chunk = chunk - chunk.mean(1, keepdims=True)
    spectrum = np.fft.rfft(chunk, 1024)  # >= window + the longest lag: no wrap-around
    autocorr = np.fft.irfft(np.abs(spectrum) ** 2)[:, :rate // 60 + 1]
    low, high = rate // 400, rate // 60
    lag = low + autocorr[:, low:high].argmax(1)
    peak = autocorr[np.arange(count), lag] / np.maximum(autocorr[:, 0], 1e-12)
    voiced = (peak > 0.5) & ((chunk ** 2).mean(1) > 1e-5)
    semitone = np.clip(np.round(12 * np.log2(rate / lag / 55.0)), 0, PITCH_BINS - 2).astype(np.int64)
    return np.where(voiced, semitone, PITCH_BINS - 1)


LOUDNESS_BINS = 21  # 3 dB steps of a frame's RMS level from -60 dBFS (and below) to 0 dBFS


def loudness_bins(wave, config, count: int):
    """Per encoder frame (as ``pitch_bins``): the RMS level of a 40 ms window centred on the
    frame's receptive field, in 3 dB classes from -60 dBFS (anything quieter, silence included)
    up to 0 dBFS. The encoder's loudness targets: mean pooling of loudness-class frames keeps
    a clip's loudness spread, not only its average."""
    import numpy as np

    chunk = _frame_windows(wave, config, count)
    level = 10 * np.log10(np.maximum((chunk ** 2).mean(1), 1e-12))
    return np.clip(np.floor((level + 60.0) / 3.0), 0, LOUDNESS_BINS - 1).astype(np.int64)


def as_another_voice(wave, rng, max_gain: float, semitones: float):
    """``wave`` as if another voice said it: louder or quieter (gain drawn log-uniform in
    [1/max_gain, max_gain]) and higher or lower (resampled by up to ``semitones``, which moves
    pitch, formants and rate together). The train split has 16 voices; without this the
    encoder learns their baselines and carries less to new voices (docs/demo.md)."""
    import numpy as np

    gain = float(np.exp(rng.uniform(-np.log(max_gain), np.log(max_gain)))) if max_gain > 1 else 1.0
    factor = float(2.0 ** (rng.uniform(-semitones, semitones) / 12.0)) if semitones > 0 else 1.0
    if factor != 1.0:  # linear interpolation: read the clip `factor` times faster
        n = max(1, int(len(wave) / factor))
        wave = np.interp(np.arange(n) * factor, np.arange(len(wave)), wave)
    return (wave * gain).astype(np.float32)


def _standardized(values):
    """Columns to mean 0 / std 1 (a constant column to 0; missing values to 0, the mean)."""
    import numpy as np

    values = np.nan_to_num(values - np.nanmean(values, axis=0), nan=0.0)
    return (values / values.std(0).clip(min=1e-6)).astype(np.float32)


def fit_audio_encoder(train, recipe: Recipe, seed: int):
    """A fresh small Wav2Vec2 regressed (mean-pooled state -> linear) on the standardised
    arousal/valence/dominance of ``train`` and its eGeMAPS descriptors
    (``recipe.encoder_egemaps_weight``), classified to its emotion labels
    (``recipe.encoder_label_weight``) and, frame by frame, to its pitch (``pitch_bins``,
    ``recipe.encoder_pitch_weight``) and loudness (``loudness_bins``, ``recipe.encoder_loudness_weight``),
    every clip heard as another voice each epoch
    (``as_another_voice``, ``recipe.encoder_voice_*``). Returns (encoder, feature extractor, last step's losses)."""
    import numpy as np
    import torch
    from tqdm.auto import tqdm
    from transformers import Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2Model

    from smoothclap.models.audio_smoothclap import load_audio
    from smoothclap.models.modeling_smoothclap import mean_pool
    from smoothclap.demo.threads import ThreadTrial
    from smoothclap.processes import core_count

    # do_normalize=False: per-clip standardisation would erase loudness, a main cue of these
    # acted emotions (research: probe UAR 0.77 without it, 0.54 with it)
    extractor = Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=SAMPLING_RATE, padding_value=0.0,
                                         do_normalize=False, return_attention_mask=False)
    waves = [load_audio(clip) for clip in tqdm(train["audio"], desc="decode", leave=False)]
    avd = np.stack([np.asarray(train[name], dtype=np.float32) for name in AVD], axis=1)
    targets = torch.from_numpy(_standardized(avd))
    # the clips' eGeMAPS descriptors too (when the corpus has them, as the builders write them):
    # mean pooling carries a clip's averages easily but not its spreads (pitch range, loudness
    # variation, rate), which these acted emotions differ in most (docs/demo.md)
    use_egemaps = recipe.encoder_egemaps_weight > 0 and "egemaps" in train.column_names
    egemaps = (torch.from_numpy(_standardized(np.asarray(train["egemaps"], dtype=np.float32))) if use_egemaps
               else torch.zeros(len(waves), 0))
    # the emotion labels too (when the corpus has them): a regression to three numbers keeps
    # only what separates the emotions along arousal/valence/dominance
    use_labels = recipe.encoder_label_weight > 0 and "label" in train.column_names
    labels = torch.as_tensor(np.asarray(train["label"]), dtype=torch.long) if use_labels else None
    n_labels = int(labels.max()) + 1 if use_labels else 0
    torch.manual_seed(seed)
    model = Wav2Vec2Model(Wav2Vec2Config(**encoder_config(recipe)))
    head = torch.nn.Linear(model.config.hidden_size, len(AVD) + egemaps.shape[1] + n_labels)
    # each frame's pitch too (a semitone class from an autocorrelation tracker run on the clip as
    # heard): mean pooling of pitch-class frames keeps the clip's pitch range, which a regression
    # of clip-level targets alone left out (docs/demo.md); and each frame's loudness
    # (``loudness_bins``) the same way. (weight, targets, head) each, a head made only when
    # weighted: its initialisation would move the random stream of a fit without it
    frame_targets = [(weight, targets_of, torch.nn.Linear(model.config.hidden_size, bins))
                     for weight, targets_of, bins in ((recipe.encoder_pitch_weight, pitch_bins, PITCH_BINS),
                                                      (recipe.encoder_loudness_weight, loudness_bins, LOUDNESS_BINS))
                     if weight > 0]
    params = [*model.parameters(), *head.parameters(), *(p for *_, h in frame_targets for p in h.parameters())]
    optimizer = torch.optim.AdamW(params, lr=recipe.encoder_lr, weight_decay=0.01)
    per_epoch = -(-len(waves) // recipe.encoder_batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=recipe.encoder_lr, pct_start=0.15,
                                                   total_steps=recipe.encoder_epochs * per_epoch)
    generator = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)  # the voice changes: the same on a rerun with this seed
    augment = recipe.encoder_voice_gain > 1 or recipe.encoder_voice_semitones > 0
    model.train()
    trial = ThreadTrial(core_count())  # one thread can beat all cores on a shared machine
    bar = tqdm(total=recipe.encoder_epochs * per_epoch, desc="audio encoder")
    for _ in range(recipe.encoder_epochs):
        order = torch.randperm(len(waves), generator=generator).tolist()
        seen = [as_another_voice(w, rng, recipe.encoder_voice_gain, recipe.encoder_voice_semitones)
                for w in waves] if augment else waves  # a new draw every epoch
        for idx, values, mask in encoder_batches(extractor, seen, order, recipe.encoder_batch_size):
            threads = trial.threads(bar.n)
            if threads != torch.get_num_threads():
                torch.set_num_threads(threads)
                bar.set_description(f"audio encoder ({threads} thread(s))")
            step_started = time.perf_counter()
            hidden, valid = frames(model, values, mask)
            out = head(mean_pool(hidden, valid))
            mse = torch.nn.functional.mse_loss(out[:, :len(AVD)], targets[idx])
            ends = len(AVD) + egemaps.shape[1]
            loss = mse + (recipe.encoder_egemaps_weight * torch.nn.functional.mse_loss(
                out[:, len(AVD):ends], egemaps[idx]) if use_egemaps else 0.0)
            loss = loss + (recipe.encoder_label_weight * torch.nn.functional.cross_entropy(
                out[:, ends:], labels[idx]) if use_labels else 0.0)
            for weight, targets_of, frame_head in frame_targets:
                classes = torch.full(valid.shape, -100, dtype=torch.long)  # -100: padding, not scored
                for row, i in enumerate(idx):
                    count = int(valid[row].sum())
                    classes[row, :count] = torch.from_numpy(targets_of(seen[i], model.config, count))
                loss = loss + weight * torch.nn.functional.cross_entropy(frame_head(hidden).flatten(0, 1),
                                                                         classes.flatten())
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
            schedule.step()
            trial.record(bar.n, threads, time.perf_counter() - step_started)
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.3f}")
    bar.close()
    return model.eval(), extractor, {"final_train_mse": float(mse.item()), "final_train_loss": float(loss.item())}


def audio_encoder(corpus_dir: str, recipe: Recipe, seed: int, cache_dir: str) -> str:
    """Folder of the AVD-fitted audio encoder (model + feature extractor), reused when an
    earlier run fitted it with the same settings on the same corpus."""
    folder = os.path.join(cache_dir, f"audio-encoder-seed{seed}" + ("-quick" if recipe.corpus_options else ""))
    corpus = read_metadata(corpus_dir)  # its build settings identify it
    settings = {"encoder_config": encoder_config(recipe), "seed": seed, "corpus": corpus,
                **{k: v for k, v in settings_of(recipe).items() if k.startswith("encoder_")}}
    settings = json.loads(json.dumps(settings))  # tuples -> lists, as read back
    marker = os.path.join(folder, "demo_encoder.json")
    if (read_json(marker) or {}).get("settings") == settings:
        print(f"   reusing {folder} (fitted earlier with the same settings)")
        return folder
    import datasets

    train = datasets.load_from_disk(corpus_dir)["train"]
    model, extractor, losses = fit_audio_encoder(train, recipe, seed)
    shutil.rmtree(folder, ignore_errors=True)
    model.save_pretrained(folder)
    extractor.save_pretrained(folder)
    with open(marker, "w") as f:
        json.dump({"settings": settings, **losses}, f, indent=1)
    return folder


def probe_ceiling(encoder_dir: str, corpus_dir: str, splits=("validation", "test"), model=None,
                  extractor=None, per_speaker: bool = False) -> dict:
    """{split: UAR of a linear probe on the frozen encoder's pooled states} (fitted on train):
    what the audio tower carries, beside which the zero-shot UAR is read. ``model`` /
    ``extractor``: an encoder in memory instead of ``encoder_dir`` (bench/demo_study.py).
    ``per_speaker``: also ``"per_voice": {split: UAR}``, the same probe on the pooled states
    standardised per voice first (each split's own voices;
    ``smoothclap.evaluation.study.per_speaker_standardized``), the ceiling of a speaker-
    normalised model; from the same encoder pass."""
    import datasets
    import numpy as np
    import torch
    from transformers import Wav2Vec2FeatureExtractor, Wav2Vec2Model

    from smoothclap.models.audio_smoothclap import load_audio
    from smoothclap.evaluation.study import per_speaker_standardized, probe_uar

    model = (model or Wav2Vec2Model.from_pretrained(encoder_dir)).eval()
    extractor = extractor or Wav2Vec2FeatureExtractor.from_pretrained(encoder_dir)
    corpus = datasets.load_from_disk(corpus_dir)
    features = {}
    for split in ("train", *splits):
        waves = [load_audio(clip) for clip in corpus[split]["audio"]]
        order = sorted(range(len(waves)), key=lambda i: len(waves[i]))  # little padding per batch
        out = np.zeros((len(waves), model.config.hidden_size), dtype=np.float32)
        with torch.no_grad():
            for idx, values, mask in encoder_batches(extractor, waves, order, 32):
                out[idx] = pooled(model, values, mask).numpy()
        features[split] = (out, np.asarray(corpus[split]["label"]), corpus[split]["speaker"])
    n = len(read_metadata(corpus_dir)["labels"])
    result = {split: probe_uar(*features["train"][:2], *features[split][:2], n) for split in splits}
    if per_speaker:
        voiced = {s: (per_speaker_standardized(x, spk), y) for s, (x, y, spk) in features.items()}
        result["per_voice"] = {split: probe_uar(*voiced["train"], *voiced[split], n) for split in splits}
    return result

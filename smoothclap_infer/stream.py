"""Decoding, resampling and length-batching in DataLoader workers, with flat memory.

`ClipStream` is an IterableDataset over a run's pending items. The items are cut into
fixed chunks of consecutive clips (chunk j goes to worker j mod num_workers); a worker
decodes a chunk's clips (stopping early once it holds ``chunk_seconds`` of audio), cuts
them into windows when asked, sorts the segments by length and yields batches of similar
length (little padding). At most num_workers x (prefetch + 1) chunks are in memory at any
time, whatever the corpus size. A clip that cannot be decoded, or is too short for the
encoder, comes back as an error record instead of stopping the run.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass, field

import torch


@dataclass
class Batch:
    """Segments of similar length, ready for the audio encoder, plus the errors met while
    decoding. ``segments``: (item index, start s, end s, windows of its clip, clip duration s)."""
    waves: list = field(default_factory=list)
    segments: list = field(default_factory=list)
    errors: list = field(default_factory=list)  # [(item index, reason)]


def quiet_worker(_worker_id: int) -> None:
    """DataLoader workers leave SIGINT/SIGTERM to the main process, which stops after the
    batch it is on and flushes (a worker dying of the signal would make PyTorch raise in the
    main process instead; see NOTES, signals). One thread each: the encoder has the cores."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    torch.set_num_threads(1)


def decode(item, splits, rate: int):
    """One item as float32 mono at ``rate`` (audio_smoothclap.load_audio: any soundfile format,
    downmixed, resampled; ValueError with the reason otherwise)."""
    from audio_smoothclap import load_audio

    if isinstance(item.source, tuple):  # a dataset row: Audio's {"bytes", "path"} layout
        split, row = item.source
        return load_audio(splits[split][row]["audio"], None, rate)
    return load_audio(item.source, None, rate)


def _reason(err: Exception) -> str:
    return str(err) if isinstance(err, ValueError) else f"{type(err).__name__}: {err}"


class ClipStream(torch.utils.data.IterableDataset):
    """Batches of segments of ``entries`` ([(item index, Item)], in order)."""

    def __init__(self, entries, splits, rate: int, min_samples: int, batch_size: int, window: float | None = None,
                 hop: float | None = None, chunk_clips: int = 256, chunk_seconds: float = 1200.0):
        self.entries, self.splits, self.rate, self.min_samples = entries, splits, int(rate), int(min_samples)
        self.batch_size = max(1, int(batch_size))
        self.window = None if window is None else int(round(window * rate))
        self.hop = None if hop is None else int(round(hop * rate))
        self.chunk_clips = max(self.batch_size, int(chunk_clips))
        self.chunk_samples = int(chunk_seconds * rate)

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        worker, workers = (0, 1) if info is None else (info.id, info.num_workers)
        for c, start in enumerate(range(0, len(self.entries), self.chunk_clips)):
            if c % workers == worker:
                yield from self._chunk(self.entries[start:start + self.chunk_clips])

    def _chunk(self, entries):
        segments, waves, errors, held = [], [], [], 0
        for index, item in entries:
            try:
                wave = decode(item, self.splits, self.rate)
                if len(wave) < self.min_samples:
                    raise ValueError(self._too_short(len(wave)))
            except Exception as err:  # any decoding problem: report the clip, go on
                errors.append((index, _reason(err)))
                continue
            held += self._cut(index, wave, segments, waves)
            if held >= self.chunk_samples:  # bounded memory: flush what this chunk holds so far
                yield from self._batches(segments, waves, errors)
                segments, waves, errors, held = [], [], [], 0
        yield from self._batches(segments, waves, errors)

    def _too_short(self, n: int) -> str:
        ms, need = 1000 * n / self.rate, 1000 * self.min_samples / self.rate
        return (f"too short for the audio encoder: {n} samples ({ms:.1f} ms at {self.rate} Hz), it needs at least "
                f"{self.min_samples} ({need:.0f} ms)")

    def _cut(self, index, wave, segments, waves) -> int:
        from pipeline_smoothclap import window_bounds

        bounds = window_bounds(len(wave), self.window, self.hop)
        duration = len(wave) / self.rate
        for start, end in bounds:
            segments.append((index, start / self.rate, end / self.rate, len(bounds), duration))
            waves.append(wave[start:end])
        return len(wave)

    def _batches(self, segments, waves, errors):
        if errors:
            yield Batch(errors=list(errors))
        order = sorted(range(len(waves)), key=lambda j: (-len(waves[j]), j))  # longest first: OOM shows at once
        for start in range(0, len(order), self.batch_size):
            take = order[start:start + self.batch_size]
            yield Batch(waves=[waves[j] for j in take], segments=[segments[j] for j in take])


def loader(stream: ClipStream, num_workers: int) -> torch.utils.data.DataLoader:
    """The stream's batches as they come (batch_size=None: the stream batches by length)."""
    extra = dict(worker_init_fn=quiet_worker, prefetch_factor=2, persistent_workers=False) if num_workers else {}
    return torch.utils.data.DataLoader(stream, batch_size=None, num_workers=num_workers,
                                       collate_fn=_as_is, **extra)


def _as_is(batch):
    return batch  # module level: picklable for spawned workers

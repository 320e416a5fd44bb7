"""Decoding, resampling and length-batching in DataLoader workers, with flat memory.

`ClipStream` is an IterableDataset over a run's pending items. The items are cut into
fixed chunks of consecutive clips (chunk j goes to worker j mod num_workers); a worker
orders a chunk's clips by length from their headers (soundfile.info, or a dataset's
duration column: no decoding), then decodes them in that order, cuts them into windows when
asked, and yields batches of similar length (little padding) as soon as each is full. In
memory: a few batches per worker (DataLoader's prefetch), whatever the corpus size. A clip
that cannot be decoded, or is too short for the encoder, comes back as an error record
instead of stopping the run.
"""

from __future__ import annotations

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
    from smoothclap.processes import ignore_stop_signals

    ignore_stop_signals()  # and die with the main process, should it be killed with SIGKILL
    torch.set_num_threads(1)


def decode(item, splits, rate: int):
    """One item as float32 mono at ``rate`` (audio_smoothclap.load_audio: any soundfile format,
    downmixed, resampled; ValueError with the reason otherwise)."""
    from smoothclap.models.audio_smoothclap import load_audio

    if isinstance(item.source, tuple):  # a dataset row: Audio's {"bytes", "path"} layout
        split, row = item.source
        return load_audio(splits[split][row]["audio"], None, rate)
    return load_audio(item.source, None, rate)


def _reason(err: Exception) -> str:
    return str(err) if isinstance(err, ValueError) else f"{type(err).__name__}: {err}"


class ClipStream(torch.utils.data.IterableDataset):
    """Batches of segments of ``entries`` ([(item index, Item)], in order)."""

    def __init__(self, entries, splits, rate: int, min_samples: int, batch_size: int, window: float | None = None,
                 hop: float | None = None, chunk_clips: int = 256):
        self.entries, self.splits, self.rate, self.min_samples = entries, splits, int(rate), int(min_samples)
        self.batch_size = max(1, int(batch_size))
        self.window = None if window is None else int(round(window * rate))
        self.hop = None if hop is None else int(round(hop * rate))
        self.chunk_clips = max(self.batch_size, int(chunk_clips))
        self._durations: dict = {}

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        worker, workers = (0, 1) if info is None else (info.id, info.num_workers)
        for c, start in enumerate(range(0, len(self.entries), self.chunk_clips)):
            if c % workers == worker:
                yield from self._chunk(self.entries[start:start + self.chunk_clips])

    def _duration(self, item) -> float:
        """Seconds from the file's header or the dataset's duration column (no decoding); 0 when
        unknown (the clip then sorts last and fails, or not, when it is decoded)."""
        try:
            if isinstance(item.source, tuple):
                split, row = item.source
                if split not in self._durations:
                    ds = self.splits[split]
                    self._durations[split] = ds["duration"] if "duration" in ds.column_names else None
                column = self._durations[split]
                return 0.0 if column is None else float(column[row])
            import soundfile

            header = soundfile.info(item.source)
            return header.frames / header.samplerate
        except Exception:
            return 0.0

    def _chunk(self, entries):
        """The chunk's clips longest first (by header: little padding per batch), decoded one
        batch at a time, so that decoding overlaps the encoder's work on the previous batches."""
        order = sorted(entries, key=lambda e: (-self._duration(e[1]), e[0]))
        segments, waves = [], []
        for index, item in order:
            try:
                wave = decode(item, self.splits, self.rate)
                if len(wave) < self.min_samples:
                    raise ValueError(self._too_short(len(wave)))
            except Exception as err:  # any decoding problem: report the clip, go on
                yield Batch(errors=[(index, _reason(err))])
                continue
            self._cut(index, wave, segments, waves)
            while len(waves) >= self.batch_size:
                yield Batch(waves=waves[:self.batch_size], segments=segments[:self.batch_size])
                segments, waves = segments[self.batch_size:], waves[self.batch_size:]
        if waves:
            yield Batch(waves=waves, segments=segments)

    def _too_short(self, n: int) -> str:
        ms, need = 1000 * n / self.rate, 1000 * self.min_samples / self.rate
        return (f"too short for the audio encoder: {n} samples ({ms:.1f} ms at {self.rate} Hz), it needs at least "
                f"{self.min_samples} ({need:.0f} ms)")

    def _cut(self, index, wave, segments, waves) -> None:
        from smoothclap.models.pipeline_smoothclap import window_bounds

        bounds = window_bounds(len(wave), self.window, self.hop)
        duration = len(wave) / self.rate
        for start, end in bounds:
            segments.append((index, start / self.rate, end / self.rate, len(bounds), duration))
            waves.append(wave[start:end])


def loader(stream: ClipStream, num_workers: int) -> torch.utils.data.DataLoader:
    """The stream's batches as they come (batch_size=None: the stream batches by length)."""
    extra = dict(worker_init_fn=quiet_worker, prefetch_factor=2, persistent_workers=False) if num_workers else {}
    return torch.utils.data.DataLoader(stream, batch_size=None, num_workers=num_workers,
                                       collate_fn=_as_is, **extra)


def _as_is(batch):
    return batch  # module level: picklable for spawned workers

"""RAVDESS speech (Livingstone & Russo, 2018): 1440 audio-only speech files, 24 actors.

Expected layout (the Zenodo `Audio_Speech_Actors_01-24.zip`, data_dir = its root)::

    Actor_01/03-01-01-01-01-01-01.wav
    ...
    Actor_24/03-01-08-02-02-02-24.wav

File names are seven two-digit fields: modality (01 full AV, 02 video-only, 03 audio-only)
- vocal channel (01 speech, 02 song) - emotion - intensity (01 normal, 02 strong) -
statement - repetition - actor. Only audio-only speech (03-01-...) is kept; song and
video files that sit in the same tree are dropped and counted. Emotion codes: 01 neutral,
02 calm, 03 happy, 04 sad, 05 angry, 06 fearful, 07 disgust, 08 surprised.
Actor: odd = male, even = female; speaker = 'Actor_XX'. No official split: every clip is in
'all' unless `split=speaker:80/10/10` (actor-disjoint, seeded by `split_seed`, stratified by
label) or `split_file=PATH` asks for splits (split_options.py).
"""

from __future__ import annotations

import pathlib
import re
from typing import Iterator

from . import scanning, split_options
from .corpus import CorpusConfig

NAME = "ravdess"

OPTIONS = dict(split_options.OPTIONS)  # no official split: split=speaker:... or split_file=...

_LABELS = ["neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised"]
_ADJECTIVES = ["neutral", "calm", "happy", "sad", "angry", "fearful", "disgusted", "surprised"]

CONFIGS = {
    "default": CorpusConfig(
        labels=_LABELS,
        # The reference evaluation (evaluate_ravdess.py) uses the bare words.
        query_texts=list(_LABELS),
        description="RAVDESS audio-only speech: 24 actors, 8 emotions, 1440 files.",
        citation="""@article{livingstone2018ravdess,
  title={The Ryerson Audio-Visual Database of Emotional Speech and Song (RAVDESS): A dynamic,
         multimodal set of facial and vocal expressions in North American English},
  author={Livingstone, Steven R and Russo, Frank A},
  journal={PLoS ONE}, volume={13}, number={5}, pages={e0196391}, year={2018}
}""",
        homepage="https://zenodo.org/record/1188976",
        license="CC BY-NC-SA 4.0",
        needs_data_dir=True,
    ),
}

_CODES = scanning.CodeTable(
    NAME,
    classes={f"{i:02d}": (label, adj)
             for i, (label, adj) in enumerate(zip(_LABELS, _ADJECTIVES), start=1)},
    excluded={"song": "song file (vocal channel 02)",
              "video": "video file (modality 01/02), not audio-only"},
)

_NAME = re.compile(r"^(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)$")


def _candidates(root: pathlib.Path) -> Iterator[scanning.Candidate]:
    media = scanning.audio_files(root, extensions=(".wav", ".mp4"))
    for path in media:
        rec = scanning.base_record(path.stem, path)
        fields = _NAME.match(path.stem)
        if fields is None:
            yield scanning.Candidate(rec, None, problem="file name is not MM-VV-EE-II-SS-RR-AA")
            continue
        modality, channel, emotion, _, _, _, actor = fields.groups()
        rec["speaker"] = f"Actor_{actor}"
        rec["gender"] = "male" if int(actor) % 2 else "female"
        if modality != "03" or path.suffix.lower() == ".mp4":
            code = "video"
        elif channel == "02":
            code = "song"
        else:
            code = emotion if channel == "01" else f"vocal channel {channel}"
        yield scanning.Candidate(rec, code)


def scan(data_dir: pathlib.Path | None, config_name: str, options: dict) -> Iterator[dict]:
    """Yield one Record per RAVDESS audio-only speech file."""
    root = scanning.require_dir(data_dir, NAME)
    records = _CODES.records(_candidates(root), options, where=root)
    yield from split_options.split_records(records, options, root, NAME)

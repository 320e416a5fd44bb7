"""TESS, Toronto emotional speech set (Pichora-Fuller & Dupuis): 2800 clips, 2 speakers.

Expected layout (the University of Toronto / Kaggle release; data_dir = the folder holding
the 14 speaker_emotion folders, or any folder above it)::

    OAF_angry/OAF_back_angry.wav
    OAF_Fear/OAF_back_fear.wav
    OAF_Pleasant_surprise/OAF_back_ps.wav
    YAF_pleasant_surprised/YAF_back_ps.wav
    ...

A flat folder of the same files (the reference's `data/`) works too. The class is read from
the file name's last part(s) (`OAF_back_ps` -> ps), like the reference loader, with case
and spelling variants normalised (Fear/fear, ps/pleasant_surprise(d), sad/sadness, ...);
when the file name carries no recognised emotion, the folder name (`YAF_pleasant_surprised`)
is used. Speakers OAF (older) and YAF (younger), both female. No official split: every
clip is in 'all' unless `split_file=PATH` (clip ids per split) or `split=speaker:...` asks
for splits; with two speakers, a speaker split has two splits at most (`split=speaker:50/0/50`
or `speaker:50/50`), see split_options.py.

Some downloads contain the whole tree twice (a nested copy); later copies of a file name
are dropped and counted as duplicates.
"""

from __future__ import annotations

import pathlib
from typing import Iterator

from . import scanning, split_options
from .corpus import CorpusConfig

NAME = "tess"

OPTIONS = dict(split_options.OPTIONS)  # no official split: split=speaker:... or split_file=... (2 speakers)

# Reference order and texts (ParaCLAP Data/tess.py emo_list).
_LABELS = ["neutral", "happy", "sad", "angry", "fear", "disgust", "pleasant_surprise"]
_TEXTS = ["neutral", "happy", "sadness", "angry", "fear", "disgust", "pleasant surprise"]

CONFIGS = {
    "default": CorpusConfig(
        labels=_LABELS,
        # The reference evaluation (evaluate_tess.py) uses these bare words.
        query_texts=_TEXTS,
        description="TESS: 200 target words spoken by two female actors (OAF, YAF) in "
                    "7 emotions, 2800 clips.",
        citation="""@misc{pichorafuller2020tess,
  title={Toronto emotional speech set (TESS)},
  author={Pichora-Fuller, M. Kathleen and Dupuis, Kate},
  publisher={Borealis (Scholars Portal Dataverse)}, year={2020}, doi={10.5683/SP2/E8H2MF}
}""",
        homepage="https://doi.org/10.5683/SP2/E8H2MF",
        license="Creative Commons non-commercial licence; see the Borealis (Scholars Portal "
                "Dataverse) record",
        needs_data_dir=True,
    ),
}

# Spelling variants of the class part of TESS file and folder names.
_VARIANTS = {
    "neutral": "neutral", "happy": "happy", "happiness": "happy",
    "sad": "sad", "sadness": "sad", "angry": "angry", "anger": "angry",
    "fear": "fear", "fearful": "fear", "disgust": "disgust", "disgusted": "disgust",
    "ps": "pleasant_surprise", "pleasant_surprise": "pleasant_surprise",
    "pleasant_surprised": "pleasant_surprise", "pleasantsurprise": "pleasant_surprise",
    "surprise": "pleasant_surprise", "surprised": "pleasant_surprise",
}
_CODES = scanning.CodeTable(
    NAME,
    classes={variant: (label, scanning.emotion_adjective(label))
             for variant, label in _VARIANTS.items()},
)
_SPEAKERS = {"OAF", "YAF"}


def _emotion_part(name: str, skip: int) -> str:
    """'OAF_back_ps' (skip 2) -> 'ps'; 'YAF_pleasant_surprised' (skip 1) -> that tail."""
    parts = name.replace(" ", "_").split("_")
    return "_".join(parts[skip:]).lower()


def _candidates(root: pathlib.Path) -> Iterator[scanning.Candidate]:
    for path in scanning.audio_files(root, extensions=(".wav",)):
        speaker = path.stem.split("_")[0].upper()
        rec = scanning.base_record(path.stem, path, speaker=speaker,
                                  gender="female" if speaker in _SPEAKERS else None)
        code = _emotion_part(path.stem, 2)
        if code not in _VARIANTS:
            from_folder = _emotion_part(path.parent.name, 1)
            code = from_folder if from_folder in _VARIANTS else code
        yield scanning.Candidate(rec, code)


def scan(data_dir: pathlib.Path | None, config_name: str, options: dict) -> Iterator[dict]:
    """Yield one Record per TESS clip."""
    root = scanning.require_dir(data_dir, NAME)
    records = _CODES.records(_candidates(root), options, where=root)
    yield from split_options.split_records(records, options, root, NAME)

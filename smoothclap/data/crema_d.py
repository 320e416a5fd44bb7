"""CREMA-D (Cao et al., 2014): 7442 clips, 91 actors, 6 emotions.

Expected layout (the GitHub/LFS repository CheyneyComputerScience/CREMA-D; data_dir =
its root, or the AudioWAV folder itself)::

    AudioWAV/1001_DFA_ANG_XX.wav       actor _ sentence _ emotion _ level
    VideoDemographics.csv              ActorID,Age,Sex,Race,Ethnicity (optional)

Emotion codes ANG, DIS, FEA, HAP, NEU, SAD; level LO/MD/HI/XX is ignored.
Speaker = the actor id ('1001'); gender from VideoDemographics.csv (Sex Male/Female) when
the file exists (or `demographics_file=PATH` points at it), else None. No official split:
every clip is in 'all' unless `split=speaker:80/10/10` (actor-disjoint, seeded by
`split_seed`, stratified by label) or `split_file=PATH` asks for splits (split_options.py).
"""

from __future__ import annotations

import csv
import pathlib
import re
from typing import Iterator

from . import scanning, split_options
from .corpus import CorpusConfig, CorpusError

NAME = "crema_d"

OPTIONS = {
    "demographics_file": "VideoDemographics.csv at another path (gender per actor)",
    **split_options.OPTIONS,  # no official split: split=speaker:... or split_file=...
}

# Reference order (ParaCLAP Data/cremad.py): SAD, ANG, DIS, FEA, HAP, NEU.
_CLASSES = {"SAD": ("sad", "sad"), "ANG": ("angry", "angry"),
            "DIS": ("disgust", "disgusted"), "FEA": ("fear", "fearful"),
            "HAP": ("happy", "happy"), "NEU": ("neutral", "neutral")}
_LABELS = [label for label, _ in _CLASSES.values()]

CONFIGS = {
    "default": CorpusConfig(
        labels=_LABELS,
        # The reference evaluation (evaluate_cremad.py) uses the bare words.
        query_texts=list(_LABELS),
        description="CREMA-D audio: 91 actors, 12 sentences, 6 emotions, 7442 clips.",
        citation="""@article{cao2014crema,
  title={CREMA-D: Crowd-sourced Emotional Multimodal Actors Dataset},
  author={Cao, Houwei and Cooper, David G and Keutmann, Michael K and Gur, Ruben C and
          Nenkova, Ani and Verma, Ragini},
  journal={IEEE Transactions on Affective Computing},
  volume={5}, number={4}, pages={377--390}, year={2014}
}""",
        homepage="https://github.com/CheyneyComputerScience/CREMA-D",
        license="Open Database License (ODbL) v1.0; contents under DbCL v1.0",
        needs_data_dir=True,
    ),
}

_CODES = scanning.CodeTable(NAME, classes=_CLASSES)
_NAME = re.compile(r"^(?P<actor>\d+)_(?P<sentence>[A-Za-z]+)_(?P<emotion>[A-Za-z]+)_"
                   r"(?P<level>[A-Za-z]+)$")


def _audio_dir(data_dir: pathlib.Path) -> pathlib.Path:
    if (data_dir / "AudioWAV").is_dir():
        return data_dir / "AudioWAV"
    if data_dir.name == "AudioWAV" or scanning.audio_files(data_dir, recursive=False):
        return data_dir
    raise CorpusError(f"{NAME}: expected directory {data_dir / 'AudioWAV'} does not exist")


def _genders(data_dir: pathlib.Path, audio_dir: pathlib.Path, options: dict) -> dict[str, str]:
    """ActorID -> 'male'/'female' from VideoDemographics.csv; {} when there is none."""
    path = scanning.find_file(data_dir, ("VideoDemographics.csv", audio_dir.parent / "VideoDemographics.csv"), NAME,
                              override=options.get("demographics_file"), kind="demographics file", required=False)
    if path is None:
        return {}
    with open(path, newline="", encoding="utf-8-sig") as handle:
        rows = list(csv.DictReader(handle))
    if rows and not {"ActorID", "Sex"} <= set(rows[0]):
        raise CorpusError(f"{NAME}: {path} needs columns ActorID and Sex, has {list(rows[0])}")
    sex = {"male": "male", "female": "female", "m": "male", "f": "female"}
    return {row["ActorID"].strip(): sex[row["Sex"].strip().lower()]
            for row in rows if row["Sex"].strip().lower() in sex}


def _candidates(audio_dir: pathlib.Path, genders: dict[str, str]) -> Iterator[scanning.Candidate]:
    for path in scanning.audio_files(audio_dir, extensions=(".wav",), recursive=False):
        rec = scanning.base_record(path.stem, path)
        fields = _NAME.match(path.stem)
        if fields is None:
            yield scanning.Candidate(rec, None, problem="file name is not ACTOR_SEN_EMO_LVL")
            continue
        rec["speaker"] = fields["actor"]
        rec["gender"] = genders.get(fields["actor"])
        yield scanning.Candidate(rec, fields["emotion"])


def scan(data_dir: pathlib.Path | None, config_name: str, options: dict) -> Iterator[dict]:
    """Yield one Record per CREMA-D clip in AudioWAV/."""
    data_dir = scanning.require_dir(data_dir, NAME)
    audio_dir = _audio_dir(data_dir)
    genders = _genders(data_dir, audio_dir, options)
    records = _CODES.records(_candidates(audio_dir, genders), options, where=audio_dir)
    yield from split_options.split_records(records, options, data_dir, NAME)

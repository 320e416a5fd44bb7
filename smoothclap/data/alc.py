"""ALC, Alcohol Language Corpus, as selected for the INTERSPEECH 2011 Speaker State
Challenge (Intoxication Sub-Challenge): 2 classes, AL (intoxicated, BAC > 0.05 %) and NAL.

Expected layout (data_dir = the challenge distribution root; the table and folder names
are those the reference evaluation reads, ParaCLAP Data/compare.py)::

    ALC.csv                 comma-separated, header row, columns `file` (no extension,
                            partition prefix: TR_..., DE_..., TE_...) and
                            `challenge_class` (AL / NAL); other columns are ignored
    DIST/TRAIN/<file>.wav
    DIST/DEVEL/<file>.wav
    DIST/TEST/<file>.wav    (the reference evaluates on TE_ files from DIST/TEST)

Verified from the reference code: ALC.csv, its `file`/`challenge_class` columns, the TE
prefix and DIST/TEST/<file>.wav. Assumed: the TR/DE prefixes and DIST/TRAIN, DIST/DEVEL
folders (any wav with the same file name elsewhere under data_dir is found as well).

Other copies: pass `labels_file=PATH`, a CSV (',' ';' or tab) with a header and columns
`file` and `label` (AL/NAL or the label names), optionally `speaker`, `split`
(train/devel/test) and `gender`. Audio is looked up as above or anywhere under data_dir by
file name. Speaker and gender are None unless the table has those columns.
"""

from __future__ import annotations

import pathlib
from typing import Iterator

from . import scanning
from .corpus import CorpusConfig

NAME = "alc"

OPTIONS = {
    "labels_file": "a label table to read instead of ALC.csv (CSV with file,label[,speaker][,split][,gender])",
}

_LABELS = ["intoxicated", "not_intoxicated"]

CONFIGS = {
    "default": CorpusConfig(
        labels=_LABELS,
        query_texts=["intoxicated with alcohol", "not intoxicated with alcohol"],
        description="Alcohol Language Corpus, INTERSPEECH 2011 Intoxication Sub-Challenge "
                    "selection (German): intoxicated (AL) vs not intoxicated (NAL).",
        citation="""@article{schiel2012alcohol,
  title={Alcohol Language Corpus: the first public corpus of alcoholized German speech},
  author={Schiel, Florian and Heinrich, Christian and Barf{\\"u}sser, Sabine},
  journal={Language Resources and Evaluation}, volume={46}, pages={503--521}, year={2012}
}
@inproceedings{schuller2011speakerstate,
  title={The INTERSPEECH 2011 Speaker State Challenge},
  author={Schuller, Bj{\\"o}rn and Batliner, Anton and Steidl, Stefan and Schiel, Florian
          and Krajewski, Jarek},
  booktitle={Proc. INTERSPEECH}, pages={3201--3204}, year={2011}
}""",
        homepage="https://www.bas.uni-muenchen.de/forschung/Bas/BasALCeng.html",
        license="BAS / challenge licence agreement (academic research use)",
        needs_data_dir=True,
    ),
}

_CODES = scanning.CodeTable(NAME, classes={
    "AL": ("intoxicated", None), "NAL": ("not_intoxicated", None),
    "intoxicated": ("intoxicated", None), "not_intoxicated": ("not_intoxicated", None),
    "not intoxicated": ("not_intoxicated", None)})
_DIST = {"train": "TRAIN", "validation": "DEVEL", "test": "TEST"}


def _audio_for(data_dir: pathlib.Path, rid: str, split: str) -> pathlib.Path:
    if split in _DIST:
        return data_dir / "DIST" / _DIST[split] / f"{rid}.wav"
    return data_dir / "wav" / f"{rid}.wav"


def scan(data_dir: pathlib.Path | None, config_name: str, options: dict) -> Iterator[dict]:
    """Yield one Record per row of the ALC label table."""
    yield from scanning.label_table_records(
        data_dir, options, corpus=NAME, codes=_CODES,
        tables=["ALC.csv", "lab/ALC.csv", "labels/ALC.csv"],
        label_columns=["challenge_class", "label", "class"], audio_for=_audio_for)

"""SLD, Speaker Likability Database (a subset of the aGender telephone-speech corpus), as
used in the INTERSPEECH 2012 Speaker Trait Challenge (Likability Sub-Challenge): 2 classes,
L (likeable) and NL (not likeable).

Expected layout (data_dir = the challenge distribution root; the table and folder names
are those the reference evaluation reads, ParaCLAP Data/compare.py)::

    LSC_final_geheim.csv    ';'-separated, header row, columns `file` (with extension,
                            partition prefix: train_..., devel_..., test_...) and
                            `likability` (L / NL); other columns are ignored
    wav/<file>              e.g. wav/test_0001.wav

Verified from the reference code: the table name, ';' separator, `file` and `likability`
columns, the `test` prefix and wav/<file>. Assumed: the train/devel prefixes (any wav with
the same file name elsewhere under data_dir is found as well).

Other copies: pass `labels_file=PATH`, a CSV (',' ';' or tab) with a header and columns
`file` and `label` (L/NL or the label names), optionally `speaker`, `split`
(train/devel/test) and `gender`. Speaker and gender are None unless the table has them.
"""

from __future__ import annotations

import pathlib
from typing import Iterator

from . import scanning
from .corpus import CorpusConfig

NAME = "sld"

OPTIONS = {
    "labels_file": "a label table to read instead of LSC_final_geheim.csv (CSV with file,label[,speaker][,split][,gender])",
}

CONFIGS = {
    "default": CorpusConfig(
        labels=["likeable", "not_likeable"],
        query_texts=["likeable", "not likeable"],
        description="Speaker Likability Database, INTERSPEECH 2012 Speaker Trait Challenge "
                    "(German telephone speech): likeable (L) vs not likeable (NL).",
        citation="""@inproceedings{burkhardt2010agender,
  title={A database of age and gender annotated telephone speech},
  author={Burkhardt, Felix and Eckert, Martin and Johannsen, Wiebke and Stegmann, Joachim},
  booktitle={Proc. LREC}, address={Malta}, year={2010}
}
@inproceedings{schuller2012speakertrait,
  title={The INTERSPEECH 2012 Speaker Trait Challenge},
  author={Schuller, Bj{\\"o}rn and Steidl, Stefan and Batliner, Anton and N{\\"o}th, Elmar
          and Vinciarelli, Alessandro and Burkhardt, Felix and van Son, Rob and
          Weninger, Felix and Eyben, Florian and Bocklet, Tobias and Mohammadi, Gelareh
          and Weiss, Benjamin},
  booktitle={Proc. INTERSPEECH}, year={2012}
}""",
        homepage="https://www.isca-archive.org/interspeech_2012/",
        license="Speaker Trait Challenge licence agreement (research use only)",
        needs_data_dir=True,
    ),
}

_CODES = scanning.CodeTable(NAME, classes={
    "L": ("likeable", None), "NL": ("not_likeable", None),
    "likeable": ("likeable", None), "likable": ("likeable", None),
    "not_likeable": ("not_likeable", None), "not likeable": ("not_likeable", None)})


def _audio_for(data_dir: pathlib.Path, rid: str, split: str) -> pathlib.Path:
    return data_dir / "wav" / f"{rid}.wav"


def scan(data_dir: pathlib.Path | None, config_name: str, options: dict) -> Iterator[dict]:
    """Yield one Record per row of the SLD label table."""
    yield from scanning.label_table_records(
        data_dir, options, corpus=NAME, codes=_CODES,
        tables=["LSC_final_geheim.csv", "lab/LSC_final_geheim.csv",
                "labels/LSC_final_geheim.csv"],
        label_columns=["likability", "label", "class"], audio_for=_audio_for)

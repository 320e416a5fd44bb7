"""FAU Aibo Emotion Corpus, INTERSPEECH 2009 Emotion Challenge release.

Expected layout (data_dir = the release root, e.g. `IS2009EmotionChallenge/`)::

    labels/IS2009EmotionChallenge/chunk_labels_5cl_corpus.txt
    labels/IS2009EmotionChallenge/chunk_labels_2cl_corpus.txt
    wav/Ohm_01_001_00.wav
    ...

Label files: one chunk per line, whitespace-separated `chunk class confidence`, e.g.
`Ohm_01_001_00 A 1.0000` (5 classes A angry, E emphatic, N neutral, P positive, R rest)
or `Ohm_01_001_00 IDL 1.0000` (2 classes IDL non-negative, NEG negative). The label file
is also found directly under `labels/` or data_dir; `labels_file=PATH` points at any other
file of the same format, `audio_dir=PATH` at a different wav folder.

Split from the school: Ohm -> train (9959 chunks), Mont -> test (8257 chunks; the
reference evaluates on these). Speaker = school + child ('Ohm_01'); gender is not part of
the challenge labels (None).

Emotion adjective for captions: A -> angry, N -> neutral; E (emphatic, a speaking style),
P (motherese/joyful) and R (rest, a mixture) have no adjective in the training vocabulary
and get None, as do both 2-class labels.
"""

from __future__ import annotations

import pathlib
from typing import Iterator

from . import scanning
from .corpus import CorpusConfig, CorpusError

NAME = "fau_aibo"

OPTIONS = {
    "labels_file": "a label file in the challenge format to read instead of chunk_labels_{5cl,2cl}_corpus.txt",
    "audio_dir": "the folder holding the chunk wav files (default: DATA_DIR/wav)",
}

_CITATION = """@inproceedings{batliner2008releasing,
  title={Releasing a thoroughly annotated and processed spontaneous emotional database:
         the FAU Aibo Emotion Corpus},
  author={Batliner, Anton and Steidl, Stefan and N{\\"o}th, Elmar},
  booktitle={Proc. LREC Workshop on Corpora for Research on Emotion and Affect}, year={2008}
}
@inproceedings{schuller2009interspeech,
  title={The INTERSPEECH 2009 Emotion Challenge},
  author={Schuller, Bj{\\"o}rn and Steidl, Stefan and Batliner, Anton},
  booktitle={Proc. INTERSPEECH}, pages={312--315}, year={2009}
}"""
_HOMEPAGE = "https://www5.cs.fau.de/de/mitarbeiter/steidl-stefan/fau-aibo-emotion-corpus/"
_LICENSE = "FAU Aibo Emotion Corpus licence agreement (non-commercial research use)"

CONFIGS = {
    "5class": CorpusConfig(
        labels=["angry", "emphatic", "neutral", "positive", "rest"],
        # Reference evaluation texts (ParaCLAP Data/aibo.py emo_list, bare words): the
        # positive class (motherese + joyful) is queried as "motherese".
        query_texts=["angry", "emphatic", "neutral", "motherese", "rest"],
        description="FAU Aibo (IS2009 Emotion Challenge), German children's speech, "
                    "5 classes; Ohm school = train, Mont school = test.",
        citation=_CITATION, homepage=_HOMEPAGE, license=_LICENSE, needs_data_dir=True,
    ),
    "2class": CorpusConfig(
        labels=["non-negative", "negative"],
        query_texts=["non-negative", "negative"],
        description="FAU Aibo (IS2009 Emotion Challenge), German children's speech, "
                    "2 classes (IDL non-negative, NEG negative); Ohm = train, Mont = test.",
        citation=_CITATION, homepage=_HOMEPAGE, license=_LICENSE, needs_data_dir=True,
    ),
}

_TABLES = {
    "5class": ("chunk_labels_5cl_corpus.txt", scanning.CodeTable(NAME, classes={
        "A": ("angry", "angry"), "E": ("emphatic", None), "N": ("neutral", "neutral"),
        "P": ("positive", None), "R": ("rest", None)}, case_sensitive=True)),
    "2class": ("chunk_labels_2cl_corpus.txt", scanning.CodeTable(NAME, classes={
        "IDL": ("non-negative", None), "NEG": ("negative", None)}, case_sensitive=True)),
}
_SCHOOLS = {"Ohm": "train", "Mont": "test"}


def _candidates(rows: list[scanning.TableRow], index: scanning.AudioIndex,
                audio_dir: pathlib.Path) -> Iterator[scanning.Candidate]:
    for row in rows:
        chunk, code = row.fields["0"], row.fields["1"]
        parts = chunk.split("_")
        rec = scanning.base_record(chunk, index.resolve(audio_dir / f"{chunk}.wav"),
                                  split=_SCHOOLS.get(parts[0]),
                                  speaker="_".join(parts[:2]) if len(parts) > 2 else None)
        rec["_raw_split"] = parts[0]
        yield scanning.Candidate(rec, code)


def scan(data_dir: pathlib.Path | None, config_name: str, options: dict) -> Iterator[dict]:
    """Yield one Record per chunk of the chosen label file."""
    if config_name not in _TABLES:
        raise CorpusError(f"{NAME}: unknown config {config_name!r}; use one of {list(_TABLES)}")
    filename, codes = _TABLES[config_name]
    data_dir = scanning.require_dir(data_dir, NAME)
    label_file = scanning.find_file(
        data_dir, [f"labels/IS2009EmotionChallenge/{filename}", f"labels/{filename}", filename],
        NAME, override=options.get("labels_file"))
    audio_dir = pathlib.Path(options.get("audio_dir") or data_dir / "wav")
    if not audio_dir.is_dir():
        raise CorpusError(f"{NAME}: expected audio directory {audio_dir} does not exist "
                          "(pass audio_dir=PATH for another location)")
    rows = scanning.read_whitespace_table(label_file, 2, NAME)
    records = codes.resolve(_candidates(rows, scanning.AudioIndex(audio_dir), audio_dir),
                            options, where=label_file)
    yield from scanning.unique_ids(
        scanning.check_splits(records, NAME, options, known=_SCHOOLS), options)

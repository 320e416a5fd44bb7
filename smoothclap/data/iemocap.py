"""IEMOCAP (Busso et al., 2008), 4-class selection used by the reference evaluation.

Expected layout (the USC release, `IEMOCAP_full_release/`; data_dir may be that folder,
or a folder containing it or a folder named `IEMOCAP`)::

    Session1/dialog/EmoEvaluation/Ses01F_impro01.txt     one file per dialog
    Session1/sentences/wav/Ses01F_impro01/Ses01F_impro01_F000.wav
    ...
    Session5/...

Each evaluation file holds one summary line per utterance::

    [6.2901 - 8.2357]\tSes01F_impro01_F000\tneu\t[2.5000, 2.5000, 2.5000]

with the majority category and the mean [valence, activation, dominance] ratings (1-5).
Subfolders of EmoEvaluation (Categorical/, Attribute/, Self-evaluation/) hold per-rater
files and are not read.

Classes (reference: 4 classes, 5531 utterances): neutral (neu), happy (hap + exc merged),
angry (ang), sad (sad). Other categories (fru, sur, fea, dis, oth, xxx) are dropped and
counted; any other code is unknown (CorpusError, or dropped with drop_unknown).

Speaker = session + gender of the utterance's own speaker, from the last segment of the
utterance id (Ses01F_impro01_M003 -> Ses01M). Split = the session ('session1' ...
'session5'), so leave-one-session-out folds are a filter on `split`.
"""

from __future__ import annotations

import pathlib
import re
from typing import Iterator

from . import scanning
from .corpus import CorpusConfig, CorpusError

NAME = "iemocap"

OPTIONS: dict[str, str] = {}  # no scanner options

_CITATION = """@article{busso2008iemocap,
  title={IEMOCAP: Interactive emotional dyadic motion capture database},
  author={Busso, Carlos and Bulut, Murtaza and Lee, Chi-Chun and Kazemzadeh, Abe and
          Mower, Emily and Kim, Samuel and Chang, Jeannette N and Lee, Sungbok and
          Narayanan, Shrikanth S},
  journal={Language Resources and Evaluation},
  volume={42}, pages={335--359}, year={2008}
}"""

CONFIGS = {
    "default": CorpusConfig(
        labels=["neutral", "happy", "angry", "sad"],
        # The reference evaluation (ParaCLAP evaluate_iemo.py) wraps these words in
        # "this person is feeling {}." -- the only corpus it does so for.
        query_texts=[f"this person is feeling {w}." for w in
                     ("neutral", "happy", "anger", "sadness")],
        description="IEMOCAP improvised and scripted dyadic sessions, 4 classes "
                    "(neutral, happy+excited, angry, sad); split = session.",
        citation=_CITATION,
        homepage="https://sail.usc.edu/iemocap/",
        license="IEMOCAP release agreement (USC SAIL; research use, no redistribution)",
        needs_data_dir=True,
        rating_scale=(1, 5),  # mean [valence, activation, dominance] of 1-5 ratings
    ),
}

_CODES = scanning.CodeTable(
    NAME,
    classes={"neu": ("neutral", "neutral"), "hap": ("happy", "happy"),
             "exc": ("happy", "happy"), "ang": ("angry", "angry"), "sad": ("sad", "sad")},
    excluded={code: f"category {code!r} is not in the 4-class selection"
              for code in ("fru", "sur", "fea", "dis", "oth", "xxx")},
)

_LINE = re.compile(
    r"^\[\s*[\d.]+\s*-\s*[\d.]+\s*\]\s+(?P<utt>\S+)\s+(?P<code>\S+)\s+\[(?P<vad>[^\]]*)\]")
_UTT = re.compile(r"^(?P<session>Ses\d\d)[FM]_.*_(?P<gender>[FM])\d+$")


def _root(data_dir: pathlib.Path | None) -> pathlib.Path:
    data_dir = scanning.require_dir(data_dir, NAME)
    for root in (data_dir, data_dir / "IEMOCAP_full_release", data_dir / "IEMOCAP"):
        if any(root.glob("Session[1-5]/dialog/EmoEvaluation")):
            return root
    raise CorpusError(f"{NAME}: expected {data_dir / 'Session1' / 'dialog' / 'EmoEvaluation'}"
                      " (Session1..Session5 of IEMOCAP_full_release) does not exist")


def _vad(text: str, utt: str) -> tuple[float, float, float]:
    try:
        valence, arousal, dominance = (float(x) for x in text.split(","))
    except ValueError as err:
        raise CorpusError(f"{NAME}: {utt}: cannot read [V, A, D] from [{text}]") from err
    return valence, arousal, dominance


def _candidates(root: pathlib.Path) -> Iterator[scanning.Candidate]:
    for session_dir in sorted(root.glob("Session[1-5]")):
        split = "session" + session_dir.name[-1]
        eval_dir = session_dir / "dialog" / "EmoEvaluation"
        for txt in sorted(p for p in eval_dir.glob("*.txt") if not p.name.startswith(".")):
            for line in txt.read_text(encoding="utf-8", errors="replace").splitlines():
                match = _LINE.match(line)
                if not match:
                    continue
                utt = match["utt"]
                wav = session_dir / "sentences" / "wav" / txt.stem / f"{utt}.wav"
                rec = scanning.base_record(utt, wav, split=split)
                ids = _UTT.match(utt)
                if ids is None:
                    yield scanning.Candidate(rec, None, problem="unparsable utterance id")
                    continue
                rec["speaker"] = ids["session"] + ids["gender"]
                rec["gender"] = "female" if ids["gender"] == "F" else "male"
                rec["valence"], rec["arousal"], rec["dominance"] = _vad(match["vad"], utt)
                yield scanning.Candidate(rec, match["code"])


def scan(data_dir: pathlib.Path | None, config_name: str, options: dict) -> Iterator[dict]:
    """Yield one Record per IEMOCAP utterance of the 4-class selection."""
    root = _root(data_dir)
    yield from _CODES.records(_candidates(root), options, where=root)

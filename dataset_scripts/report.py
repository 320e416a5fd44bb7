"""What happened to every row of a build: ``BuildReport`` (``build_report.json``).

input rows = built rows + skipped rows, per split, checked before anything is written;
rows a scanner excluded on purpose (MSP-Podcast's X, or O with ``exclude_other``) are
counted as *dropped before input*, with a reason, never silently.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from collections.abc import Mapping
from pathlib import Path

from .corpus import split_sort_key

__all__ = ["REPORT_FILE", "BuildReport", "NullReport"]

REPORT_FILE = "build_report.json"


class BuildReport:
    """What happened to every row of a build.

    * input rows: records the scanner yielded (after its own exclusions),
    * built rows: rows written to the dataset,
    * skipped rows: input rows that could not be used (unreadable, empty, too short
      audio ...), each with id, path, split and reason; ``input == built + skipped``,
    * dropped: rows the scanner excluded *before* input, by reason (e.g. MSP-Podcast's
      no-agreement class X), counted, never silent.

    Scanners count exclusions with ``count_drop(options, reason, n)``.
    """

    def __init__(self, corpus: str = "", config: str = ""):
        self.corpus = corpus
        self.config = config
        self.input: Counter = Counter()
        self.built: Counter = Counter()
        self.skipped: list[dict] = []
        self.dropped: Counter = Counter()
        self.notes: list[str] = []

    # --- used by scanners (through count_drop) and by the builder
    def drop(self, reason: str, n: int = 1) -> None:
        if n:
            self.dropped[str(reason)] += int(n)

    def add_input(self, split: str, n: int = 1) -> None:
        self.input[split] += n

    def add_built(self, split: str, n: int = 1) -> None:
        self.built[split] += n

    def skip(self, id: str, path: str | None, split: str, reason: str) -> None:
        self.skipped.append({"id": id, "path": path, "split": split, "reason": str(reason)})

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    # --- totals
    @property
    def input_rows(self) -> int:
        return sum(self.input.values())

    @property
    def built_rows(self) -> int:
        return sum(self.built.values())

    @property
    def skipped_rows(self) -> int:
        return len(self.skipped)

    @property
    def dropped_rows(self) -> int:
        return sum(self.dropped.values())

    @property
    def consistent(self) -> bool:
        return self.input_rows == self.built_rows + self.skipped_rows

    def check(self) -> None:
        """Raise RuntimeError unless input == built + skipped (overall and per split)."""
        skipped_per_split = Counter(row["split"] for row in self.skipped)
        for split in set(self.input) | set(self.built) | set(skipped_per_split):
            if self.input[split] != self.built[split] + skipped_per_split[split]:
                raise RuntimeError(
                    f"Build report does not add up for split {split!r}: input "
                    f"{self.input[split]} != built {self.built[split]} + skipped "
                    f"{skipped_per_split[split]}."
                )

    def summary(self) -> str:
        lines = [
            f"{self.corpus}/{self.config}: input {self.input_rows} rows = built "
            f"{self.built_rows} + skipped {self.skipped_rows}"
            + (" (checked)" if self.consistent else " (DOES NOT ADD UP)")
            + (f"; dropped before input: {self.dropped_rows}" if self.dropped else "")
        ]
        skipped_per_split = Counter(row["split"] for row in self.skipped)
        for split in sorted(set(self.input) | set(self.built), key=split_sort_key):
            lines.append(
                f"  {split}: {self.built[split]} built, {skipped_per_split[split]} skipped"
            )
        for reason, n in sorted(self.dropped.items()):
            lines.append(f"  dropped {n}: {reason}")
        reasons = Counter(_reason_kind(row["reason"]) for row in self.skipped)
        for reason, n in reasons.most_common(5):
            lines.append(f"  skipped {n}: {reason}")
        if len(reasons) > 5:
            lines.append(f"  ... {len(reasons) - 5} more skip reasons in {REPORT_FILE}")
        for note in self.notes:
            lines.append(f"  note: {note}")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        order = sorted(set(self.input) | set(self.built), key=split_sort_key)
        return {
            "corpus": self.corpus,
            "config": self.config,
            "input_rows": self.input_rows,
            "built_rows": self.built_rows,
            "skipped_rows": self.skipped_rows,
            "dropped_rows": self.dropped_rows,
            "input_equals_built_plus_skipped": self.consistent,
            "splits": {
                s: {
                    "input": self.input[s],
                    "built": self.built[s],
                    "skipped": sum(1 for r in self.skipped if r["split"] == s),
                }
                for s in order
            },
            "dropped": dict(sorted(self.dropped.items())),
            "skipped": list(self.skipped),
            "notes": list(self.notes),
        }

    @classmethod
    def from_dict(cls, data: Mapping) -> "BuildReport":
        report = cls(data.get("corpus", ""), data.get("config", ""))
        for split, counts in data.get("splits", {}).items():
            report.input[split] = counts.get("input", 0)
            report.built[split] = counts.get("built", 0)
        report.skipped = [dict(r) for r in data.get("skipped", [])]
        report.dropped = Counter(data.get("dropped", {}))
        report.notes = list(data.get("notes", []))
        return report

    def write_json(self, path: str | os.PathLike) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")

    @classmethod
    def read_json(cls, path: str | os.PathLike) -> "BuildReport":
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))


def _reason_kind(reason: str) -> str:
    """Group skip reasons for the summary (drop the file-specific part)."""
    return re.sub(r"'[^']*'|\"[^\"]*\"", "'...'", reason)[:120]


class NullReport(BuildReport):
    """Swallows the drop counts of generation passes (only discovery counts)."""

    def drop(self, reason: str, n: int = 1) -> None:  # noqa: D102
        pass

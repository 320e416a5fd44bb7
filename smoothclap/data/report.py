"""What happened to every row of a build: ``BuildReport`` (``build_report.json``).

input rows = built rows + skipped rows, per split, checked before anything is written;
rows a scanner excluded on purpose (MSP-Podcast's X, or O with ``exclude_other``) are
counted as *dropped before input*, with a reason, never silently. A scanner that takes an
inventory of its folder (the folder corpus) also accounts for every file under it: files =
built + skipped + ignored (hidden, not audio, an unreadable format, outside a label folder,
...), each ignored file listed with its reason; and it records its warnings (files listed)
and the split assignment it made. A scanner that makes splits without an inventory (TESS,
CREMA-D, RAVDESS with split options) records the assignment and its warnings alone.
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
        self.files_total: int | None = None  # files under the corpus folder, when inventoried
        self.ignored: list[dict] = []         # {"path", "reason"}: files that are no row
        self.warnings: list[dict] = []        # {"message", "files"}
        self.split_assignment: dict | None = None

    def set_inventory(self, files_total: int, ignored=(), warnings=(), split_assignment: dict | None = None) -> None:
        """For scanners (through ``scanning.report_inventory``): every file under the folder,
        the ones that are no row and why, warnings, the split assignment. Replaces, so a
        repeated discovery pass does not count twice."""
        self.files_total = int(files_total)
        self.ignored = [dict(x) for x in ignored]
        self.warnings = [dict(x) for x in warnings]
        self.split_assignment = split_assignment

    def set_split_assignment(self, split_assignment: dict | None, warnings=()) -> None:
        """For scanners without an inventory that make splits (TESS, CREMA-D, RAVDESS with
        split=speaker or split_file, through ``split_options.split_records``): the assignment
        and its warnings. Replaces, like ``set_inventory``."""
        self.split_assignment = split_assignment
        self.warnings = [dict(x) for x in warnings]

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
        return self.input_rows == self.built_rows + self.skipped_rows and self.files_consistent

    @property
    def files_consistent(self) -> bool:
        """files = built + skipped + ignored (True when no inventory was taken)."""
        return self.files_total is None or self.files_total == self.input_rows + len(self.ignored)

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
        if not self.files_consistent:
            raise RuntimeError(
                f"Build report does not account for every file: {self.files_total} files != input "
                f"{self.input_rows} + ignored {len(self.ignored)}."
            )

    def summary(self) -> str:
        lines = [
            f"{self.corpus}/{self.config}: input {self.input_rows} rows = built "
            f"{self.built_rows} + skipped {self.skipped_rows}"
            + (" (checked)" if self.input_rows == self.built_rows + self.skipped_rows else " (DOES NOT ADD UP)")
            + (f"; dropped before input: {self.dropped_rows}" if self.dropped else "")
        ]
        if self.files_total is not None:
            lines.append(f"  files under the corpus folder: {self.files_total} = built {self.built_rows} + skipped "
                         f"{self.skipped_rows} + ignored {len(self.ignored)}"
                         + (" (checked)" if self.files_consistent else " (DOES NOT ADD UP)"))
        skipped_per_split = Counter(row["split"] for row in self.skipped)
        for split in sorted(set(self.input) | set(self.built), key=split_sort_key):
            lines.append(
                f"  {split}: {self.built[split]} built, {skipped_per_split[split]} skipped"
            )
        for reason, n in sorted(self.dropped.items()):
            lines.append(f"  dropped {n}: {reason}")
        lines += self._skip_lines() + self._ignored_lines()
        for warning in self.warnings:
            lines.append(f"  warning: {warning['message']}{_examples(warning.get('files', []))}")
        for note in self.notes:
            lines.append(f"  note: {note}")
        return "\n".join(lines)

    def _skip_lines(self) -> list[str]:
        """One line per skipped file, named in full (relative to the corpus folder), up to
        ``_SHOWN``; the rest grouped by reason."""
        lines = [f"  skipped {row['path'] or row['id']}: {row['reason']}" for row in self.skipped[:_SHOWN]]
        rest = self.skipped[_SHOWN:]
        if rest:
            reasons = Counter(_reason_kind(row["reason"]) for row in rest)
            lines += [f"  skipped {n} more: {reason}" for reason, n in reasons.most_common(5)]
            lines.append(f"  ... every skipped file with its reason is in {REPORT_FILE}")
        return lines

    def _ignored_lines(self) -> list[str]:
        """Ignored files grouped by kind of reason: the count, the first files, the first reason in full."""
        groups: dict[str, list[dict]] = {}
        for row in self.ignored:
            groups.setdefault(_reason_kind(row["reason"]), []).append(row)
        return [f"  ignored {len(rows)}{_examples([r['path'] for r in rows])}: {rows[0]['reason']}"
                for rows in groups.values()]

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
            **self._inventory_dict(),
        }

    def _inventory_dict(self) -> dict:
        """The file inventory, warnings and split assignment, when a scanner gave them."""
        split = {"warnings": list(self.warnings), "split_assignment": self.split_assignment}
        if self.files_total is None:
            return split if self.warnings or self.split_assignment else {}
        return {
            "files": {"total": self.files_total, "built": self.built_rows, "skipped": self.skipped_rows,
                      "ignored": len(self.ignored),
                      "total_equals_built_plus_skipped_plus_ignored": self.files_consistent},
            "ignored": list(self.ignored),
            **split,
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
        if data.get("files"):
            report.set_inventory(data["files"]["total"], data.get("ignored", []), data.get("warnings", []),
                                 data.get("split_assignment"))
        elif data.get("split_assignment") or data.get("warnings"):
            report.set_split_assignment(data.get("split_assignment"), data.get("warnings", []))
        return report

    def write_json(self, path: str | os.PathLike) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")

    @classmethod
    def read_json(cls, path: str | os.PathLike) -> "BuildReport":
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))


_SHOWN = 10  # skipped files named one per line in the summary


def _examples(paths: list[str], n: int = 3) -> str:
    if not paths:
        return ""
    more = f", ... {len(paths) - n} more in {REPORT_FILE}" if len(paths) > n else ""
    return f" ({', '.join(paths[:n])}{more})"


def _reason_kind(reason: str) -> str:
    """Group skip reasons for the summary (drop the file-specific part)."""
    return re.sub(r"'[^']*'|\"[^\"]*\"", "'...'", reason)[:120]


class NullReport(BuildReport):
    """Swallows the drop counts of generation passes (only discovery counts)."""

    def drop(self, reason: str, n: int = 1) -> None:  # noqa: D102
        pass

    def set_inventory(self, *args, **kwargs) -> None:  # noqa: D102
        pass

    def set_split_assignment(self, *args, **kwargs) -> None:  # noqa: D102
        pass

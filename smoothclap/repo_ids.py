"""What names a Hugging Face Hub repository and what names a local folder: the one rule the
trainer's options, its export and `smoothclap publish` share (a model's card is checked with the
same pattern it was written with)."""

from __future__ import annotations

import os
import re

REPO_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")  # ORG/NAME


def looks_like_path(value: str) -> bool:
    """A local path, not a Hub repo id: starts with ./ ../ / ~ (or is absolute), has more
    than one separator, or exists partly (its parent folder is here)."""
    seps = [os.sep] + ([os.altsep] if os.altsep else [])
    starts = tuple(f"{dots}{sep}" for dots in (".", "..") for sep in seps) + ("~",)
    if value in (".", "..") or value.startswith(starts) or os.path.isabs(value):
        return True
    if max(value.count(sep) for sep in seps) > 1:
        return True
    parent = os.path.dirname(os.path.normpath(value))
    return bool(parent) and os.path.isdir(parent)

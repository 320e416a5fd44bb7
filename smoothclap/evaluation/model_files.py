"""A saved model folder checked before anything loads it: the weights file complete and
readable, the config readable, the tokenizer present. A damaged folder gave a 34-line
traceback from safetensors or a request to install sentencepiece (issue 23.9); here it is
one line naming the file and what to do."""

from __future__ import annotations

import json
import struct
from pathlib import Path

from smoothclap.evaluation import EvaluationError

TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "vocab.json", "spiece.model", "sentencepiece.bpe.model")
_FIX = "copy or download the folder again, or export it again (train_accelerate.py, model.save_pretrained)"


def safetensors_problem(path: Path) -> str | None:
    """What is wrong with a .safetensors file (None when its header reads and the file is as
    long as the header says): the format is an 8-byte little-endian header length, a JSON
    header with each tensor's data_offsets, then the data."""
    size = path.stat().st_size
    if size < 8:
        return f"{path.name} is {size} bytes, too short for a safetensors file"
    with open(path, "rb") as fh:
        (header_len,) = struct.unpack("<Q", fh.read(8))
        if header_len == 0 or 8 + header_len > size or header_len > 100_000_000:
            return f"{path.name} has no valid safetensors header (zeroed, random or not a safetensors file)"
        try:
            header = json.loads(fh.read(header_len))
        except (ValueError, UnicodeDecodeError):
            return f"{path.name} has an unreadable safetensors header (zeroed, random or truncated)"
    if not isinstance(header, dict):
        return f"{path.name} has an unreadable safetensors header"
    ends = [v.get("data_offsets", [0, 0])[1] for k, v in header.items() if k != "__metadata__" and isinstance(v, dict)]
    expected = 8 + header_len + max(ends, default=0)
    if size < expected:
        return f"{path.name} is truncated ({size} of {expected} bytes)"
    return None


def check_model_folder(folder) -> None:
    """EvaluationError (one line) for a local SmoothCLAP folder that cannot load."""
    folder = Path(folder)
    try:
        json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise EvaluationError(f"{folder / 'config.json'} is unreadable ({type(err).__name__}): {_FIX}.") from None
    weights = sorted(folder.glob("*.safetensors"))
    if not weights and not list(folder.glob("*.bin")):
        raise EvaluationError(f"Model folder {str(folder)!r} has no weights (model.safetensors): {_FIX}.")
    for path in weights:
        problem = safetensors_problem(path)
        if problem:
            raise EvaluationError(f"{folder / path.name}: {problem}; {_FIX}.")
    if not any((folder / name).is_file() for name in TOKENIZER_FILES):
        raise EvaluationError(f"Model folder {str(folder)!r} has no tokenizer (tokenizer.json): save it with "
                              "processor.save_pretrained(folder), or copy the folder again.")

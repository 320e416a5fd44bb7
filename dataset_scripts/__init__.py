"""SmoothCLAP dataset builders: one module per corpus, shared tagging and builder code.

See ``dataset_scripts/README.md`` for the corpus-module contract and
``python -m dataset_scripts --help`` for the command line.
"""

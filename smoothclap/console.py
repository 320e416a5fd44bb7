"""How every command names itself and exits (shared by the commands and their Python functions;
below all of them, so that no command imports the ``smoothclap`` dispatcher)."""

from __future__ import annotations

import sys


def invocation(prog: str) -> str:
    """How a user types a command whose parser calls itself ``prog``: "python x.py" for a script."""
    return f"python {prog}" if prog.endswith(".py") else prog


def exit_status(main, argv=None, **kwargs) -> int:
    """Run a ``main`` that returns results (for Python callers) as a console script does:
    0 when it returns, else the status it exits with (argparse: 2, ``--help``: 0)."""
    try:
        main(argv, **kwargs)
    except SystemExit as stop:
        return _status(stop)
    return 0


def _status(stop: SystemExit) -> int:
    if stop.code is None or isinstance(stop.code, int):
        return stop.code or 0
    print(stop.code, file=sys.stderr)  # sys.exit("message"): Python would print it and exit 1
    return 1

"""``python -m smoothclap COMMAND ...`` (and ``accelerate launch -m smoothclap ...``): the ``smoothclap`` command."""

import sys

from smoothclap.cli import main

if __name__ == "__main__":
    sys.exit(main())

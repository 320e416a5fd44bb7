"""python demo.py in a clone: the offline demo is smoothclap.demo (`smoothclap demo`)."""
import sys; from smoothclap.demo import *  # noqa: F401,F403,E702
from smoothclap.demo import cli, main  # noqa: F401

if __name__ == "__main__":
    sys.exit(cli())

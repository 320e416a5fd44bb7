"""python evaluate_zeroshot.py ... in a clone: the evaluation command is smoothclap.evaluation.evaluate (`smoothclap evaluate`)."""
import sys; from smoothclap.evaluation.evaluate import *  # noqa: F401,F403,E702
from smoothclap.evaluation.evaluate import cli, main  # noqa: F401

if __name__ == "__main__":
    sys.exit(cli())

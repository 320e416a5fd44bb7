"""accelerate launch train_accelerate.py ... in a clone: the trainer is smoothclap.training.trainer (`smoothclap train`)."""
import sys; from smoothclap.training.trainer import *  # noqa: F401,F403,E702
from smoothclap.training.trainer import cli, main  # noqa: F401

if __name__ == "__main__":
    sys.exit(cli())

"""Stage 2: train BATON's CLAP reward model on human labels.

Thin wrapper: the command lives in `baton_tta.scripts.train_reward_model` (also `baton-tta train-reward-model`)."""

import sys

from baton_tta.cli import main

if __name__ == "__main__":
    sys.exit(main(["train-reward-model", *sys.argv[1:]]))

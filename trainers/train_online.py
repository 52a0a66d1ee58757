"""Online rounds: generate → score → fine-tune → judge, repeated, resumable (BATON iterated, CRPO-style).

    python trainers/train_online.py --config recipes/online_toy.yaml

Thin wrapper: the command lives in `baton_tta.scripts.train_online` (also `baton-tta train-online`)."""

import sys

from baton_tta.cli import main

if __name__ == "__main__":
    sys.exit(main(["train-online", *sys.argv[1:]]))

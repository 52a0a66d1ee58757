"""Validate a preference dataset and push it to the Hub with its card.

Thin wrapper: the command lives in `baton_tta.scripts.push_dataset` (also `baton-tta push-dataset`)."""

import sys

from baton_tta.cli import main

if __name__ == "__main__":
    sys.exit(main(["push-dataset", *sys.argv[1:]]))

"""Validate a preference dataset and push it to the Hub with its card.

Thin wrapper: the command lives in `baton_tta.scripts.push_dataset` (also `baton-tta push-dataset`)."""

from baton_tta.scripts.push_dataset import main

if __name__ == "__main__":
    main()

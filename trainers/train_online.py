"""Online rounds: generate → score → fine-tune → judge, repeated, resumable (BATON iterated, CRPO-style).

    python trainers/train_online.py --config recipes/online_toy.yaml

Thin wrapper: the command lives in `baton_tta.scripts.train_online` (also `baton-tta train-online`)."""

from baton_tta.scripts.train_online import main

if __name__ == "__main__":
    main()

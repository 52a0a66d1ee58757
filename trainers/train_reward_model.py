"""Stage 2: train BATON's CLAP reward model on human labels.

Thin wrapper: the command lives in `baton_tta.scripts.train_reward_model` (also `baton-tta train-reward-model`)."""

from baton_tta.scripts.train_reward_model import main

if __name__ == "__main__":
    main()

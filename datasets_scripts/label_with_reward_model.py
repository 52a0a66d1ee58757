"""Stage 2: score the clips nobody labelled with a trained reward model.

Thin wrapper: the command lives in `baton_tta.scripts.label_with_reward_model` (also `baton-tta label-with-reward-model`)."""

import sys

from baton_tta.cli import main

if __name__ == "__main__":
    sys.exit(main(["label-with-reward-model", *sys.argv[1:]]))

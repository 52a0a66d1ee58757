"""Stage 3 online: GRPO on the pipeline's own samples, rewarded by BATON reward models.

Thin wrapper: the command lives in `baton_tta.scripts.train_grpo` (also `baton-tta train-grpo`)."""

import sys

from baton_tta.cli import main

if __name__ == "__main__":
    sys.exit(main(["train-grpo", *sys.argv[1:]]))

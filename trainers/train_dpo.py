"""Stage 3 alternative: Diffusion-DPO on chosen / rejected pairs (Tango 2).

Thin wrapper: the command lives in `baton_tta.scripts.train_dpo` (also `baton-tta train-dpo`)."""

import sys

from baton_tta.cli import main

if __name__ == "__main__":
    sys.exit(main(["train-dpo", *sys.argv[1:]]))

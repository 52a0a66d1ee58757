"""Stage 3 alternative: CRPO (Diffusion-DPO + the chosen clips' loss) on pairs.

Thin wrapper: the command lives in `baton_tta.scripts.train_crpo` (also `baton-tta train-crpo`)."""

import sys

from baton_tta.cli import main

if __name__ == "__main__":
    sys.exit(main(["train-crpo", *sys.argv[1:]]))

"""Stage 3 alternative: Diffusion-KTO on BATON's binary rows.

Thin wrapper: the command lives in `baton_tta.scripts.train_kto` (also `baton-tta train-kto`)."""

import sys

from baton_tta.cli import main

if __name__ == "__main__":
    sys.exit(main(["train-kto", *sys.argv[1:]]))

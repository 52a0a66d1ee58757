"""Stage 4: Table 4 metrics (FD, FAD, IS, KL, CLAP score) for one or more pipelines.

Thin wrapper: the command lives in `baton_tta.scripts.evaluate` (also `baton-tta evaluate`)."""

import sys

from baton_tta.cli import main

if __name__ == "__main__":
    sys.exit(main(["evaluate", *sys.argv[1:]]))

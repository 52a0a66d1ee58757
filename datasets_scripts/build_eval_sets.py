"""Stage 4: integrity / temporal evaluation prompt sets from AudioCaps captions.

Thin wrapper: the command lives in `baton_tta.scripts.build_eval_sets` (also `baton-tta build-eval-sets`)."""

import sys

from baton_tta.cli import main

if __name__ == "__main__":
    sys.exit(main(["build-eval-sets", *sys.argv[1:]]))

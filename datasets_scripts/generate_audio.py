"""Stage 1: N clips per prompt (BATON: 5) with a TangoPipeline; resumable.

Thin wrapper: the command lives in `baton_tta.scripts.generate_audio` (also `baton-tta generate-audio`)."""

import sys

from baton_tta.cli import main

if __name__ == "__main__":
    sys.exit(main(["generate-audio", *sys.argv[1:]]))

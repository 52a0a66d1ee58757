"""Stage 1: captions from AudioSet label groups (BATON §3.1).

Thin wrapper: the command lives in `baton_tta.scripts.make_prompts` (also `baton-tta make-prompts`)."""

import sys

from baton_tta.cli import main

if __name__ == "__main__":
    sys.exit(main(["make-prompts", *sys.argv[1:]]))

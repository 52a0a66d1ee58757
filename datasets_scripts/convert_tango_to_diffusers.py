"""TANGO's original checkpoint -> a diffusers TangoPipeline folder.

Thin wrapper: the command lives in `baton_tta.scripts.convert_tango` (also `baton-tta convert-tango`)."""

import sys

from baton_tta.cli import main

if __name__ == "__main__":
    sys.exit(main(["convert-tango", *sys.argv[1:]]))

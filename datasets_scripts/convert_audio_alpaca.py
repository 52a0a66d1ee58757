"""A pairwise dataset (Tango 2's audio-alpaca) -> the pairwise schema.

Thin wrapper: the command lives in `baton_tta.scripts.convert_audio_alpaca` (also `baton-tta convert-audio-alpaca`)."""

import sys

from baton_tta.cli import main

if __name__ == "__main__":
    sys.exit(main(["convert-audio-alpaca", *sys.argv[1:]]))

"""The official BATON JSON files and their audio -> the binary preference schema.

Thin wrapper: the command lives in `baton_tta.scripts.convert_baton_official` (also `baton-tta convert-baton-official`)."""

import sys

from baton_tta.cli import main

if __name__ == "__main__":
    sys.exit(main(["convert-baton-official", *sys.argv[1:]]))

"""The official BATON JSON files and their audio -> the binary preference schema.

Thin wrapper: the command lives in `baton_tta.scripts.convert_baton_official` (also `baton-tta convert-baton-official`)."""

from baton_tta.scripts.convert_baton_official import main

if __name__ == "__main__":
    main()

"""TANGO's original checkpoint -> a diffusers TangoPipeline folder.

Thin wrapper: the command lives in `baton_tta.scripts.convert_tango` (also `baton-tta convert-tango`)."""

from baton_tta.scripts.convert_tango import main

if __name__ == "__main__":
    main()

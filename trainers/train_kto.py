"""Stage 3 alternative: Diffusion-KTO on BATON's binary rows.

Thin wrapper: the command lives in `baton_tta.scripts.train_kto` (also `baton-tta train-kto`)."""

from baton_tta.scripts.train_kto import main

if __name__ == "__main__":
    main()

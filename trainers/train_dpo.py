"""Stage 3 alternative: Diffusion-DPO on chosen / rejected pairs (Tango 2).

Thin wrapper: the command lives in `baton_tta.scripts.train_dpo` (also `baton-tta train-dpo`)."""

from baton_tta.scripts.train_dpo import main

if __name__ == "__main__":
    main()

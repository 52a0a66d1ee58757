"""Stage 4: integrity / temporal evaluation prompt sets from AudioCaps captions.

Thin wrapper: the command lives in `baton_tta.scripts.build_eval_sets` (also `baton-tta build-eval-sets`)."""

from baton_tta.scripts.build_eval_sets import main

if __name__ == "__main__":
    main()

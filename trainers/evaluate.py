"""Evaluate pipelines like the paper's Table 4 (FD, FAD, IS, KL, CLAP score).

    python trainers/evaluate.py --pipelines tango=you/tango-diffusers baton=you/baton-tango \
        --eval_set outputs/eval_sets/temporal --reference_audio_dir audiocaps/test \
        --cnn14_checkpoint Cnn14_16k_mAP=0.438.pth --vggish_checkpoint vggish-10086976.pth \
        --clap_model laion/clap-htsat-unfused --output_dir outputs/evaluation [--push_to_hub --hub_model_id you/baton-tango]
"""

from __future__ import annotations

import logging

from trl import TrlParser

from baton_tta.metrics.evaluation import table4_markdown
from baton_tta.metrics.run import EvaluateArguments, run_evaluation


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    (args,) = TrlParser((EvaluateArguments,)).parse_args_and_config()
    print(table4_markdown(run_evaluation(args)))
    print(f"results written to {args.output_dir}/results.{{json,md,png}}")


if __name__ == "__main__":
    main()

"""Does BATON raise alignment? The whole loop in the toy sound world, on CPU, judged by the oracle.

Stages: pretrain a toy TangoPipeline → 5 clips per training prompt → oracle labels (5 % flipped,
5 % skipped) on half the prompts → reward model on those labels scores the other half (and its
accuracy curve over label counts) → the round trip the clips take back into latents, measured →
reward-weighted fine-tuning under the paper's conditions (Tables 5–7) and with the noiseless oracle's
labels (the upper bound), and Diffusion-DPO on pairs the reward model ranked (Tango 2's route) →
alignment rate per task on 135 integrity held-out prompts × 8 clips and 100 temporal × 4, with bootstrap 95 % intervals over prompts and paired differences against the control and
the base model (same prompts, same clip seeds), and the CLAP score from the toy CLAP. Seeded and
run on a fixed thread count, so the same command gives the same table on the same machine.

    python benchmarks/toy_alignment.py [--output_dir outputs/toy_alignment] [--smoke]

``--world objectives`` runs the same conditions in the objectives comparison's world (both tasks
visible: temporal captions of two ordered events, 10 clips per training prompt, 100 + 60 held-out
prompts), where ``--finetune_steps``/``--finetune_learning_rate``/``--beta`` put Eq. 7 at the dose
map's chosen point: the paper's ablations (Tables 5–7) at that setting.
"""

from __future__ import annotations

import time

from toy.config import ToyLabConfig
from toy.loop import ToyLoop
from toy.objectives import objectives_loop_config
from toy_cli import quiet_logging, report, toy_parser

from baton_tta.toy.report import save_result


def main() -> None:
    parser = toy_parser(__doc__, "outputs/toy_alignment")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pretrain_steps", type=int, default=None)
    parser.add_argument("--finetune_steps", type=int, default=None)
    parser.add_argument("--finetune_learning_rate", type=float, default=None)
    parser.add_argument("--beta", type=float, default=None, help="Eq. 7's pretrain weight (paper: 0.5).")
    parser.add_argument(
        "--world",
        choices=("paper", "objectives"),
        default="paper",
        help="paper: 3-event temporal captions, 5 clips per prompt; objectives: the objectives comparison's.",
    )
    parser.add_argument(
        "--clips_per_prompt", type=int, default=None, help="Stage 1's clips per training prompt."
    )
    parser.add_argument(
        "--feedback_guidance_scale",
        type=float,
        default=None,
        help="Guidance for stage 1's training clips only (the judge keeps the default 3).",
    )
    parser.add_argument(
        "--feedback_inference_steps",
        type=int,
        default=None,
        help="DDIM steps for stage 1's training clips only (the judge keeps the default 10).",
    )
    parser.add_argument(
        "--pretrained", default=None, help="Load stage 0 from this folder (e.g. the shipped toy world)."
    )
    parser.add_argument("--conditions", nargs="*", default=None, help="Names of the conditions to run.")
    args = parser.parse_args()
    with quiet_logging():
        if args.smoke:
            config = ToyLabConfig.smoke()
            if args.world == "objectives":
                config.group_sizes = {"integrity": (2, 3), "temporal": (2,)}
        else:
            config = objectives_loop_config() if args.world == "objectives" else ToyLabConfig()
        config.seed = args.seed
        config.threads = args.threads
        optional = (
            "pretrain_steps",
            "finetune_steps",
            "finetune_learning_rate",
            "beta",
            "clips_per_prompt",
            "feedback_guidance_scale",
            "feedback_inference_steps",
            "pretrained",
        )
        for name in optional:
            if getattr(args, name) is not None:
                setattr(config, name, getattr(args, name))
        if args.conditions:
            config.conditions = tuple(args.conditions)
        start = time.perf_counter()
        result = ToyLoop(config, args.output_dir).run()
        paths = save_result(result, args.output_dir)
        report(result.markdown(), paths, result.seconds, start, result.data_stats)


if __name__ == "__main__":
    main()

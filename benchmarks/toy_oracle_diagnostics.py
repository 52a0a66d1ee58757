"""Why the oracle's labels lift one task and not the other: BATON Eq. 7 on the noiseless oracle's
labels of the base model's own clips, from the shipped toy TANGO, under a few settings (clips per
training prompt, steps, learning rate), each judged against the base model on the same held-out
prompts and clip seeds (paired differences, 95 % intervals over prompts).

The world is the objectives benchmark's (temporal captions of two ordered events), judged on 135
integrity prompts × 8 clips and 60 temporal × 8; 5 clips per training prompt unless a setting says
otherwise. About 4 minutes per setting on 2 cores.

    python benchmarks/toy_oracle_diagnostics.py [--output_dir outputs/toy_oracle_diagnostics]
"""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch
from toy.loop import ToyLoop
from toy.objectives import objectives_loop_config

from baton_tta.toy.statistics import paired_difference
from baton_tta.toy.world import TASKS

#: the settings, each against the diagnostic world's defaults
SETTINGS: list[dict] = [
    {},
    {"clips_per_prompt": 10},
    {"finetune_steps": 200},
    {"clips_per_prompt": 10, "finetune_learning_rate": 1e-4, "finetune_steps": 200},
]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--output_dir", default="outputs/toy_oracle_diagnostics")
    args = parser.parse_args()
    world = replace(
        objectives_loop_config(temporal_judge_clips=8),
        clips_per_prompt=5,
        eval_prompts={"integrity": 135, "temporal": 60},
    )
    torch.set_num_threads(world.threads)
    output = Path(args.output_dir)
    lines = [
        "| oracle-labelled fine-tune | aligned feedback clips | integrity − base | temporal − base |",
        "|---|---:|---:|---:|",
    ]
    base_flags = None
    for index, extra in enumerate(SETTINGS):
        config = replace(world, **extra)
        loop = ToyLoop(config, output / f"setting-{index}")
        base = loop.load_pretrained()
        train, held_out = loop.prompts()
        if base_flags is None:
            base_flags = loop.judge("base", base, held_out)["aligned"]
        feedback = loop.feedback_data(base, train)
        tuned = loop.finetune("oracle", loop.oracle_rows(feedback), config.beta)
        judged = loop.judge("oracle", tuned, held_out)
        cells = []
        for task in TASKS:
            diff, low, high = paired_difference(judged["aligned"][task], base_flags[task], 1000, config.seed)
            cells.append(f"{diff:+.3f} [{low:+.3f}, {high:+.3f}]")
        name = ", ".join(
            [
                f"{config.clips_per_prompt} clips per prompt",
                f"{config.finetune_steps} steps",
                f"lr {config.finetune_learning_rate:g}",
            ]
        )
        lines.append(f"| {name} | {sum(loop.truth)} / {len(loop.truth)} | {cells[0]} | {cells[1]} |")
        print(lines[-1], flush=True)
    (output / "toy_oracle_diagnostics.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (output / "toy_oracle_diagnostics.json").write_text(json.dumps(lines, indent=2), encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

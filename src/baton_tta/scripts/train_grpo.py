"""``baton-tta train-grpo``: online GRPO on a text-to-audio pipeline's own samples, rewarded by BATON
reward models.

    accelerate launch -m baton_tta.scripts.train_grpo --pipeline_name_or_path you/tango-diffusers \\
        --dataset_name you/baton-prompts --reward_model_name_or_path you/baton-reward \\
        --output_dir outputs/grpo-tango
    baton-tta train-grpo --config recipes/grpo_toy.yaml     # offline: the toy TANGO and toy reward model

``dataset_name`` holds prompts (a ``prompt`` column: make-prompts' output, a file, a Hub id) or is
``toy`` (the toy world's training prompts); ``reward_model_name_or_path`` names one or more
``BatonRewardModel`` folders / Hub ids or ``toy`` (the toy CLAP with a head trained on simulated
people's labels), and ``reward`` any scorer of the registry by ``kind:source`` (``judge:…``,
``clap:…``, ``aesthetics:PQ``, ``toy-oracle``; :mod:`baton_tta.scorers`) — all summed with
``reward_weights``, reward models first. Like ``train-kto`` it has no built-in default: name the
sources or run the recipe.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from datasets import Dataset

from baton_tta.data.loading import load_raw
from baton_tta.scripts.builtin import TOY, named_scorer, resolve_pipeline
from baton_tta.scripts.utils import PIPELINE_HELP, command, load_hint, parse, train_save_and_push
from baton_tta.trainer import DiffusionGRPOConfig, DiffusionGRPOTrainer


@dataclass
class GRPOScriptArguments:
    """Where the model, the prompts and the reward come from."""

    pipeline_name_or_path: str | None = field(default=None, metadata={"help": PIPELINE_HELP})
    dataset_name: str | None = field(
        default=None,
        metadata={"help": "Prompts (dataset with a 'prompt' column: folder, file, Hub id) or 'toy'."},
    )
    dataset_split: str = field(default="train", metadata={"help": "Split of the prompt dataset."})
    reward_model_name_or_path: list[str] = field(
        default_factory=list,
        metadata={
            "help": "BatonRewardModel folders or Hub ids (several are summed with reward_weights), or 'toy'."
        },
    )
    reward: list[str] = field(
        default_factory=list,
        metadata={
            "help": "Scorers by kind:source (judge:MODEL, clap:MODEL, reward-model:PATH, aesthetics:AXIS, "
            "toy-oracle), after the reward models in reward_weights' order."
        },
    )
    toy_prompts_per_task: int = field(default=12, metadata={"help": "Toy training prompts per task ('toy')."})
    toy_reward_prompts: int = field(
        default=48, metadata={"help": "Rendered prompts (× 4 clips) that train the 'toy' reward model."}
    )


def prompts_for(script: GRPOScriptArguments, seed: int) -> Dataset:
    """The named prompt dataset, or the toy world's training prompts."""
    if script.dataset_name == TOY:
        from baton_tta.toy.world import toy_prompt_split

        train, _ = toy_prompt_split(script.toy_prompts_per_task, 0, seed)
        return train
    assert script.dataset_name is not None
    return load_raw(script.dataset_name, script.dataset_split)


def reward_funcs_for(script: GRPOScriptArguments, output_dir: str, seed: int) -> list:
    """The named reward models (``toy``: the built-in one, trained here on rendered clips), then the
    named scorers of the registry."""
    funcs: list = []
    for name in script.reward_model_name_or_path:
        if name == TOY:
            from baton_tta.toy.online import builtin_reward_model

            funcs.append(
                builtin_reward_model(script.toy_reward_prompts, seed, Path(output_dir) / "reward-cache")[0]
            )
        else:
            funcs.append(name)  # the trainer loads a BatonRewardModel from it
    return funcs + [named_scorer(spec) for spec in script.reward]


@command
def main(argv: Sequence[str] | None = None) -> None:
    words = list(sys.argv[1:] if argv is None else argv)
    if not words:
        raise SystemExit(
            "give --config (recipes/grpo_toy.yaml runs offline on the toy world) or --pipeline_name_or_path, "
            "--dataset_name and --reward_model_name_or_path or --reward"
        )
    script, args = parse((GRPOScriptArguments, DiffusionGRPOConfig), words)
    missing = [f"--{name}" for name in ("pipeline_name_or_path", "dataset_name") if not getattr(script, name)]
    if not script.reward_model_name_or_path and not script.reward:
        missing.append("--reward_model_name_or_path or --reward")
    if missing:
        raise SystemExit(f"give {' and '.join(missing)} (nothing built-in is filled in)")
    assert script.pipeline_name_or_path is not None
    trainer = DiffusionGRPOTrainer(
        resolve_pipeline(script.pipeline_name_or_path, seed=args.seed),
        args,
        train_dataset=prompts_for(script, args.seed),
        reward_funcs=reward_funcs_for(script, args.output_dir, args.seed),
    )
    location = train_save_and_push(trainer, args)
    if args.process_index == 0:
        print(load_hint(location))


if __name__ == "__main__":
    main()

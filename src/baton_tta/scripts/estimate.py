"""``baton-tta estimate <command> [that command's flags]``: will a training run (an optimizer step of
``train``, ``train-kto``, ``train-dpo`` or ``train-crpo``, a GRPO update, an online round) or a
``generate`` call fit the card? Peak device memory, broken down, and FLOPs per step (per clip) of the
run a recipe describes, at the family's published size, on a CPU in seconds to a minute or two (fake
tensors: nothing is allocated, nothing is downloaded). ``train-reward-model`` runs on the CPU: its
answer is host memory.

    baton-tta estimate train --config recipes/baton_tango_lora_24gb.yaml --family TangoPipeline
    baton-tta estimate train-kto --config recipes/kto_tango_temporal.yaml --card_gib 16
    baton-tta estimate train-grpo --config recipes/grpo_toy.yaml --size tiny
    baton-tta estimate generate --pipeline_name_or_path stabilityai/stable-audio-3-medium-base \
        --prompts "a dog barks" "rain falls" --clips_per_prompt 4 --audio_length_in_s 10

The command's own flags and recipe are read as the command reads them (``--per_device_train_batch_size 4``
changes the estimate as it changes the run). The family is the pipeline's: a built-in name, a local
pipeline folder's ``model_index.json`` (its config only), a published checkpoint's id — or ``--family``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from baton_tta.scripts.utils import command, parse

logger = logging.getLogger(__name__)

#: the training commands an estimate covers → their objective (:data:`baton_tta.trainer.objectives.OBJECTIVES`)
ESTIMATED_TRAINING = {
    "train": "baton",
    "train-kto": "kto",
    "train-dpo": "dpo",
    "train-crpo": "crpo",
    "train-grpo": "grpo",
}
#: every command an estimate covers: the training ones, a round of online training, the reward model's
#: training (on the host) and ``generate``
ESTIMATED_COMMANDS = [*ESTIMATED_TRAINING, "train-online", "train-reward-model", "generate"]
#: the precision a generating command picks on a GPU with bf16 when none is given
GPU_GENERATION_PRECISION = "bf16"
SIZES = ("published", "tiny")


@dataclass
class EstimateArguments:
    """What to estimate on, beside the command's own settings."""

    family: str | None = field(
        default=None,
        metadata={
            "help": "The pipeline class (TangoPipeline, StableAudioPipeline, StableAudio3Pipeline, "
            "AudioLDM2Pipeline) when the pipeline's name does not say it."
        },
    )
    size: str = field(
        default="published",
        metadata={
            "help": "'published' (the released models' sizes) or 'tiny' (the tiny stand-ins).",
            "choices": SIZES,
        },
    )
    card_gib: float = field(
        default=24.0, metadata={"help": "The card to fit (GiB): changes are tried until the run fits it."}
    )


def _script_arguments(name: str) -> type:
    """The training command's own data arguments, every one optional (:func:`_optional`)."""
    from baton_tta.scripts.train import ScriptArguments
    from baton_tta.scripts.train_dpo import DPOScriptArguments
    from baton_tta.scripts.train_grpo import GRPOScriptArguments

    arguments: type = {"train-dpo": DPOScriptArguments, "train-crpo": DPOScriptArguments}.get(
        name, GRPOScriptArguments if name == "train-grpo" else ScriptArguments
    )
    return _optional(arguments)


def _optional(arguments: type) -> type:
    """A command's data arguments, every one optional: a recipe's keys are all taken, and an estimate
    needs none of the data (a recipe that leaves the data to the command line is estimated)."""
    return dataclasses.make_dataclass(
        f"Estimated{arguments.__name__}",
        [(f.name, f.type, field(default=None, metadata=f.metadata)) for f in dataclasses.fields(arguments)],
    )


def family_of_pipeline(name: str | None, given: str | None) -> str:
    """The pipeline class a run's ``pipeline_name_or_path`` names, without loading any weights."""
    from baton_tta.families import FAMILIES
    from baton_tta.families.published import PUBLISHED
    from baton_tta.scripts.builtin import TINY_PIPELINE_NAMES, TOY_TANGO

    if given is not None:
        if given not in FAMILIES:
            raise ValueError(f"--family {given}: not a family; known: {', '.join(sorted(FAMILIES))}")
        return given
    if name in TINY_PIPELINE_NAMES:
        return TINY_PIPELINE_NAMES[name]
    if name == TOY_TANGO:
        return "TangoPipeline"
    for pipeline_class, published in PUBLISHED.items():
        if name == published.checkpoint:
            return pipeline_class
    index = Path(name or "") / "model_index.json"
    if name and index.is_file():
        found = json.loads(index.read_text(encoding="utf-8")).get("_class_name")
        if found in FAMILIES:
            return str(found)
    raise ValueError(
        f"the pipeline {name!r} does not say its family (not a built-in, a published checkpoint or a local "
        f"pipeline folder): give --family, one of {', '.join(sorted(FAMILIES))}"
    )


def _builder(pipeline_class: str, size: str) -> Any:
    from baton_tta.estimate.published_pipelines import PUBLISHED_PIPELINES, published_pipeline
    from baton_tta.tiny import tiny_pipeline

    if size == "tiny":
        return lambda device: tiny_pipeline(pipeline_class)
    if pipeline_class not in PUBLISHED_PIPELINES:
        raise ValueError(
            f"{pipeline_class} has no published-size pipeline built in code yet "
            f"(known: {', '.join(sorted(PUBLISHED_PIPELINES))}); --size tiny estimates its tiny stand-in"
        )
    return partial(published_pipeline, pipeline_class)


def _summary(args: Any, objective: str) -> str:
    if objective == "grpo":
        return (
            f"{args.per_device_train_batch_size} prompt(s) × {args.num_generations} clips, {args.audio_length_s:g} s, "
            f"{args.num_inference_steps} sampler steps ({args.timestep_fraction:g} of them trained), guidance "
            f"{args.guidance_scale:g}, "
            + ("bf16" if args.bf16 else "fp16" if args.fp16 else "fp32")
            + ", "
            + (f"LoRA r={args.lora_rank}" if args.use_lora else "full fine-tuning")
            + (f", KL to the reference (beta {args.beta:g})" if args.beta > 0 else "")
        )
    parts = [
        f"batch {args.per_device_train_batch_size}",
        f"accumulation {args.gradient_accumulation_steps}",
        f"{args.audio_length_s:g} s clips",
        "bf16" if args.bf16 else "fp16" if args.fp16 else "fp32",
        f"LoRA r={args.lora_rank}" if args.use_lora else "full fine-tuning",
        "activation checkpointing" if args.activation_checkpointing else "no checkpointing",
        "cached features" if args.cache_latents else "features encoded every step",
    ]
    if objective == "baton" and getattr(args, "beta", 0) > 0:
        parts[0] += f" (+{args.per_device_train_batch_size} pretrain rows)"
    return ", ".join(parts)


def estimate_generation_call(words: list[str]) -> None:
    """``estimate generate``: one call of ``generate``'s pipeline, its batch as ``generate`` makes it."""
    from baton_tta.estimate.generation import estimate_generation
    from baton_tta.estimate.report import breakdown_lines, card_lines
    from baton_tta.scripts.generate import PROMPTS_PER_CALL, GenerateArguments

    estimate_args, args = parse((EstimateArguments, GenerateArguments), words, hold_outputs=False)
    pipeline_class = family_of_pipeline(args.pipeline_name_or_path, estimate_args.family)
    batch = min(PROMPTS_PER_CALL, len(args.prompts)) * args.clips_per_prompt
    precision = args.mixed_precision or GPU_GENERATION_PRECISION
    estimate = estimate_generation(
        _builder(pipeline_class, estimate_args.size),
        batch,
        args.audio_length_in_s,
        args.num_inference_steps,
        args.guidance_scale,
        precision,
    )
    print(f"# generate on {pipeline_class}, {estimate_args.size} size: one pipeline call\n")
    print(
        f"{batch} clip(s) per call, {args.audio_length_in_s:g} s, {args.num_inference_steps} steps, guidance "
        f"{args.guidance_scale:g}, {precision}\n"
    )
    print("\n".join(breakdown_lines(estimate)) + "\n")
    print(f"FLOPs per clip: {estimate.flops / batch / 1e12:.1f} TFLOP\n")
    print("\n".join(card_lines(estimate)))


@command
def main(argv: Sequence[str] | None = None) -> None:
    words = list(sys.argv[1:] if argv is None else argv)
    target = words[0] if words and not words[0].startswith("-") else None
    if target is None:
        parse((EstimateArguments,), words)  # --help / --help_all list the estimate's own flags
        raise SystemExit(
            f"baton-tta estimate: name the command to estimate, one of {', '.join(ESTIMATED_COMMANDS)}"
        )
    if target not in ESTIMATED_COMMANDS:
        raise SystemExit(
            f"baton-tta estimate: {target!r} is not estimated yet; estimated: {', '.join(ESTIMATED_COMMANDS)}"
        )
    if target == "generate":
        estimate_generation_call(words[1:])
        return
    if target == "train-online":
        estimate_online_round(words[1:])
        return
    if target == "train-reward-model":
        estimate_reward_model_training(words[1:])
        return
    from baton_tta.trainer.objectives import objective_named

    objective = objective_named(ESTIMATED_TRAINING[target])
    # the run is estimated for a GPU; its settings are read as on a CPU (a bf16 recipe is not refused)
    settings = [*words[1:], "--use_cpu", "true"]
    estimate_args, script, args = parse(
        (EstimateArguments, _script_arguments(target), objective.config_class), settings, hold_outputs=False
    )
    pipeline_class = family_of_pipeline(script.pipeline_name_or_path, estimate_args.family)
    build = _builder(pipeline_class, estimate_args.size)
    title = f"{target} ({objective.name}) on {pipeline_class}, {estimate_args.size} size"
    if objective.name == "grpo":
        _print_grpo(
            title, estimate_args, script.reward_model_name_or_path or [], script.reward or [], args, build
        )
    else:
        _print_training(title, objective, estimate_args, args, build)


def estimate_online_round(words: list[str]) -> None:
    """``estimate train-online``: one round's fine-tuning step (its objective's, with the round's
    settings) and one call of its clip generation."""
    from baton_tta.estimate.generation import estimate_generation
    from baton_tta.estimate.report import breakdown_lines, needed_gib
    from baton_tta.online import OnlineConfig
    from baton_tta.scripts.train_online import OnlineScriptArguments
    from baton_tta.trainer.objectives import objective_named

    estimate_args, script, config = parse(
        (EstimateArguments, OnlineScriptArguments, OnlineConfig),
        [*words, "--use_cpu", "true"],
        hold_outputs=False,
    )
    objective = objective_named(config.objective)
    pipeline_class = family_of_pipeline(script.pipeline_name_or_path, estimate_args.family)
    build = _builder(pipeline_class, estimate_args.size)
    with tempfile.TemporaryDirectory() as folder:
        args = config.round_training_args(folder)
    title = f"train-online ({objective.name}) on {pipeline_class}, {estimate_args.size} size: a round's fine-tuning"
    if objective.name == "grpo":  # its clips are the update's rollouts
        _print_grpo(title, estimate_args, [script.reward_model_name_or_path], [], args, build)
        return
    training = _print_training(title, objective, estimate_args, args, build)
    batch = config.prompts_per_batch * config.clips_per_prompt
    generation = estimate_generation(
        build,
        batch,
        config.clip_seconds,
        config.num_inference_steps,
        config.guidance_scale,
        config.mixed_precision,
    )
    print(
        f"\n## The round's generation: {config.prompts_per_batch} prompt(s) × {config.clips_per_prompt} clips per "
        f"call, {config.clip_seconds:g} s, {config.num_inference_steps} steps, {config.mixed_precision}\n"
    )
    print("\n".join(breakdown_lines(generation)))
    if generation.peak > training.peak:
        print(
            f"\nThe generation call is the round's highest point: a card needs {needed_gib(generation):.2f} GiB."
        )


def estimate_reward_model_training(words: list[str]) -> None:
    """``estimate train-reward-model``: it runs on the CPU, so the answer is host memory."""
    from baton_tta.estimate.report import breakdown_lines
    from baton_tta.estimate.reward import estimate_reward_training
    from baton_tta.reward.cache import EMBEDDING_BATCH
    from baton_tta.reward.training import RewardTrainingConfig
    from baton_tta.scripts.train_reward_model import RewardScriptArguments

    estimate_args, script, config = parse(
        (EstimateArguments, _optional(RewardScriptArguments), RewardTrainingConfig), words, hold_outputs=False
    )
    if script.text_backbone == "t5":
        raise SystemExit("baton-tta estimate: the T5 text backbone (Table 8's ablation) is not estimated")
    _, head_batch, *_ = config.settings()
    estimate = estimate_reward_training(estimate_args.size, EMBEDDING_BATCH, head_batch)
    print(f"# train-reward-model, CLAP at {estimate_args.size} size: on the CPU (no GPU memory)\n")
    print(
        f"Captions and clips embedded {EMBEDDING_BATCH} at a time through the frozen CLAP (once: cached on disk), "
        f"then the head trained on {head_batch} cached rows a step. Host memory:\n"
    )
    table = breakdown_lines(estimate, place="in host memory")
    print("\n".join(line for line in table if "a card needs" not in line) + "\n")
    print(f"FLOPs per embedding batch: {estimate.flops / 1e12:.2f} TFLOP")


def _print_training(title: str, objective: Any, estimate_args: Any, args: Any, build: Any) -> Any:
    """One optimizer step of an offline objective: the breakdown, FLOPs, host reads, cards, changes."""
    from baton_tta.estimate.report import breakdown_lines, card_lines, suggestion_lines
    from baton_tta.estimate.training import estimate_training_step

    def estimate_with(overrides: dict[str, Any]) -> Any:
        return estimate_training_step(objective, dataclasses.replace(args, **overrides), build)

    estimate = estimate_with({})
    print(f"# {title}: one optimizer step\n")
    print(_summary(args, objective.name) + "\n")
    print("\n".join(breakdown_lines(estimate)) + "\n")
    print(f"FLOPs per optimizer step: {estimate.flops / 1e12:.1f} TFLOP")
    _print_host_reads(estimate.host_reads)
    print("\n".join(card_lines(estimate)) + "\n")
    print("\n".join(suggestion_lines(estimate, args, estimate_args.card_gib, estimate_with)))
    return estimate


def _print_host_reads(count: int | None, per: str = "optimizer step") -> None:
    print(
        f"Host reads per {per}: {count} (the stand-in's real step counted on the CPU: "
        "at most what a GPU run waits on)\n"
    )


def _print_grpo(
    title: str, estimate_args: Any, reward_models: list[str], scorers: list[str], args: Any, build: Any
) -> None:
    """``estimate train-grpo``: the rollout and the update of one GRPO step, the higher of the two fits."""
    from baton_tta.estimate.grpo import estimate_grpo_update, reward_model_bytes
    from baton_tta.estimate.report import breakdown_lines, card_lines, suggestion_lines
    from baton_tta.scripts.builtin import TOY

    # the built-in toy reward model is the tiny CLAP's size whatever the pipeline's
    rewards = reward_model_bytes(["tiny" if name == TOY else estimate_args.size for name in reward_models])

    def estimate_with(overrides: dict[str, Any]) -> Any:
        return estimate_grpo_update(dataclasses.replace(args, **overrides), build, rewards)

    estimate = estimate_with({})
    print(f"# {title}: one update\n")
    print(_summary(args, "grpo") + "\n")
    for part, text in (
        (estimate.rollout, "Sampling the rollouts (no gradients; every step recorded for the update)"),
        (estimate.update, f"The update ({estimate.trained_steps} trained steps, one backward pass each; "
         "the recorded trajectory is the batch)"),
    ):  # fmt: skip
        print(f"## {text}\n")
        print("\n".join(breakdown_lines(part)) + "\n")
    if scorers:
        print(f"Not counted: the scorers named by --reward ({', '.join(scorers)}) and their weights.\n")
    flops = estimate.rollout.flops + estimate.update.flops
    print(
        f"FLOPs per update: {flops / 1e12:.1f} TFLOP ({estimate.rollout.flops / 1e12:.1f} sampling, "
        f"{estimate.update.flops / 1e12:.1f} training)"
    )
    _print_host_reads(estimate.rollout.host_reads, "update, its rollout included")
    print("\n".join(card_lines(estimate)) + "\n")
    print("\n".join(suggestion_lines(estimate, args, estimate_args.card_gib, estimate_with)))


if __name__ == "__main__":
    main()

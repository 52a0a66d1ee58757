"""Online rounds against one round in the toy world, at equal budgets, judged like the proof benchmark.

BATON fine-tunes once on the original model's clips; CRPO-style rounds generate again with the model
each round has made. Which is better at the same cost? Every condition here generates the same number
of clips per training prompt and takes the same number of fine-tuning steps in total, split over its
rounds, from the same pretrained toy TANGO and the same stage 2 reward model (trained, as in the paper,
on simulated people's labels of the base model's clips). One condition also sends a sample of each
round's clips to the simulated people and retrains the reward model before scoring (human feedback
between rounds). Each round's pipeline is judged by the noiseless oracle on the proof benchmark's
held-out prompts and clip seeds (135 integrity prompts × 8 clips, 100 temporal × 4), with paired
differences against the base model and the one-round condition; each round also records how accurate
the reward model was, against the oracle, on the clips it scored that round.
"""

from __future__ import annotations

import copy
import json
import logging
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from datasets import Dataset, load_from_disk

from baton_tta.data.audio import SAMPLING_RATE, decode_audio
from baton_tta.data.generation import DATASET_DIR
from baton_tta.hub.figures import subplots
from baton_tta.online import OnlineConfig, OnlineRunner
from baton_tta.online.runner import load_round_pipeline
from baton_tta.pipelines.pipeline_tango import TangoPipeline
from baton_tta.scoped import torch_threads
from baton_tta.toy.config import toy_trainer_args
from baton_tta.toy.online import SimulatedFeedback, toy_reward_training
from baton_tta.toy.pretrained import PRETRAINED_DIR
from baton_tta.toy.report import ToyLoopResult, slug
from baton_tta.toy.statistics import paired_differences
from baton_tta.toy.timing import StageClock
from baton_tta.toy.world import TASKS
from toy.config import ToyLabConfig
from toy.loop import ToyLoop

logger = logging.getLogger(__name__)

ONE_ROUND = "BATON, 1 round"
#: The conditions: objective, rounds, and whether simulated people label a sample of each round.
ROUND_CONDITIONS: dict[str, dict[str, Any]] = {
    ONE_ROUND: {"objective": "baton", "rounds": 1},
    "BATON, 3 rounds": {"objective": "baton", "rounds": 3},
    "Diffusion-DPO, 3 rounds": {"objective": "dpo", "rounds": 3},
    "BATON, 3 rounds + human feedback": {"objective": "baton", "rounds": 3, "feedback": True},
}


def rounds_loop_config() -> ToyLabConfig:
    """The proof benchmark's sizes (held-out set, judge, stage 1 and 2), from the shipped toy world."""
    return ToyLabConfig(pretrained=str(PRETRAINED_DIR), reward_curve_points=0, round_trip_clips=0)


@dataclass
class ToyRoundsConfig:
    """Budgets of the rounds comparison; :meth:`smoke` is the seconds-long version the tests use."""

    loop: ToyLabConfig = field(default_factory=rounds_loop_config)
    #: Clips each condition generates per training prompt, over all its rounds (3 rounds × 3 = 1 × 9).
    clips_per_prompt_budget: int = 9
    #: Fine-tuning steps each condition takes, over all its rounds.
    steps_budget: int = 150
    #: Clips of each round the simulated people label (the "+ human feedback" condition).
    feedback_clips_per_round: int = 60
    #: Judge every round's pipeline (the curve), not only the last round's.
    judge_every_round: bool = True
    #: Names of ROUND_CONDITIONS to run; all of them when None.
    conditions: tuple[str, ...] | None = None

    @classmethod
    def smoke(cls) -> ToyRoundsConfig:
        return cls(
            loop=replace(ToyLabConfig.smoke(), pretrained=str(PRETRAINED_DIR), reward_curve_points=0),
            clips_per_prompt_budget=6,
            steps_budget=3,
            feedback_clips_per_round=4,
        )


@dataclass
class ToyRoundsResult:
    """The judged rows and paired differences (as the proof table), and one entry per condition and
    round: clips so far, the reward model's mean score and accuracy on that round's clips."""

    table: ToyLoopResult
    rounds: list[dict]
    config: dict
    seconds: dict[str, float]

    def markdown(self) -> str:
        lines = [
            self.table.markdown().split("\n\nReward model accuracy")[0],
            "",
            "| condition | round | clips per prompt so far | reward score, round's clips | "
            "reward-model accuracy (integrity / temporal) | integrity aligned | temporal aligned |",
            "|---|---:|---:|---:|---|---:|---:|",
        ]
        for entry in self.rounds:
            aligned = [f"{entry[task][0]:.3f}" if task in entry else "—" for task in TASKS]
            accuracy = " / ".join(f"{entry['reward_accuracy'][task]:.2f}" for task in TASKS)
            lines.append(
                f"| {entry['condition']} | {entry['round']} | {entry['clips_per_prompt']} | "
                f"{entry['reward_mean']:.3f} | {accuracy} | {aligned[0]} | {aligned[1]} |"
            )
        return "\n".join(lines)


class ToyRounds:
    """Stage 0–2 once (:class:`~toy.loop.ToyLoop`), then each condition through
    :class:`~baton_tta.online.OnlineRunner`, then the judge on every round's pipeline."""

    def __init__(self, config: ToyRoundsConfig, output_dir: str | Path):
        self.config = config
        self.output_dir = Path(output_dir)
        self.loop = ToyLoop(config.loop, self.output_dir)
        self._timed = StageClock()

    def online_config(self, name: str, spec: dict[str, Any]) -> OnlineConfig:
        """The condition's rounds: the clip and step budgets split evenly over its rounds, the toy
        loop's schedule, β and DPO settings."""
        c, loop = self.config, self.config.loop
        rounds = spec["rounds"]
        if c.clips_per_prompt_budget % rounds or c.steps_budget % rounds:
            raise ValueError(f"{name}: the clip and step budgets must split evenly over {rounds} rounds")
        clips = c.clips_per_prompt_budget // rounds
        return toy_trainer_args(
            loop,
            self.output_dir / slug(name),
            c.steps_budget // rounds,
            loop.finetune_learning_rate,
            OnlineConfig,
            num_rounds=rounds,
            objective=spec["objective"],
            beta=loop.beta,
            objective_args={"dpo_beta": loop.dpo_beta} if spec["objective"] == "dpo" else None,
            min_reward_margin=loop.dpo_min_margin,
            clips_per_prompt=clips,
            prompts_per_batch=max(1, 16 // clips),
            generation_seed=loop.seed + 500,
            num_inference_steps=loop.inference_steps,
            ddim_sampling=True,  # the toy loop samples with DDIM
            guidance_scale=loop.guidance_scale,
            eval_clips_per_prompt=1,
            feedback_clips_per_round=c.feedback_clips_per_round if spec.get("feedback") else 0,
        )

    def reward_accuracy(self, round_dir: Path) -> dict[str, float]:
        """Accuracy at 0.5 against the noiseless oracle of the scores the reward model gave the
        round's clips (how well it knew the clips it was steering by)."""
        clips = load_from_disk(str(round_dir / "clips" / DATASET_DIR)).with_format(None)
        scores = json.loads((round_dir / "scores.json").read_text(encoding="utf-8"))
        correct: dict[str, list[bool]] = {task: [] for task in TASKS}
        for row, score in zip(clips, scores, strict=True):
            waveform = decode_audio(row["audio"], SAMPLING_RATE)
            truth = self.loop.oracle.is_aligned(row["events"], row["task"], waveform)
            correct[row["task"]].append((score >= 0.5) == truth)
        return {task: float(np.mean(flags)) if flags else float("nan") for task, flags in correct.items()}

    def run_condition(
        self, name: str, spec: dict[str, Any], train: Dataset, held_out: Dataset, human: Dataset
    ) -> tuple[list[dict], list[dict]]:
        """The condition's rounds, then (judged rows, per-round entries)."""
        args = self.online_config(name, spec)
        loop = self.loop
        runner = OnlineRunner(
            TangoPipeline.from_pretrained(self.output_dir / "base"),
            copy.deepcopy(loop.reward_model),  # feedback retrains its copy; the others stay the paper's
            args,
            train,
            held_out.select(
                [0, len(held_out) - 1]
            ),  # the runner's own judge: a token; the oracle judges below
            loop.pretrain_pairs,
            reward_labels=human,
            reward_training=toy_reward_training(loop.config.reward_epochs, loop.config.seed),
            labeller=SimulatedFeedback(loop.config.seed) if spec.get("feedback") else None,
        )
        history = self._timed(f"rounds {name}", runner.run)
        rows, entries = [], []
        for r in range(1, spec["rounds"] + 1):
            folder = runner.round_dir(r)
            entry = {
                "condition": name,
                "round": r,
                "clips_per_prompt": r * args.clips_per_prompt,
                "reward_mean": history[r]["reward_mean_train_clips"],
                "reward_accuracy": self.reward_accuracy(folder),
            }
            if self.config.judge_every_round or r == spec["rounds"]:
                label = name if spec["rounds"] == 1 else f"{name}: round {r}"
                pipeline = load_round_pipeline(folder)
                row = self._timed(f"judge {label}", loop.judge, label, pipeline, held_out)
                rows.append(row)
                entry.update({task: row[task] for task in TASKS})
            entries.append(entry)
        return rows, entries

    def run(self) -> ToyRoundsResult:
        """:meth:`_run` on the configured thread count, given back after (the same count gives the
        same sums; a run in another's process leaves its threads as it found them)."""
        with torch_threads(self.config.loop.threads):
            return self._run()

    def _run(self) -> ToyRoundsResult:

        c = self.config
        unknown = sorted(set(c.conditions or ()) - set(ROUND_CONDITIONS))
        if unknown:
            raise ValueError(f"unknown round conditions {unknown}; known: {list(ROUND_CONDITIONS)}")
        loop = self.loop
        base = self._timed("0 load pretrained toy world", loop.load_pretrained)
        train, held_out = loop.prompts()
        feedback = self._timed("1 generate + label", loop.feedback_data, base, train)
        _, accuracy = self._timed("2 reward model", loop.reward_rows, feedback)
        human = feedback.filter(lambda row: row["source"] == "human" and row["label"] in (0, 1))
        rows = [self._timed("judge base", loop.judge, "base (pretrained only)", base, held_out)]
        entries: list[dict] = []
        for name in c.conditions or ROUND_CONDITIONS:
            judged, condition_entries = self.run_condition(
                name, ROUND_CONDITIONS[name], train, held_out, human
            )
            rows += judged
            entries += condition_entries
        references = {"base": rows[0]}
        one_round = [row for row in rows if row["model"] == ONE_ROUND]
        if one_round:
            references["1 round"] = one_round[0]
        differences = paired_differences(rows[1:], references, c.loop.bootstrap_samples, c.loop.seed)
        stats = {
            "train prompts": len(train),
            "held-out prompts": len(held_out),
            "stage 1 human rows": len(human),
        }
        table = ToyLoopResult(rows, accuracy, stats, asdict(c.loop), dict(self._timed.seconds), differences)
        return ToyRoundsResult(table, entries, asdict(c), dict(self._timed.seconds))


def plot_rounds_curve(result: ToyRoundsResult, path: Path) -> Path:
    """Oracle alignment per round (95 % intervals), one line per condition, base at round 0."""

    base = result.table.rows[0]
    figure, axes = subplots(1, 2, figsize=(12, 4.5))
    conditions = list(dict.fromkeys(entry["condition"] for entry in result.rounds))
    for axis, task in zip(axes, TASKS, strict=True):
        for offset, name in enumerate(conditions):
            points = [(0, *base[task])] + [
                (e["round"], *e[task]) for e in result.rounds if e["condition"] == name and task in e
            ]
            x = np.array([p[0] for p in points], dtype=float) + 0.04 * (offset - len(conditions) / 2)
            rate = np.array([p[1] for p in points])
            errors = np.array([[p[1] - p[2], p[3] - p[1]] for p in points]).T
            axis.errorbar(x, rate, yerr=errors, marker="o", capsize=3, label=name)
        axis.set_xlabel("round (0 = pretrained toy TANGO)")
        axis.set_ylabel("aligned (oracle), 95% CI")
        axis.set_title(task)
        axis.set_xticks(range(0, 1 + max(e["round"] for e in result.rounds)))
    axes[0].legend(fontsize=8)
    figure.suptitle("Online rounds in the toy world: equal clips and steps per condition")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    return path


def save_rounds_result(result: ToyRoundsResult, output_dir: str | Path) -> dict[str, Path]:
    """``toy_rounds.json``, ``toy_rounds.md`` and the curve ``toy_rounds.png``."""
    output_dir = Path(output_dir)
    paths = {k: output_dir / f"toy_rounds.{k}" for k in ("json", "md", "png")}
    paths["json"].write_text(json.dumps(asdict(result), indent=2) + "\n", encoding="utf-8")
    paths["md"].write_text(result.markdown() + "\n", encoding="utf-8")
    plot_rounds_curve(result, paths["png"])
    return paths

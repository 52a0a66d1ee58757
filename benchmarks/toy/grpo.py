"""Online GRPO against BATON in the toy world, at equal generated clips, judged by the noiseless oracle.

The world and stage 1–2 are the objectives comparison's (:mod:`toy.objectives`): the
shipped toy TANGO, temporal captions of two ordered events, 10 clips per training prompt, simulated
people's labels on half the prompts and a reward model trained on them. Every condition then spends
the same number of generated clips (the offline objectives' stage 1: 10 per training prompt) from
the same base model:

- BATON Eq. 7 and Diffusion-KTO offline on those clips (the settings the objectives benchmark chose
  on its validation prompts), the reward model scoring what people did not label;
- BATON rounds: the clips split over rounds, each round's clips from the model the last one made,
  scored by the same reward model;
- GRPO rounds with the reward model as the reward (what BATON's people make possible), and with the
  oracle itself as the reward (the upper bound: a perfect reward model). GRPO's learning rate is
  searched on validation prompts taken from the training prompts, never on the held-out judge;
- the guard: GRPO on a reward model with a planted flaw (a bonus for one sound no caption asks
  for) at a higher learning rate, rounds judged on held-out prompts, the reward-hacking guard on:
  when does it stop the run and which round does it roll back to?

Sampling passes are equal (every condition renders the same clips with the same sampler); the
update passes differ by objective and are counted in the table (GRPO trains on a third of the
sampler's stochastic steps, which puts its forward-backward passes near BATON's). Each condition's
pipeline — every round's, for the curve — is judged on the same held-out prompts and clip seeds,
with paired differences against the base, offline BATON and offline KTO.
"""

from __future__ import annotations

import copy
import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from datasets import Dataset, concatenate_datasets

from baton_tta.hub.figures import subplots
from baton_tta.online import OnlineConfig, OnlineRunner
from baton_tta.online.runner import load_round_pipeline
from baton_tta.pipelines.pipeline_tango import TangoPipeline
from baton_tta.scoped import torch_threads
from baton_tta.scorers import WeightedScorers
from baton_tta.toy.config import toy_trainer_args
from baton_tta.toy.online import EventLoudnessReward, OracleJudge, OracleReward
from baton_tta.toy.report import ToyLoopResult, slug
from baton_tta.toy.statistics import paired_differences
from baton_tta.toy.world import TASKS
from toy.objectives import (
    BATON,
    OBJECTIVES,
    ToyObjectives,
    ToyObjectivesConfig,
    objectives_loop_config,
)

logger = logging.getLogger(__name__)

BATON_OFFLINE = "BATON Eq. 7 offline (labels + reward-model scores)"
KTO_OFFLINE = "Diffusion-KTO offline"
BATON_ROUNDS = "BATON rounds (reward model)"
GRPO_REWARD_MODEL = "GRPO rounds, reward model as reward"
GRPO_ORACLE = "GRPO rounds, oracle as reward (upper bound)"
#: Offline conditions: the objectives benchmark's objective and the settings its validation search chose.
OFFLINE: dict[str, tuple[str, dict[str, float]]] = {
    BATON_OFFLINE: (BATON, {"learning_rate": 1e-4}),
    KTO_OFFLINE: ("Diffusion-KTO", {"kto_beta": 300.0, "learning_rate": 1e-4}),
}
CONDITIONS = (BATON_OFFLINE, KTO_OFFLINE, BATON_ROUNDS, GRPO_REWARD_MODEL, GRPO_ORACLE)


@dataclass
class ToyGRPOConfig:
    """Budgets of the comparison; :meth:`smoke` is the seconds-long version the tests use."""

    #: The objectives comparison's world, judged with 8 clips per temporal prompt (as measured).
    objectives: ToyObjectivesConfig = field(
        default_factory=lambda: ToyObjectivesConfig(loop=objectives_loop_config(temporal_judge_clips=8))
    )
    #: Rounds of the online conditions (BATON rounds and GRPO); the clip budget splits evenly.
    rounds: int = 2
    #: GRPO: clips per prompt and update (the group) and prompts per update.
    group_size: int = 6
    prompts_per_update: int = 2
    #: GRPO: share of the sampler's stochastic steps each update trains on.
    timestep_fraction: float = 1 / 3
    kl_beta: float = 0.04
    eta: float = 1.0
    #: GRPO learning rates searched on the validation prompts (the reward-model condition's choice is
    #: used for the oracle condition too).
    learning_rates: tuple[float, ...] = (1e-4, 3e-4)
    #: The guard experiment: rounds, GRPO updates per round and their learning rate (stronger than
    #: the chosen one, so the flaw is exploited within the rounds), the planted flaw's weight and
    #: sound, the guard's patience, and held-out prompts per task its judge hears (2 clips each).
    guard_rounds: int = 4
    guard_updates_per_round: int = 10
    guard_learning_rate: float = 3e-4
    guard_flaw_weight: float = 1.0
    guard_flaw_event: str = "hiss"
    guard_patience: int = 2
    guard_prompts: int = 20
    #: Names of CONDITIONS to run; all of them when None.
    conditions: tuple[str, ...] | None = None

    @classmethod
    def smoke(cls) -> ToyGRPOConfig:
        return cls(
            objectives=ToyObjectivesConfig.smoke(),
            group_size=2,
            learning_rates=(1e-4,),
            guard_rounds=2,
            guard_updates_per_round=1,
            guard_prompts=1,
        )


@dataclass
class ToyGRPOResult:
    """The judged rows (every round of the online conditions), paired differences, the budgets and
    wall time per condition, the learning-rate search, the curve and the guard's rounds."""

    table: ToyLoopResult
    budgets: dict[str, dict[str, int]]
    seconds: dict[str, float]
    search: list[dict]
    curve: list[dict]
    guard: dict[str, Any]
    config: dict

    def markdown(self) -> str:
        lines = [
            "| condition | integrity aligned [95% CI] | temporal aligned [95% CI] | CLAP | unnamed-event clips "
            "| clips generated | sampling passes | update passes (fwd+bwd) | reference passes | wall time |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for row in self.table.rows:
            name = row["model"]
            cells = [name] + [f"{row[t][0]:.3f} [{row[t][1]:.3f}, {row[t][2]:.3f}]" for t in TASKS]
            cells += [f"{row['clap_score']:.3f}", f"{row['unnamed_event_rate']:.3f}"]
            budget = self.budgets.get(name)
            if budget:
                cells += [str(budget[k]) for k in ("clips", "sampling", "update", "reference")]
                cells.append(f"{self.seconds[name]:.0f} s")
            else:
                cells += ["—"] * 5
            lines.append("| " + " | ".join(cells) + " |")
        differences = self.table.markdown().split("\n\nPaired differences")[1].split("\n\nReward model")[0]
        lines += ["", "Paired differences" + differences]
        if self.search:
            lines += ["", "GRPO learning rate (mean oracle alignment on the validation prompts):", ""]
            lines += ["| learning rate | validation aligned |", "|---:|---:|"]
            lines += [f"| {e['learning_rate']:g} | {e['validation']:.3f} |" for e in self.search]
        if self.guard:
            g = self.guard
            lines += [
                "",
                f"The guard: GRPO on the reward model plus {g['flaw_weight']:g} × the loudness of the "
                f"{g['flaw_event']} band (a flaw no caption asks for), learning rate {g['learning_rate']:g}, "
                f"patience {g['patience']}, judged each round on {g['judge_prompts']} held-out prompts × 2 clips:",
                "",
                "| round | flawed reward, held-out clips | oracle aligned, held-out | oracle integrity | "
                "oracle temporal |",
                "|---:|---:|---:|---:|---:|",
            ]
            for r, m in enumerate(g["rounds"]):
                lines.append(
                    f"| {r} | {m['reward_mean_eval']:.3f} | {m['oracle_aligned']:.3f} | "
                    f"{m['oracle_integrity']:.3f} | {m['oracle_temporal']:.3f} |"
                )
            if g["stopped_early"]:
                lines += ["", f"Stopped: {g['stopped_early']}. Rolled back to round {g['rolled_back_to']}."]
            else:
                lines += ["", "The guard did not fire: every round ran."]
        accuracy = ", ".join(f"{t} {v:.3f}" for t, v in self.table.reward_model_accuracy.items())
        lines += ["", f"Reward model accuracy against the oracle on the reward-model half: {accuracy}."]
        return "\n".join(lines)


class ToyGRPO:
    """Stage 0–2 once (the objectives comparison's), then every condition, the judge on every
    pipeline, and the guard experiment."""

    def __init__(self, config: ToyGRPOConfig, output_dir: str | Path):
        self.config = config
        self.output_dir = Path(output_dir)
        self.objectives = ToyObjectives(config.objectives, self.output_dir)
        self.loop = self.objectives.loop
        self.clock = self.objectives.clock

    # budgets -----------------------------------------------------------------------------------
    @property
    def clips_per_prompt(self) -> int:
        """The clip budget per training prompt: the offline objectives' stage 1."""
        return self.config.objectives.loop.clips_per_prompt

    def updates_per_round(self, train_prompts: int) -> int:
        c = self.config
        per_update = c.group_size * c.prompts_per_update
        clips = self.clips_per_prompt * train_prompts
        if clips % (c.rounds * per_update):
            raise ValueError(
                f"{clips} clips do not split into {c.rounds} rounds of updates of {per_update} clips"
            )
        return clips // (c.rounds * per_update)

    def budget(self, name: str, train_prompts: int) -> dict[str, int]:
        """Clips generated and denoiser passes (guided sampling calls the denoiser twice per step)."""
        loop, c = self.config.objectives.loop, self.config
        clips = self.clips_per_prompt * train_prompts
        sampling = clips * loop.inference_steps * 2
        rows = loop.finetune_steps * loop.batch_size
        if name in (BATON_OFFLINE, BATON_ROUNDS):  # + the pretrain batch of the β term
            return {"clips": clips, "sampling": sampling, "update": 2 * rows, "reference": 0}
        if name == KTO_OFFLINE:
            return {"clips": clips, "sampling": sampling, "update": rows, "reference": rows}
        # GRPO: the DDIM sampler's last step is deterministic; guided updates call the denoiser twice
        trained = max(1, round(c.timestep_fraction * (loop.inference_steps - 1)))
        update = clips * trained * 2
        return {
            "clips": clips,
            "sampling": sampling,
            "update": update,
            "reference": update if c.kl_beta else 0,
        }

    # runs --------------------------------------------------------------------------------------
    def online_config(self, name: str, objective: str, rounds: int, steps: int, lr: float, **fields: Any):
        loop = self.config.objectives.loop
        return toy_trainer_args(
            loop,
            self.output_dir / "online" / slug(name),
            steps,
            lr,
            OnlineConfig,
            num_rounds=rounds,
            objective=objective,
            beta=loop.beta,
            generation_seed=loop.seed + 500,
            num_inference_steps=loop.inference_steps,
            ddim_sampling=True,  # the toy world samples with DDIM
            guidance_scale=loop.guidance_scale,
            **{"eval_clips_per_prompt": 1, **fields},
        )

    def grpo_config(self, name: str, lr: float, train_prompts: int, **fields: Any) -> OnlineConfig:
        c = self.config
        return self.online_config(
            name,
            "grpo",
            fields.pop("rounds", c.rounds),
            fields.pop("steps", self.updates_per_round(train_prompts)),
            lr,
            clips_per_prompt=c.group_size,
            objective_args={
                "per_device_train_batch_size": c.prompts_per_update,
                "timestep_fraction": c.timestep_fraction,
                "beta": c.kl_beta,
                "eta": c.eta,
            },
            **fields,
        )

    def run_rounds(
        self,
        args: OnlineConfig,
        reward: Any,
        train: Dataset,
        held_out: Dataset,
        judges: dict | None = None,
    ) -> OnlineRunner:
        """The online rounds of one condition from the base model; returns the finished runner."""
        runner = OnlineRunner(
            TangoPipeline.from_pretrained(self.output_dir / "base"),
            reward,
            args,
            train,
            held_out,
            self.loop.pretrain_pairs,
            judges=judges,
        )
        runner.run()
        return runner

    def judge_rounds(
        self, name: str, runner: OnlineRunner, held_out: Dataset, clips_per_round: int
    ) -> list[dict]:
        """Every round's pipeline on the held-out prompts; the last round's row carries the name."""
        rows = []
        for r in range(1, runner.args.num_rounds + 1):
            label = name if r == runner.args.num_rounds else f"{name}: round {r}"
            row = self.clock(
                f"judge {label}", self.loop.judge, label, load_round_pipeline(runner.round_dir(r)), held_out
            )
            row["clips_so_far"] = r * clips_per_round
            rows.append(row)
        return rows

    def search_learning_rate(
        self, train: Dataset, held_out_token: Dataset, validation: Dataset
    ) -> tuple[float, list[dict]]:
        """GRPO on the reward model at each learning rate, trained on the training prompts without the
        validation prompts, scored by the oracle on fresh clips of those."""
        fit = train.filter(lambda row: row["prompt"] not in set(validation["prompt"]))
        entries = []
        for index, lr in enumerate(self.config.learning_rates):
            args = self.grpo_config(f"GRPO search {index}", lr, len(train))
            runner = self.run_rounds(args, copy.deepcopy(self.loop.reward_model), fit, held_out_token)
            pipeline = load_round_pipeline(runner.round_dir(args.num_rounds))
            score = self.objectives.validation_score(pipeline, validation)
            entries.append({"learning_rate": lr, "validation": score})
            logger.info("GRPO lr %g: validation %.3f", lr, score)
        best = max(entries, key=lambda e: e["validation"])  # the first of equals: the milder rate
        return float(best["learning_rate"]), entries

    def guard(self, train: Dataset, held_out: Dataset) -> dict[str, Any]:
        """GRPO rounds on a reward with a planted flaw, the guard watching the oracle on held-out prompts."""
        c = self.config
        picked = {task: 0 for task in TASKS}
        indices = []
        for i, task in enumerate(held_out["task"]):
            if picked[task] < c.guard_prompts:
                picked[task] += 1
                indices.append(i)
        judge_prompts = held_out.select(indices)
        flawed = WeightedScorers(
            [self.loop.reward_model, EventLoudnessReward(c.guard_flaw_event)], [1.0, c.guard_flaw_weight]
        )
        args = self.grpo_config(
            "GRPO guard",
            c.guard_learning_rate,
            len(train),
            rounds=c.guard_rounds,
            steps=c.guard_updates_per_round,
            eval_clips_per_prompt=2,
            judge_metric="oracle_aligned",
            early_stopping_patience=c.guard_patience,
        )
        runner = self.run_rounds(
            args, flawed, train, judge_prompts, judges={"oracle": OracleJudge(self.loop.oracle)}
        )
        summary = json.loads((runner.output_dir / "summary.json").read_text(encoding="utf-8"))
        return {
            "flaw_weight": c.guard_flaw_weight,
            "flaw_event": c.guard_flaw_event,
            "learning_rate": c.guard_learning_rate,
            "patience": c.guard_patience,
            "judge_prompts": len(judge_prompts),
            "rounds": summary["rounds"],
            "stopped_early": summary["stopped_early"],
            "rolled_back_to": summary.get("rolled_back_to"),
        }

    # the comparison ----------------------------------------------------------------------------
    def run(self) -> ToyGRPOResult:
        """:meth:`_run` on the configured thread count, given back after (the same count gives the
        same sums; a run in another's process leaves its threads as it found them)."""
        with torch_threads(self.config.objectives.loop.threads):
            return self._run()

    def _run(self) -> ToyGRPOResult:
        c, loop, clock = self.config, self.loop, self.clock
        names = list(c.conditions or CONDITIONS)
        unknown = sorted(set(names) - set(CONDITIONS))
        if unknown:
            raise ValueError(f"unknown conditions {unknown}; known: {list(CONDITIONS)}")
        base = clock("0 load pretrained toy world", loop.load_pretrained)
        train, held_out = loop.prompts()
        token = held_out.select([0, len(held_out) - 1])  # the runners' own judge; the oracle judges below
        validation = self.objectives.validation_split(train)
        feedback = clock("1 generate + label", loop.feedback_data, base, train)
        _, accuracy = clock("2 reward model", loop.reward_rows, feedback)
        human = feedback.filter(lambda row: row["source"] == "human" and row["label"] in (0, 1))
        rows = clock("2 rows per objective", self.objectives.rows_for, feedback, human, loop.reward_model)
        judged = [clock("judge base", loop.judge, "base (pretrained only)", base, held_out)]
        seconds: dict[str, float] = {}
        search: list[dict] = []
        clips_per_round = self.clips_per_prompt * len(train) // c.rounds
        grpo_lr = c.learning_rates[0]
        if GRPO_REWARD_MODEL in names or GRPO_ORACLE in names:
            grpo_lr, search = clock("search GRPO", self.search_learning_rate, train, token, validation)
        for name in names:
            if name in OFFLINE:
                objective, settings = OFFLINE[name]
                pipeline = clock(name, self.objectives.fine_tune, name, OBJECTIVES[objective], rows, settings)
                seconds[name] = clock.seconds[name]
                row = clock(f"judge {name}", loop.judge, name, pipeline, held_out)
                row["clips_so_far"] = self.clips_per_prompt * len(train)
                judged.append(row)
                continue
            if name == BATON_ROUNDS:
                steps = c.objectives.loop.finetune_steps // c.rounds
                args = self.online_config(
                    name,
                    "baton",
                    c.rounds,
                    steps,
                    OFFLINE[BATON_OFFLINE][1]["learning_rate"],
                    clips_per_prompt=self.clips_per_prompt // c.rounds,
                    prompts_per_batch=max(1, 16 // (self.clips_per_prompt // c.rounds)),
                )
                reward: Any = copy.deepcopy(loop.reward_model)
            else:
                args = self.grpo_config(name, grpo_lr, len(train))
                reward = (
                    copy.deepcopy(loop.reward_model)
                    if name == GRPO_REWARD_MODEL
                    else OracleReward(concatenate_datasets([train, held_out]), loop.oracle)
                )
            runner = clock(name, self.run_rounds, args, reward, train, token)
            seconds[name] = clock.seconds[name]
            judged += self.judge_rounds(name, runner, held_out, clips_per_round)
        guard = clock("guard", self.guard, train, held_out) if c.guard_rounds else {}
        references = {"base": judged[0]}
        for reference, short in ((BATON_OFFLINE, "BATON offline"), (KTO_OFFLINE, "KTO offline")):
            found = [row for row in judged if row["model"] == reference]
            if found:
                references[short] = found[0]
        differences = paired_differences(
            judged[1:], references, c.objectives.loop.bootstrap_samples, c.objectives.loop.seed
        )
        budgets = {name: self.budget(name, len(train)) for name in names}
        curve = [
            {
                "condition": row["model"].split(": round")[0],
                "clips": row.get("clips_so_far", 0),
                **{t: row[t] for t in TASKS},
            }
            for row in judged
        ]
        stats: dict[str, Any] = {
            "train prompts": len(train),
            "validation prompts (of the train prompts)": len(validation),
            "held-out prompts": len(held_out),
            "stage 1 clips": len(feedback),
            "human rows (1/0)": len(human),
            "GRPO learning rate (chosen)": grpo_lr,
        }
        table = ToyLoopResult(
            judged, accuracy, stats, asdict(c.objectives.loop), dict(clock.seconds), differences
        )
        return ToyGRPOResult(table, budgets, seconds, search, curve, guard, asdict(c))


def plot_grpo(result: ToyGRPOResult, path: Path) -> Path:
    """Held-out alignment against clips generated (95 % intervals) per task, and the guard's rounds."""
    figure, axes = subplots(1, 3, figsize=(17, 4.8))
    conditions = list(dict.fromkeys(point["condition"] for point in result.curve))
    base = result.curve[0]
    for axis, task in zip(axes[:2], TASKS, strict=True):
        for offset, name in enumerate(conditions[1:]):
            points = [base] + [p for p in result.curve if p["condition"] == name]
            x = np.array([p["clips"] for p in points], dtype=float) + 4.0 * (offset - len(conditions) / 2)
            rate = np.array([p[task][0] for p in points])
            errors = np.array([[p[task][0] - p[task][1], p[task][2] - p[task][0]] for p in points]).T
            axis.errorbar(x, rate, yerr=errors, marker="o", capsize=3, label=name)
        axis.set_xlabel("clips generated (0 = pretrained toy TANGO)")
        axis.set_ylabel("aligned (oracle), 95% CI")
        axis.set_title(task)
    axes[0].legend(fontsize=7)
    axis = axes[2]
    if result.guard:
        history = result.guard["rounds"]
        rounds = list(range(len(history)))
        axis.plot(rounds, [m["oracle_aligned"] for m in history], marker="o", label="oracle aligned (judge)")
        twin = axis.twinx()
        twin.plot(
            rounds,
            [m["reward_mean_eval"] for m in history],
            marker="s",
            color="#c44e52",
            label="flawed reward",
        )
        twin.set_ylabel("flawed reward")
        if result.guard["stopped_early"]:
            axis.axvline(len(history) - 1, color="grey", linestyle="--", label="guard fired")
        axis.set_xlabel("round")
        axis.set_xticks(rounds)
        lines, labels = axis.get_legend_handles_labels()
        twin_lines, twin_labels = twin.get_legend_handles_labels()
        axis.legend(lines + twin_lines, labels + twin_labels, fontsize=7, loc="lower left")
        axis.set_title("the guard: reward with a planted flaw")
    figure.suptitle("GRPO against BATON in the toy world: equal clips generated, oracle judge")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    return path


def save_grpo_result(result: ToyGRPOResult, output_dir: str | Path) -> dict[str, Path]:
    """``toy_grpo.json``, ``.md`` and ``.png``."""
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    paths = {k: output_dir / f"toy_grpo.{k}" for k in ("json", "md", "png")}
    paths["json"].write_text(json.dumps(asdict(result), indent=2) + "\n", encoding="utf-8")
    paths["md"].write_text(result.markdown() + "\n", encoding="utf-8")
    plot_grpo(result, paths["png"])
    return paths

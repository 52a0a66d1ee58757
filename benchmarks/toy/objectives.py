"""Which objective buys the most alignment from BATON's binary labels? Every objective on the same
clips and labels, in a toy world whose base model is neither at the floor nor at the ceiling of
either task.

The world: the shipped pretrained toy TANGO; integrity captions name 2 or 3 events, temporal captions
two events in order ("A, followed by B": with three, the base model placed them in order in 2 % of
clips, so nothing could move the task — measured in the README). Stage 1 and 2 are the toy loop's
(:class:`~toy.loop.ToyLoop`): 5 clips per training prompt, simulated people label half the
prompts, a reward model trained on those labels scores the rest. Then each objective fine-tunes the
base model for the same number of steps:

- BATON Eq. 7 on the human rows only (hard labels), and on the human rows plus the reward model's
  scores (probabilities), as the paper does;
- Diffusion-KTO on the same rows (aligned desirable, not aligned undesirable; reward-model rows
  thresholded at 0.5);
- Diffusion-DPO and CRPO on each prompt's best clip against its worst, ranked by the people's label
  where there is one and by the reward model's score elsewhere;
- BATON Eq. 7 on the noiseless oracle's labels of every clip: what perfect feedback buys.

Hyper-parameters come from a grid per objective, each point trained on the rows of part of the
training prompts and scored (oracle alignment, both tasks) on fresh clips of the other training
prompts — never on the held-out prompts. The chosen point is then trained on every row and judged on
the held-out prompts with the same clip seeds for every model (paired differences), with the CLAP
score and the share of clips holding an event the caption does not name (collapse raises it).
"""

from __future__ import annotations

import itertools
import json
import logging
import math
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from datasets import Dataset, concatenate_datasets

from baton_tta.data.audio import SAMPLING_RATE
from baton_tta.data.pairs import ranked_pairs
from baton_tta.data.schema import binary_features
from baton_tta.hub.figures import subplots
from baton_tta.pipelines.pipeline_tango import TangoPipeline
from baton_tta.reward import BatonRewardModel
from baton_tta.scoped import torch_threads
from baton_tta.toy.config import toy_trainer_args
from baton_tta.toy.judge import ToyJudge
from baton_tta.toy.pretrained import PRETRAINED_DIR
from baton_tta.toy.report import ToyLoopResult, slug
from baton_tta.toy.statistics import (
    bootstrap_interval,
    clips_for_half_width,
    paired_differences,
    paired_half_width,
    paired_variance_components,
)
from baton_tta.toy.timing import StageClock
from baton_tta.toy.world import TASKS
from baton_tta.trainer.objectives import objective_named
from toy.config import ToyLabConfig
from toy.loop import ToyLoop

logger = logging.getLogger(__name__)

BATON = "BATON Eq. 7, labels + reward-model scores"
ORACLE = "BATON Eq. 7, oracle labels (upper bound)"
#: name → which registered objective and which rows (the oracle condition searches BATON's grid on its own labels).
OBJECTIVES: dict[str, dict[str, str]] = {
    "BATON Eq. 7, human labels only": {"trainer": "baton", "rows": "human"},
    BATON: {"trainer": "baton", "rows": "both"},
    "Diffusion-KTO": {"trainer": "kto", "rows": "both"},
    "Diffusion-DPO": {"trainer": "dpo", "rows": "pairs"},
    "CRPO (DPO + chosen loss)": {"trainer": "crpo", "rows": "pairs"},
    ORACLE: {"trainer": "baton", "rows": "oracle"},
}
#: The half-width every paired difference against the base is meant to reach (95 %, both tasks).
PRECISION_TARGET = 0.04
#: The grid searched for each trainer on the validation prompts.
GRIDS: dict[str, dict[str, tuple[float, ...]]] = {
    "baton": {"learning_rate": (1e-4, 3e-4)},
    "kto": {"kto_beta": (300.0, 3000.0), "learning_rate": (1e-4, 3e-4)},
    "dpo": {"dpo_beta": (10.0, 100.0, 1000.0), "learning_rate": (1e-4, 3e-4)},
    "crpo": {"dpo_beta": (10.0, 100.0, 1000.0), "learning_rate": (2e-4,)},
}


def objectives_loop_config(temporal_judge_clips: int = 12) -> ToyLabConfig:
    """The world both tasks can be seen in: temporal captions of two ordered events (90 of them: 30
    train, 60 held out), 10 clips per training prompt (twice the positives per prompt the oracle can
    pick from), 100 held-out integrity prompts × 8 clips and the 60 temporal × ``temporal_judge_clips``.
    The temporal task has only 60 held-out prompts, so its paired intervals narrow only with more clips
    per prompt: at 8 Diffusion-KTO's was ±4.2; a 16-clip run's variance split said 7 would do for every
    objective but Diffusion-DPO, and 12 keeps that margin while the benchmark stays within 40 minutes
    (16 took up to 41). The GRPO comparison's table was measured with 8."""
    return ToyLabConfig(
        pretrained=str(PRETRAINED_DIR),
        group_sizes={"integrity": (2, 3), "temporal": (2,)},
        clips_per_prompt=10,
        eval_prompts={"integrity": 100, "temporal": 60},
        eval_clips_per_prompt={"integrity": 8, "temporal": temporal_judge_clips},
        reward_curve_points=0,
        round_trip_clips=0,
    )


def grid_points(grid: dict[str, tuple[float, ...]]) -> list[dict[str, float]]:
    names = list(grid)
    return [dict(zip(names, values, strict=True)) for values in itertools.product(*grid.values())]


@dataclass
class ToyObjectivesConfig:
    """Sizes of the comparison; :meth:`smoke` is the seconds-long version the tests use."""

    loop: ToyLabConfig = field(default_factory=objectives_loop_config)
    #: Training prompts per task held back from the grid search's fine-tunes and scored instead.
    validation_prompts: int = 8
    #: Clips per validation prompt, and per held-out prompt for the label curve's runs (the main
    #: table's 8 are the costliest part of the benchmark).
    quick_clips_per_prompt: int = 4
    #: Share of the human-labelled prompts in the label curve (1.0 is the main table's run).
    label_fractions: tuple[float, ...] = (0.25, 0.5)
    #: How many objectives (best validation scores, the oracle aside) get a label curve.
    curve_objectives: int = 2
    #: Names of OBJECTIVES to run; all of them when None.
    objectives: tuple[str, ...] | None = None
    grids: dict[str, dict[str, tuple[float, ...]]] = field(default_factory=lambda: dict(GRIDS))

    @classmethod
    def smoke(cls) -> ToyObjectivesConfig:
        loop = ToyLabConfig.smoke()
        loop.pretrained = str(PRETRAINED_DIR)
        loop.group_sizes = {"integrity": (2, 3), "temporal": (2,)}
        loop.reward_curve_points, loop.round_trip_clips = 0, 0
        grids = {kind: {k: v[:1] for k, v in grid.items()} for kind, grid in GRIDS.items()}
        grids["dpo"] = {"dpo_beta": (10.0, 100.0), "learning_rate": (1e-4,)}
        return cls(
            loop=loop,
            validation_prompts=1,
            quick_clips_per_prompt=2,
            label_fractions=(0.5,),
            curve_objectives=1,
            grids=grids,
        )


@dataclass
class ToyObjectivesResult:
    """The held-out table (as the toy loop's), the grid search, each objective's chosen settings and
    wall time, and the label curve."""

    table: ToyLoopResult
    search: list[dict]
    chosen: dict[str, dict[str, float]]
    seconds: dict[str, float]
    curve: list[dict]
    config: dict

    def precision_lines(self, half_width: float = PRECISION_TARGET) -> list[str]:
        """Each objective's paired difference against the base, per task: the half-width of its
        interval (the bootstrap's, as in the differences table), the variance split behind it
        (:func:`~baton_tta.toy.statistics.paired_variance_components`), the floor with infinitely
        many clips on these prompts, and the clips per prompt ± ``half_width`` would take."""
        base, *others = self.table.rows
        differences = {entry["model"]: entry for entry in self.table.differences}
        lines = [
            f"Precision of each paired difference against the base (target ±{100 * half_width:g} points; "
            "floor and clips from the split of its variance):",
            "",
            "| objective | task | prompts × clips | half-width | between-prompt variance | within | "
            "floor (∞ clips) | clips per prompt for the target |",
            "|---|---|---:|---:|---:|---:|---:|---:|",
        ]
        for row in others:
            for task in TASKS:
                first, second = row["aligned"][task], base["aligned"][task]
                prompts, clips = len(first), len(first[0])
                _, low, high = differences[row["model"]][f"{task} - base"]
                width = f"±{100 * (high - low) / 2:.1f}"
                between, within = paired_variance_components(first, second)
                if math.isnan(between):  # one prompt or one clip each: no split to make
                    lines.append(
                        f"| {row['model']} | {task} | {prompts} × {clips} | {width} | — | — | — | — |"
                    )
                    continue
                floor = paired_half_width(between, within, prompts, math.inf)
                needed = clips_for_half_width(between, within, prompts, half_width)
                lines.append(
                    f"| {row['model']} | {task} | {prompts} × {clips} | {width} | {between:.4f} "
                    f"| {within:.3f} | ±{100 * floor:.1f} | {needed if needed else 'none on these prompts'} |"
                )
        return lines

    def markdown(self) -> str:
        rows = {row["model"]: row for row in self.table.rows}
        lines = [
            "| objective | integrity aligned [95% CI] | temporal aligned [95% CI] | CLAP | unnamed-event clips "
            "| chosen settings | wall time (search + final) |",
            "|---|---:|---:|---:|---:|---|---:|",
        ]
        for name, row in rows.items():
            cells = [name]
            for task in TASKS:
                rate, low, high = row[task]
                cells.append(f"{rate:.3f} [{low:.3f}, {high:.3f}]")
            cells += [f"{row['clap_score']:.3f}", f"{row['unnamed_event_rate']:.3f}"]
            settings = self.chosen.get(name)
            cells.append(", ".join(f"{k} {v:g}" for k, v in settings.items()) if settings else "—")
            seconds = self.seconds.get(name)
            cells.append(f"{seconds:.0f} s" if seconds is not None else "—")
            lines.append("| " + " | ".join(cells) + " |")
        differences = self.table.markdown().split("\n\nPaired differences")[1].split("\n\nReward model")[0]
        lines += ["", "Paired differences" + differences, "", *self.precision_lines()]
        lines += ["", "Grid search (mean oracle alignment of both tasks on the validation prompts):", ""]
        lines += ["| objective | settings | validation aligned |", "|---|---|---:|"]
        for entry in self.search:
            point = ", ".join(f"{k} {v:g}" for k, v in entry["settings"].items())
            lines.append(f"| {entry['objective']} | {point} | {entry['validation']:.3f} |")
        if self.curve:
            lines += [
                "",
                "| objective | human labels | integrity aligned | temporal aligned |",
                "|---|---:|---:|---:|",
            ]
            for entry in self.curve:
                rates = [
                    f"{entry[task][0]:.3f} [{entry[task][1]:.3f}, {entry[task][2]:.3f}]" for task in TASKS
                ]
                lines.append(f"| {entry['objective']} | {entry['labels']} | {rates[0]} | {rates[1]} |")
        accuracy = ", ".join(f"{t} {v:.3f}" for t, v in self.table.reward_model_accuracy.items())
        lines += ["", f"Reward model accuracy against the oracle on the reward-model half: {accuracy}."]
        return "\n".join(lines)


class ToyObjectives:
    """Stage 0–2 once (the toy loop), then per objective: grid search, final fine-tune, judge."""

    def __init__(self, config: ToyObjectivesConfig, output_dir: str | Path):
        self.config = config
        self.output_dir = Path(output_dir)
        self.loop = ToyLoop(config.loop, self.output_dir)
        self.clock = StageClock()
        self._quick_judge: ToyJudge | None = None

    def quick_judge(self, name: str, pipeline: TangoPipeline, prompts: Dataset) -> dict[str, Any]:
        """The oracle judge with ``quick_clips_per_prompt`` clips per prompt."""
        if self._quick_judge is None:
            clips = dict.fromkeys(TASKS, self.config.quick_clips_per_prompt)
            config = replace(self.config.loop, eval_clips_per_prompt=clips)
            self._quick_judge = ToyJudge(config, self.loop.oracle, self.loop.clap, self.loop.clap_extractor)
        return self._quick_judge(name, pipeline, prompts)

    # data --------------------------------------------------------------------------------------
    def rows_for(
        self, feedback: Dataset, human: Dataset, reward_model: BatonRewardModel
    ) -> dict[str, Dataset]:
        """Every objective's training rows from one set of human labels and the reward model trained
        on them: the human rows, those plus the reward model's scores of every other clip, the
        reward-model-ranked pairs, and the oracle's labels of every clip."""
        labelled = {(row["prompt"], int(row["seed"])) for row in human.select_columns(["prompt", "seed"])}
        others = [
            i
            for i, (prompt, seed) in enumerate(zip(feedback["prompt"], feedback["seed"], strict=True))
            if (prompt, int(seed)) not in labelled
        ]
        waveforms = self.loop.waveforms
        scores = reward_model.score(list(feedback["prompt"]), waveforms, SAMPLING_RATE)
        reward_rows = feedback.select(others).map(
            lambda _, k: {"source": "reward_model", "reward": float(scores[others[k]]), "label": -1},
            with_indices=True,
            desc="reward rows",
        )
        # pairs rank each prompt's clips by the people's label where there is one (1 over 0: a margin
        # of 1), by the reward model's score elsewhere — the same labels every objective gets
        label_of = {
            (row["prompt"], int(row["seed"])): row["label"]
            for row in human.select_columns(["prompt", "seed", "label"])
        }
        ranking = [
            float(label_of.get((prompt, int(seed)), score))
            for prompt, seed, score in zip(feedback["prompt"], feedback["seed"], scores, strict=True)
        ]
        pairs, _ = ranked_pairs(feedback, ranking, self.config.loop.dpo_min_margin)
        features = binary_features()
        return {
            "human": human,
            "both": concatenate_datasets([human.cast(features), reward_rows.cast(features)]),
            "pairs": pairs,
            "oracle": self.loop.oracle_rows(feedback),
        }

    @staticmethod
    def without_prompts(rows: dict[str, Dataset], prompts: set[str]) -> dict[str, Dataset]:
        return {kind: data.filter(lambda row: row["prompt"] not in prompts) for kind, data in rows.items()}

    # training ----------------------------------------------------------------------------------
    def fine_tune(
        self, run: str, spec: dict[str, str], rows: dict[str, Dataset], settings: dict
    ) -> TangoPipeline:
        """The base model fine-tuned by ``spec``'s trainer on its rows, for the loop's steps unless
        ``settings`` names ``max_steps``; every other setting is a field of the objective's config."""
        c = self.config.loop
        objective = objective_named(spec["trainer"])  # the registry's config and trainer
        config_class, trainer_class = objective.config_class, objective.trainer_class
        fields = {k: v for k, v in settings.items() if k not in ("learning_rate", "max_steps")}
        learning_rate = settings.get("learning_rate", c.finetune_learning_rate)
        steps = int(settings.get("max_steps", c.finetune_steps))
        extra: dict[str, Any] = {}
        if spec["trainer"] == "baton":
            extra = {"beta": c.beta, "human_to_reward_ratio": None}
        elif spec["trainer"] == "kto":
            extra = {"human_to_reward_ratio": None}
        args = toy_trainer_args(
            c,
            self.output_dir / "runs" / slug(run),
            steps,
            learning_rate,
            config_class,
            **{**extra, **fields},  # a setting searched overrides the loop's (BATON's beta)
        )
        pipeline = TangoPipeline.from_pretrained(self.output_dir / "base")
        if spec["trainer"] == "baton":
            trainer = trainer_class(
                pipeline, args, train_dataset=rows[spec["rows"]], pretrain_dataset=self.loop.pretrain_pairs
            )
        else:
            trainer = trainer_class(pipeline, args, train_dataset=rows[spec["rows"]])
        trainer.train()
        return pipeline

    def validation_score(self, pipeline: TangoPipeline, validation: Dataset) -> float:
        judged = self.quick_judge("validation", pipeline, validation)
        return float(np.mean([judged[task][0] for task in TASKS]))

    def search(
        self, name: str, spec: dict[str, str], rows: dict[str, Dataset], validation: Dataset
    ) -> tuple[dict[str, float], list[dict]]:
        """Every grid point trained without the validation prompts' rows and scored on them."""
        fit = self.without_prompts(rows, set(validation["prompt"]))
        entries: list[dict[str, Any]] = []
        for index, settings in enumerate(grid_points(self.config.grids[spec["trainer"]])):
            pipeline = self.fine_tune(f"{name} search {index}", spec, fit, settings)
            entries.append(
                {
                    "objective": name,
                    "settings": settings,
                    "validation": self.validation_score(pipeline, validation),
                }
            )
            logger.info("%s %s: validation %.3f", name, settings, entries[-1]["validation"])
        best = max(entries, key=lambda e: e["validation"])  # the first of equals: grids list the milder first
        chosen: dict[str, float] = best["settings"]
        return chosen, entries

    # the comparison ----------------------------------------------------------------------------
    def validation_split(self, train: Dataset) -> Dataset:
        """The first ``validation_prompts`` training prompts of each task: the grid search's judge."""
        n = self.config.validation_prompts
        picked = dict.fromkeys(TASKS, 0)
        indices = []
        for i, task in enumerate(train["task"]):
            if picked[task] < n:
                picked[task] += 1
                indices.append(i)
        return train.select(indices)

    def run(self) -> ToyObjectivesResult:
        """:meth:`_run` on the configured thread count, given back after (the same count gives the
        same sums; a run in another's process leaves its threads as it found them)."""
        with torch_threads(self.config.loop.threads):
            return self._run()

    def _run(self) -> ToyObjectivesResult:
        c, loop, clock = self.config, self.loop, self.clock
        names = list(c.objectives or OBJECTIVES)
        unknown = sorted(set(names) - set(OBJECTIVES))
        if unknown:
            raise ValueError(f"unknown objectives {unknown}; known: {list(OBJECTIVES)}")
        base = clock("0 load pretrained toy world", loop.load_pretrained)
        train, held_out = loop.prompts()
        validation = self.validation_split(train)
        feedback = clock("1 generate + label", loop.feedback_data, base, train)
        _, accuracy = clock("2 reward model", loop.reward_rows, feedback)
        human = feedback.filter(lambda row: row["source"] == "human" and row["label"] in (0, 1))
        rows = clock("2 rows per objective", self.rows_for, feedback, human, loop.reward_model)
        judged = [clock("judge base", loop.judge, "base (pretrained only)", base, held_out)]
        chosen: dict[str, dict[str, float]] = {}
        search: list[dict] = []
        seconds: dict[str, float] = {}
        for name in names:
            spec = OBJECTIVES[name]
            settings, entries = clock(f"search {name}", self.search, name, spec, rows, validation)
            search += entries
            chosen[name] = settings
            pipeline = clock(f"3 {name}", self.fine_tune, name, spec, rows, settings)
            seconds[name] = clock.seconds.get(f"search {name}", 0.0) + clock.seconds[f"3 {name}"]
            judged.append(clock(f"judge {name}", loop.judge, name, pipeline, held_out))
        references = {"base": judged[0]}
        reference = [row for row in judged if row["model"] == BATON]
        if reference:
            references["BATON"] = reference[0]
        differences = paired_differences(judged[1:], references, c.loop.bootstrap_samples, c.loop.seed)
        best = self._best_by_validation(search)
        curve = self.label_curve(best, feedback, human, held_out, chosen, judged)
        stats = {
            "train prompts": len(train),
            "validation prompts (of the train prompts)": len(validation),
            "held-out prompts": len(held_out),
            "generated clips": len(feedback),
            "human rows (1/0)": len(human),
            "DPO pairs": len(rows["pairs"]),
            "base clips aligned (oracle)": int(sum(loop.truth)),
        }
        table = ToyLoopResult(judged, accuracy, stats, asdict(c.loop), dict(clock.seconds), differences)
        return ToyObjectivesResult(table, search, chosen, seconds, curve, asdict(c))

    def _best_by_validation(self, search: list[dict]) -> list[str]:
        """The objectives whose best grid point scored highest on the validation prompts."""
        best: dict[str, float] = {}
        for entry in search:
            best[entry["objective"]] = max(best.get(entry["objective"], -1.0), entry["validation"])
        ranked = sorted(best, key=lambda name: -best[name])
        return ranked[: self.config.curve_objectives]

    def label_curve(
        self,
        objectives: list[str],
        feedback: Dataset,
        human: Dataset,
        held_out: Dataset,
        chosen: dict[str, dict[str, float]],
        judged: list[dict],
    ) -> list[dict]:
        """Held-out alignment against the number of human labels: the first share of the labelled
        prompts keep their labels, a reward model trained on them alone scores every other clip, and
        each objective trains on what that gives (its chosen settings), judged with
        ``quick_clips_per_prompt`` clips per held-out prompt; 100 % is the main table's run, read
        from its first clips of each prompt."""
        curve = []
        prompts = list(dict.fromkeys(human["prompt"]))
        for fraction in self.config.label_fractions:
            kept = set(prompts[: max(1, round(fraction * len(prompts)))])
            subset = human.filter(lambda row, kept=kept: row["prompt"] in kept)
            reward_model = self.loop._reward_model(subset)
            rows = self.rows_for(feedback, subset, reward_model)
            for name in objectives:
                run = f"{name} labels {len(subset)}"
                pipeline = self.clock(
                    f"curve {run}", self.fine_tune, run, OBJECTIVES[name], rows, chosen[name]
                )
                row = self.clock(f"judge {run}", self.quick_judge, run, pipeline, held_out)
                curve.append({"objective": name, "labels": len(subset), **{t: row[t] for t in TASKS}})
        n, c = self.config.quick_clips_per_prompt, self.config.loop
        for name in objectives:  # 100 %: the main table's run, its first n clips per prompt
            full = next(row for row in judged if row["model"] == name)
            rates = {
                t: bootstrap_interval(
                    [flags[:n] for flags in full["aligned"][t]], c.bootstrap_samples, c.seed
                )
                for t in TASKS
            }
            curve.append({"objective": name, "labels": len(human), **rates})
        return sorted(curve, key=lambda p: (p["objective"], p["labels"]))


def plot_objectives(result: ToyObjectivesResult, path: Path) -> Path:
    """Held-out alignment per objective (95 % intervals), and the label curve, per task."""
    rows = result.table.rows
    figure, axes = subplots(2, 2, figsize=(13, 8))
    for column, task in enumerate(TASKS):
        axis = axes[0][column]
        rates = np.array([row[task][0] for row in rows])
        errors = np.array([[row[task][0] - row[task][1], row[task][2] - row[task][0]] for row in rows]).T
        axis.barh(range(len(rows)), rates, xerr=errors, color="#4c72b0", capsize=3)
        axis.set_yticks(range(len(rows)), [row["model"] for row in rows], fontsize=8)
        axis.invert_yaxis()
        axis.set_xlim(0, 1)
        axis.set_title(f"{task}: held-out alignment (oracle)")
        axis = axes[1][column]
        for name in dict.fromkeys(point["objective"] for point in result.curve):
            points = [p for p in result.curve if p["objective"] == name]
            labels = [p["labels"] for p in points]
            rate = np.array([p[task][0] for p in points])
            band = np.array([[p[task][0] - p[task][1], p[task][2] - p[task][0]] for p in points]).T
            axis.errorbar(labels, rate, yerr=band, marker="o", capsize=3, label=name)
        axis.set_xlabel("human labels")
        axis.set_ylabel("aligned (oracle), 95% CI")
        axis.set_title(f"{task}: alignment against labels")
        axis.legend(fontsize=7)
    figure.suptitle("Objectives for BATON's binary labels, toy world: same clips, labels and steps")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    return path


def save_objectives_result(result: ToyObjectivesResult, output_dir: str | Path) -> dict[str, Path]:
    """``toy_objectives.json``, ``.md`` and ``.png``."""
    output_dir = Path(output_dir)
    paths = {k: output_dir / f"toy_objectives.{k}" for k in ("json", "md", "png")}
    paths["json"].write_text(json.dumps(asdict(result), indent=2) + "\n", encoding="utf-8")
    paths["md"].write_text(result.markdown() + "\n", encoding="utf-8")
    plot_objectives(result, paths["png"])
    return paths

"""When does BATON's Eq. 7 move the model? Its effect against the base over the dose — optimizer steps ×
learning rate, per kind of labels (the oracle's perfect labels; people's labels plus the reward model's
scores) — with any other setting of the objective (β, the reward transform) on top.

The world is the objectives comparison's (:mod:`toy.objectives`: the shipped toy TANGO, both tasks
visible, 5 clips per training prompt, people label half the prompts, a reward model scores the rest).
Every point is trained without the validation prompts' rows and judged on those prompts only, against
the base model on the same prompts and clip seeds (paired differences, 95 % intervals over prompts):
settings are chosen there, never on the held-out judge.
"""

from __future__ import annotations

import itertools
import json
import logging
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from baton_tta.hub.figures import subplots
from baton_tta.scoped import torch_threads
from baton_tta.toy.statistics import paired_difference
from baton_tta.toy.world import TASKS
from toy.objectives import ToyObjectives, ToyObjectivesConfig, objectives_loop_config

logger = logging.getLogger(__name__)

#: the rows each kind of labels trains on (:meth:`toy.objectives.ToyObjectives.rows_for`)
LABELS = {"oracle": "oracle labels", "both": "people's labels + reward-model rows"}


def dose_world() -> ToyObjectivesConfig:
    """The objectives world with 12 validation prompts per task (each point's judge) × 4 clips."""
    return ToyObjectivesConfig(loop=objectives_loop_config(), validation_prompts=12, quick_clips_per_prompt=4)


@dataclass
class ToyDoseConfig:
    world: ToyObjectivesConfig = field(default_factory=dose_world)
    steps: tuple[int, ...] = (50, 150, 400)
    learning_rates: tuple[float, ...] = (1e-4, 3e-4, 1e-3)
    labels: tuple[str, ...] = ("oracle", "both")
    #: further settings of Eq. 7, each tried at every kind of labels' best (steps, learning rate)
    variations: tuple[dict[str, Any], ...] = ({"beta": 0.0}, {"beta": 2.0}, {"reward_transform": "exp"})

    @classmethod
    def second_pass(cls) -> ToyDoseConfig:
        """The finer pass the first one called for, on people's labels plus reward-model rows (what the
        main job trains on): three times the clips per validation prompt (12: the first pass's ±6–15
        points came from 4), β 2 (the first pass's best variation) at the low learning rate for up to
        800 steps, then β 4 and 8 at the best of those."""
        world = dose_world()
        world.quick_clips_per_prompt = 12
        world.loop.beta = 2.0
        return cls(
            world=world,
            steps=(150, 400, 800),
            learning_rates=(1e-4,),
            labels=("both",),
            variations=({"beta": 4.0}, {"beta": 8.0}),
        )

    @classmethod
    def smoke(cls) -> ToyDoseConfig:
        world = ToyObjectivesConfig.smoke()
        return cls(
            world=replace(world, validation_prompts=1, quick_clips_per_prompt=2),
            steps=(1, 2),
            learning_rates=(1e-4,),
            labels=("oracle",),
            variations=({"beta": 0.0},),
        )


def _describe(settings: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v:g}" if isinstance(v, int | float) else f"{k} {v}" for k, v in settings.items())


@dataclass
class ToyDoseResult:
    points: list[dict]
    config: dict
    seconds: dict[str, float] = field(default_factory=dict)

    def markdown(self) -> str:
        lines = [
            "| labels | settings | integrity − base [95% CI] | temporal − base [95% CI] | unnamed-event clips "
            "| CLAP | verdict |",
            "|---|---|---:|---:|---:|---:|---|",
        ]
        for p in self.points:
            cells = [LABELS[p["labels"]], _describe(p["settings"])]
            cells += [f"{d:+.3f} [{lo:+.3f}, {hi:+.3f}]" for d, lo, hi in (p[f"{t} - base"] for t in TASKS)]
            cells += [f"{p['unnamed_event_rate']:.3f}", f"{p['clap_score']:.3f}", p["verdict"]]
            lines.append("| " + " | ".join(cells) + " |")
        base = self.config.get("base", {})
        if base:
            lines += ["", f"Base on the validation prompts: {_describe(base)}."]
        return "\n".join(lines)


def verdict(differences: dict[str, tuple[float, float, float]], unnamed: float, base_unnamed: float) -> str:
    """ "beats the base" when some task's interval lies above zero and none below; "collapses" when
    every task falls or unnamed events rise by half; else "below", or "level"."""
    lows = [differences[t][1] for t in TASKS]
    highs = [differences[t][2] for t in TASKS]
    if unnamed > 1.5 * base_unnamed + 0.05 or all(h < 0 for h in highs):
        return "collapses"
    if any(lo > 0 for lo in lows) and not any(h < 0 for h in highs):
        return "beats the base"
    if any(h < 0 for h in highs):
        return "below the base"
    return "level"


class ToyDose:
    """Stage 0–2 once, the base judged on the validation prompts, then one fine-tune per point."""

    def __init__(self, config: ToyDoseConfig, output_dir: str | Path):
        self.config = config
        self.output_dir = Path(output_dir)
        self.lab = ToyObjectives(config.world, self.output_dir)

    def point(self, labels: str, settings: dict[str, Any], rows, validation, base: dict) -> dict:
        world = self.config.world.loop
        spec = {"trainer": "baton", "rows": labels}
        run = f"{labels} {_describe(settings)}"
        pipeline = self.lab.clock(run, self.lab.fine_tune, run, spec, rows, settings)
        judged = self.lab.quick_judge(run, pipeline, validation)
        differences = {
            t: paired_difference(
                judged["aligned"][t], base["aligned"][t], world.bootstrap_samples, world.seed
            )
            for t in TASKS
        }
        point = {
            "labels": labels,
            "settings": settings,
            **{f"{t} - base": differences[t] for t in TASKS},
            "unnamed_event_rate": judged["unnamed_event_rate"],
            "clap_score": judged["clap_score"],
            "verdict": verdict(differences, judged["unnamed_event_rate"], base["unnamed_event_rate"]),
            "seconds": self.lab.clock.seconds[run],
        }
        logger.info("%s: %s", run, {k: v for k, v in point.items() if k != "settings"})
        return point

    def run(self) -> ToyDoseResult:
        """:meth:`_run` on the configured thread count, given back after (the same count gives the
        same sums; a run in another's process leaves its threads as it found them)."""
        with torch_threads(self.config.world.loop.threads):
            return self._run()

    def _run(self) -> ToyDoseResult:
        c, lab = self.config, self.lab
        loop = lab.loop
        base_pipeline = lab.clock("0 load pretrained toy world", loop.load_pretrained)
        train, _ = loop.prompts()
        validation = lab.validation_split(train)
        feedback = lab.clock("1 generate + label", loop.feedback_data, base_pipeline, train)
        lab.clock("2 reward model", loop.reward_rows, feedback)
        human = feedback.filter(lambda row: row["source"] == "human" and row["label"] in (0, 1))
        rows = lab.without_prompts(
            lab.rows_for(feedback, human, loop.reward_model), set(validation["prompt"])
        )
        base = lab.quick_judge("base", base_pipeline, validation)
        points = []
        for labels in c.labels:
            grid = [
                {"max_steps": steps, "learning_rate": lr}
                for steps, lr in itertools.product(c.steps, c.learning_rates)
            ]
            dose = [self.point(labels, settings, rows, validation, base) for settings in grid]
            points += dose
            best = max(dose, key=lambda p: np.mean([p[f"{t} - base"][0] for t in TASKS]))["settings"]
            points += [self.point(labels, {**best, **v}, rows, validation, base) for v in c.variations]
        base_summary = {f"{t} aligned": base[t][0] for t in TASKS}
        base_summary["unnamed-event clips"] = base["unnamed_event_rate"]
        config = {**asdict(c), "base": base_summary}
        return ToyDoseResult(points, config, dict(lab.clock.seconds))


def plot_dose(result: ToyDoseResult, path: Path) -> Path:
    """Effect against steps, one line per learning rate, a panel per task and kind of labels."""
    kinds = list(dict.fromkeys(p["labels"] for p in result.points))
    figure, axes = subplots(len(kinds), len(TASKS), figsize=(5 * len(TASKS), 3.2 * len(kinds)), squeeze=False)
    for row, kind in enumerate(kinds):
        grid = [
            p
            for p in result.points
            if p["labels"] == kind and set(p["settings"]) == {"max_steps", "learning_rate"}
        ]
        for column, task in enumerate(TASKS):
            axis = axes[row][column]
            for lr in sorted({p["settings"]["learning_rate"] for p in grid}):
                line = sorted(
                    (p for p in grid if p["settings"]["learning_rate"] == lr),
                    key=lambda p: p["settings"]["max_steps"],
                )
                steps = [p["settings"]["max_steps"] for p in line]
                values = np.array([p[f"{task} - base"] for p in line])
                axis.errorbar(
                    steps,
                    values[:, 0],
                    yerr=[values[:, 0] - values[:, 1], values[:, 2] - values[:, 0]],
                    marker="o",
                    capsize=3,
                    label=f"lr {lr:g}",
                )
            axis.axhline(0.0, color="grey", linewidth=0.8)
            axis.set_xscale("log")
            ticks = sorted({p["settings"]["max_steps"] for p in grid})
            axis.set_xticks(ticks, [str(t) for t in ticks])
            axis.minorticks_off()
            axis.set_xlabel("optimizer steps")
            axis.set_ylabel(f"{task} − base")
            axis.set_title(f"{LABELS[kind]}: {task}", fontsize=9)
            axis.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    return path


def save_dose_result(result: ToyDoseResult, output_dir: str | Path) -> dict[str, Path]:
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "md": output_dir / "toy_dose.md",
        "json": output_dir / "toy_dose.json",
        "png": output_dir / "toy_dose.png",
    }
    paths["md"].write_text(result.markdown() + "\n", encoding="utf-8")
    paths["json"].write_text(json.dumps(asdict(result), indent=2, default=str), encoding="utf-8")
    plot_dose(result, paths["png"])
    return paths

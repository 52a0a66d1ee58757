"""The toy comparison's result: judged rows, paired differences and the reward model's accuracy, as
Markdown, JSON and a bar plot of rates with their intervals."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from baton_tta.hub.figures import subplots
from baton_tta.toy.world import TASKS


def slug(name: str) -> str:
    """A condition's name as a folder name."""
    return name.replace(" ", "-").replace(",", "").replace("=", "").replace("+", "and")


@dataclass
class ToyLoopResult:
    rows: list[dict]
    reward_model_accuracy: dict[str, float]
    data_stats: dict[str, int]
    config: dict
    seconds: dict[str, float] = field(default_factory=dict)
    differences: list[dict] = field(default_factory=list)
    round_trip: list[dict] = field(default_factory=list)
    reward_accuracy_curve: list[dict] = field(default_factory=list)

    def markdown(self) -> str:
        lines = [
            "| model | integrity aligned [95% CI] | temporal aligned [95% CI] | CLAP score |",
            "|---|---:|---:|---:|",
        ]
        for row in self.rows:
            cells = [row["model"]]
            for task in TASKS:
                rate, low, high = row[task]
                cells.append(f"{rate:.3f} [{low:.3f}, {high:.3f}]")
            cells.append(f"{row['clap_score']:.3f}")
            lines.append("| " + " | ".join(cells) + " |")
        if self.differences:
            columns = [k for k in self.differences[0] if k != "model"]
            lines += [
                "",
                "Paired differences (same held-out prompts and clip seeds), 95 % CI over prompts:",
                "",
                "| model | " + " | ".join(k.replace(" - ", " − ") for k in columns) + " |",
                "|---|" + "---:|" * len(columns),
            ]
            for row in self.differences:
                cells = [row["model"]]
                for column in columns:
                    diff, low, high = row[column]
                    cells.append(f"{diff:+.3f} [{low:+.3f}, {high:+.3f}]")
                lines.append("| " + " | ".join(cells) + " |")
        accuracy = ", ".join(f"{task} {value:.3f}" for task, value in self.reward_model_accuracy.items())
        lines += ["", f"Reward model accuracy against the oracle on the reward-model half: {accuracy}."]
        if self.reward_accuracy_curve:
            lines += ["", "| human labels | integrity accuracy | temporal accuracy |", "|---:|---:|---:|"]
            for point in self.reward_accuracy_curve:
                lines.append(f"| {point['labels']} | {point['integrity']:.3f} | {point['temporal']:.3f} |")
        if self.round_trip:
            lines += [
                "",
                "| round trip (latent → mel → vocoder → mel → latent) | latent error / variance | "
                "mel L1 | oracle agrees | aligned before → after |",
                "|---|---:|---:|---:|---|",
            ]
            for row in self.round_trip:
                lines.append(
                    f"| {row['vocoder']} | {row['latent_error']:.3f} | {row['mel_l1']:.3f} | "
                    f"{row['agreement']:.3f} | {row['aligned_before']:.3f} → {row['aligned_after']:.3f} |"
                )
        return "\n".join(lines)


def save_result(
    result: ToyLoopResult, output_dir: str | Path, stem: str = "toy_alignment"
) -> dict[str, Path]:
    """``<stem>.json``, ``<stem>.md`` and ``<stem>.png`` (rates with intervals)."""
    output_dir = Path(output_dir)
    paths = {k: output_dir / f"{stem}.{k}" for k in ("json", "md", "png")}
    paths["json"].write_text(json.dumps(asdict(result), indent=2) + "\n")
    paths["md"].write_text(result.markdown() + "\n")
    figure, axes = subplots(1, 2, figsize=(12, 4.5), sharey=True)
    for axis, task in zip(axes, TASKS, strict=True):
        names = [row["model"] for row in result.rows]
        rates = np.array([row[task][0] for row in result.rows])
        errors = np.array(
            [[row[task][0] - row[task][1], row[task][2] - row[task][0]] for row in result.rows]
        ).T
        axis.barh(range(len(names)), rates, xerr=errors, color="#4c72b0", capsize=3)
        for position, (rate, high) in enumerate(zip(rates, rates + errors[1], strict=True)):
            axis.text(min(high + 0.02, 0.88), position, f"{rate:.2f}", va="center")
        axis.set_yticks(range(len(names)), names)
        axis.invert_yaxis()
        axis.set_xlim(0, 1)
        axis.set_xlabel("alignment rate (oracle), 95% bootstrap CI")
        axis.set_title(task)
    figure.suptitle("BATON in the toy sound world: held-out prompts")
    figure.tight_layout()
    figure.savefig(paths["png"], dpi=110)
    return paths

"""What a run of online rounds leaves for people: a card per round, the run's card with the metrics
per round and a plot, and on the Hub one repository with a branch per round.

Hub layout (``--push_to_hub --hub_model_id you/baton-online``):

- branch ``round-r``: that round's pipeline and card, ``metrics.json`` and its training data as
  ``data/round-r.parquet``;
- ``main``: the last round's pipeline (a run the reward-hacking guard stopped: the best round by
  the judge), the run's card (metrics per round, why it stopped) and ``rounds.png``.
"""

from __future__ import annotations

import logging
import math
import shutil
from pathlib import Path
from typing import Any

from datasets import load_from_disk
from huggingface_hub import ModelCard

from baton_tta.families import AudioFamily
from baton_tta.hub.cards import online_run_card, with_evaluation
from baton_tta.hub.figures import subplots
from baton_tta.hub.push import folder_files, push_files
from baton_tta.online.config import OnlineConfig

logger = logging.getLogger(__name__)

PLOT_FILE = "rounds.png"
EVAL_DATASET = "held-out prompts"


def write_round_card(folder: Path, metrics: dict[str, float]) -> None:
    """The round's pipeline card (written by its trainer, which says which round it is) with the
    round's held-out metrics."""
    path = folder / "pipeline" / "README.md"
    with_evaluation(ModelCard.load(path), metrics, EVAL_DATASET, "held-out").save(path)


def plot_rounds(history: list[dict[str, float]], path: Path) -> Path:
    """Reward-model score and every judge metric per round (round 0 = the starting model)."""

    names = [k for k in history[0] if k not in ("train_rows",)]
    figure, axes = subplots(1, len(names), figsize=(3.6 * len(names), 3.4), squeeze=False)
    rounds = list(range(len(history)))
    for axis, name in zip(axes[0], names, strict=True):
        axis.plot(rounds, [m.get(name, math.nan) for m in history], marker="o")
        axis.set_title(name + (" (optimised)" if name.startswith("reward_mean") else " (judge)"), fontsize=9)
        axis.set_xlabel("round")
        axis.set_xticks(rounds)
    figure.suptitle("Online rounds: the optimised reward and the held-out judges")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    return path


def write_run_report(
    output_dir: Path, summary: dict[str, Any], args: OnlineConfig, family: AudioFamily
) -> ModelCard:
    """``rounds.png`` and the run's ``README.md``; with ``push_to_hub``, the last round's pipeline and
    this card on ``main``."""
    history = summary["rounds"]
    plot_rounds(history, output_dir / PLOT_FILE)
    stopped = summary["stopped_early"]
    result_round = summary.get("rolled_back_to", len(history) - 1)
    if stopped and "rolled_back_to" in summary:
        stopped += (
            f". Rolled back: the run's result is round {result_round}'s pipeline, the best by the held-out "
            f"{args.judge_metric}" + (" (the starting model)" if result_round == 0 else "")
        )
    card = online_run_card(
        objective=args.objective,
        num_rounds=args.num_rounds,
        history=history,
        stopped_early=stopped,
        plot_file=PLOT_FILE,
        license=family.license,
        model_tags=family.hub_tags,
    )
    card.save(output_dir / "README.md")
    if args.push_to_hub and result_round > 0:
        _push_main(output_dir, result_round, args)
    return card


def _hub_commit(args: OnlineConfig) -> dict[str, Any]:
    if not args.hub_model_id:
        raise ValueError("push_to_hub needs hub_model_id (the repository every round's branch goes to)")
    return {"repo_id": args.hub_model_id, "token": args.hub_token, "private": args.hub_private_repo}


def push_round(folder: Path, r: int, args: OnlineConfig) -> None:
    """The round on branch ``round-r``: pipeline, card, metrics and its data (parquet), one commit."""
    branch = f"round-{r}"
    staging = folder / "hub-data"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    load_from_disk(str(folder / "data")).to_parquet(str(staging / f"{branch}.parquet"))
    files = {
        **folder_files(folder / "pipeline"),
        **folder_files(staging, "data/"),
        "metrics.json": folder / "metrics.json",
    }
    push_files(**_hub_commit(args), files=files, commit_message=f"Round {r}", revision=branch)
    shutil.rmtree(staging)


def _push_main(output_dir: Path, last: int, args: OnlineConfig) -> None:
    """The result round's pipeline (the last, or the one a stopped run rolled back to) with the run's
    card, plot and summary on ``main``, one commit."""
    files = {
        **folder_files(output_dir / f"round-{last}" / "pipeline"),
        **{name: output_dir / name for name in ("README.md", PLOT_FILE, "summary.json")},
    }
    push_files(
        **_hub_commit(args), files=files, commit_message=f"Final pipeline (round {last}) and the run report"
    )

"""What a run of online rounds leaves for people: a card per round, the run's card with the metrics
per round and a plot, and on the Hub one repository with a branch per round.

Hub layout (``--push_to_hub --hub_model_id you/baton-online``):

- branch ``round-r``: that round's pipeline and card, ``metrics.json`` and its training data as
  ``data/round-r.parquet``;
- ``main``: the last round's pipeline, the run's card (metrics per round, why it stopped) and
  ``rounds.png``.
"""

from __future__ import annotations

import logging
import math
import shutil
from pathlib import Path
from typing import Any

from datasets import load_from_disk
from huggingface_hub import CommitOperationAdd, HfApi, ModelCard, ModelCardData

from baton_tta.hub.cards import BATON_CITATION, LICENSES, with_evaluation
from baton_tta.hub.figures import subplots
from baton_tta.online.config import OnlineConfig

logger = logging.getLogger(__name__)

PLOT_FILE = "rounds.png"
EVAL_DATASET = "held-out prompts"


def write_round_card(folder: Path, r: int, metrics: dict[str, float], args: OnlineConfig) -> None:
    """The round's pipeline card (written by its trainer) with the round's held-out metrics."""
    path = folder / "pipeline" / "README.md"
    card = with_evaluation(ModelCard.load(path), metrics, EVAL_DATASET, "held-out")
    card.text = card.text.replace(
        "## Use",
        f"Round {r} of {args.num_rounds} of an online run (objective `{args.objective}`): clips from the "
        f"round-{r - 1} model, scored by the reward model, trained on.\n\n## Use",
        1,
    )
    card.save(path)


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


def rounds_table(history: list[dict[str, float]]) -> str:
    names = sorted({k for m in history for k in m})
    lines = ["| round | " + " | ".join(names) + " |", "|---:|" + "---:|" * len(names)]
    for r, metrics in enumerate(history):
        cells = [f"{metrics[n]:.4g}" if n in metrics else "—" for n in names]
        lines.append(f"| {r} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_run_report(output_dir: Path, summary: dict[str, Any], args: OnlineConfig) -> ModelCard:
    """``rounds.png`` and the run's ``README.md``; with ``push_to_hub``, the last round's pipeline and
    this card on ``main``."""
    history = summary["rounds"]
    plot_rounds(history, output_dir / PLOT_FILE)
    stopped = summary["stopped_early"]
    data = ModelCardData(
        library_name="diffusers",
        pipeline_tag="text-to-audio",
        license=LICENSES["pipeline"],
        tags=["baton", "text-to-audio", "tango", "online-rounds", args.objective],
    )
    body = "\n".join(
        [
            f"# Online BATON rounds ({args.objective})",
            "",
            f"{len(history) - 1} of {args.num_rounds} rounds of generate → score → fine-tune → judge. "
            "Round 0 is the starting model. `reward_mean_*` is the optimised reward model's mean score; "
            "the other columns are held-out judges it is not trained on.",
            "",
            f"**Stopped early:** {stopped}." if stopped else "All rounds ran.",
            "",
            rounds_table(history),
            "",
            f"![rounds]({PLOT_FILE})",
            "",
            "Each round's pipeline, data and metrics are in `round-r/` (and on the Hub on branch `round-r`).",
            "",
            "## Citation",
            "",
            "```bibtex",
            BATON_CITATION,
            "```",
        ]
    )
    card = ModelCard(f"---\n{data.to_yaml()}\n---\n{body}\n")
    card.save(output_dir / "README.md")
    if args.push_to_hub and len(history) > 1:
        _push_main(output_dir, len(history) - 1, args)
    return card


def _repo(args: OnlineConfig) -> tuple[HfApi, str]:
    if not args.hub_model_id:
        raise ValueError("push_to_hub needs hub_model_id (the repository every round's branch goes to)")
    api = HfApi(token=args.hub_token)
    repo_id = api.create_repo(args.hub_model_id, exist_ok=True, private=args.hub_private_repo).repo_id
    return api, repo_id


def _folder_operations(folder: Path, prefix: str = "") -> list[CommitOperationAdd]:
    return [
        CommitOperationAdd(
            path_in_repo=prefix + path.relative_to(folder).as_posix(), path_or_fileobj=str(path)
        )
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    ]


def push_round(folder: Path, r: int, args: OnlineConfig) -> None:
    """The round on branch ``round-r``: pipeline, card, metrics and its data (parquet), one commit."""
    api, repo_id = _repo(args)
    branch = f"round-{r}"
    api.create_branch(repo_id, branch=branch, exist_ok=True)
    staging = folder / "hub-data"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    load_from_disk(str(folder / "data")).to_parquet(str(staging / f"{branch}.parquet"))
    operations = _folder_operations(folder / "pipeline")
    operations += _folder_operations(staging, "data/")
    operations.append(CommitOperationAdd("metrics.json", str(folder / "metrics.json")))
    info = api.create_commit(repo_id, operations, commit_message=f"Round {r}", revision=branch)
    shutil.rmtree(staging)
    logger.info("round %d pushed to %s@%s (%s)", r, repo_id, branch, info.commit_url)


def _push_main(output_dir: Path, last: int, args: OnlineConfig) -> None:
    api, repo_id = _repo(args)
    operations = [
        op
        for op in _folder_operations(output_dir / f"round-{last}" / "pipeline")
        if op.path_in_repo != "README.md"
    ]
    operations += [
        CommitOperationAdd("README.md", str(output_dir / "README.md")),
        CommitOperationAdd(PLOT_FILE, str(output_dir / PLOT_FILE)),
        CommitOperationAdd("summary.json", str(output_dir / "summary.json")),
    ]
    info = api.create_commit(
        repo_id, operations, commit_message=f"Rounds 1–{last}: final pipeline and report"
    )
    logger.info("run pushed to %s (%s)", repo_id, info.commit_url)

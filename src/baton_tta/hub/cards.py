"""Every card baton-tta writes — fine-tuned pipeline, reward model, dataset — from one module.

Each card is rendered from a Jinja template in ``hub/templates/`` with ``huggingface_hub``'s
``from_template`` (as TRL renders its model cards), carries BATON's citation, and states its licence:
a pipeline's is its family's (``AudioFamily.license``, passed in: one source of truth), a dataset's
or a reward model's from :data:`LICENSES`. Metadata fields (``base_model``, ``datasets``) hold Hub ids
only: a local path means nothing on the Hub, so it is named in the card's text instead and left out of
the metadata.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from datasets import Dataset
from huggingface_hub import DatasetCard, DatasetCardData, EvalResult, ModelCard, ModelCardData
from huggingface_hub.utils import HFValidationError, validate_repo_id

from baton_tta.hub.figures import subplots

BATON_CITATION = """@article{liao2024baton,
  title   = {BATON: Aligning Text-to-Audio Model with Human Preference Feedback},
  author  = {Liao, Huan and Han, Haonan and Yang, Kai and Du, Tianjiao and Yang, Rui and Xu, Qinmei
             and Xu, Zunnan and Liu, Jingquan and Lu, Jiasheng and Li, Xiu},
  journal = {arXiv preprint arXiv:2402.00744},
  year    = {2024}
}"""

#: The licence each kind of artifact inherits, in one place. A fine-tuned TANGO inherits TANGO's
#: CC BY-NC-SA 4.0; datasets of TANGO-generated clips carry the same; a reward model is CLAP
#: (Apache-2.0, as ``laion/clap-htsat-*``) plus a head trained here.
#: licences of what this project makes itself; a pipeline's is its family's (``AudioFamily.license``)
LICENSES = {"dataset": "cc-by-nc-sa-4.0", "reward_model": "apache-2.0"}
CURVES_FILE = "training_curves.png"
EVALUATION_HEADING = "## Evaluation"
NOT_EVALUATED = "Not evaluated yet: run `baton-tta evaluate … --push_to_hub` to add Table 4's metrics here."

SCHEMA_DESCRIPTIONS = {
    "prompt": "caption the clip was generated from",
    "audio": "the clip (16 kHz)",
    "label": "1 aligned, 0 not aligned, -1 no label (skipped by the annotator, or not labelled yet)",
    "task": '"integrity" (events together) or "temporal" (events in order)',
    "events": "AudioSet labels of the caption, in caption order",
    "source": '"human", "reward_model" or "unlabelled"',
    "reward": "the label for human rows, the reward model's score for reward-model rows",
    "annotator": "who labelled the clip",
    "generator": "model that generated the clip",
    "seed": "sampling seed of the clip",
    "chosen": "preferred clip",
    "rejected": "dispreferred clip",
}


def hub_id(name: Any) -> str | None:
    """``name`` if it can only be a Hub repo id (not an existing local path, id-shaped), else None."""
    if not isinstance(name, str) or Path(name).exists():
        return None
    try:
        validate_repo_id(name)
    except HFValidationError:
        return None
    return name


def _template(name: str) -> str:
    return resources.files("baton_tta.hub").joinpath("templates", name).read_text("utf-8")


def public_name(source: str) -> str:
    """How a card names a data source: a Hub id as it is, a local path by its last part only (a card
    is public; the path is the author's machine), a description as it is."""
    if hub_id(source):
        return f"`{source}`"
    if Path(source).exists() or Path(source).is_absolute():
        return f"local `{Path(source).name}`"
    return source


def _names(sources: Sequence[str]) -> str:
    """Data sources for the card's text (:func:`public_name`)."""
    return ", ".join(map(public_name, sources)) or "in-memory datasets"


# --------------------------------------------------------------------------- fine-tuned pipeline
def pipeline_card(
    *,
    title: str,
    summary: str,
    base_model: str | None,
    context: str | None = None,
    datasets: Sequence[str],
    hyperparameters: Mapping[str, Any],
    num_rows: int,
    mean_reward: float,
    steps: int,
    rows_noun: str = "preference rows",
    final_loss: float | None,
    use_lora: bool,
    curves_file: str | None = CURVES_FILE,
    tags: Sequence[str] = (),
    model_name: str,
    pipeline_class: str,
    license: str,
    license_note: str,
    model_tags: Sequence[str],
    remote_code: bool,
    lora_loader: bool = True,
) -> ModelCard:
    """Card of a fine-tuned pipeline folder: what it was trained from and how, under the licence the
    family's weights carry; ``context`` is a paragraph under the summary. ``remote_code``: the pipeline class ships as code in the folder (TANGO);
    ``lora_loader``: the pipeline has diffusers' ``load_lora_weights`` (else the adapters are PEFT's)."""
    data = ModelCardData(
        library_name="diffusers",
        pipeline_tag="text-to-audio",
        base_model=hub_id(base_model),
        datasets=[d for d in map(hub_id, datasets) if d] or None,
        tags=list(dict.fromkeys(["baton", "text-to-audio", *model_tags, "diffusers", "rlhf", *tags]))
        + (["lora"] if use_lora else []),
        license=license,
    )
    return ModelCard.from_template(
        data,
        template_str=_template("pipeline_card.md"),
        title=title,
        summary=summary,
        context=context,
        base_model_text=f"`{base_model}`" if hub_id(base_model) else f"a local {pipeline_class}",
        model_name=model_name,
        pipeline_class=pipeline_class,
        license=license,
        license_note=license_note,
        load_kwargs=", trust_remote_code=True" if remote_code else "",
        lora_loader=lora_loader,
        datasets_text=_names(datasets),
        num_rows=num_rows,
        rows_noun=rows_noun,
        mean_reward=f"{mean_reward:.3f}",
        hyperparameters=dict(hyperparameters),
        steps=steps,
        final_loss="n/a" if final_loss is None else f"{final_loss:.4g}",
        use_lora=use_lora,
        curves_file=curves_file,
        evaluation=NOT_EVALUATED,
        citation=BATON_CITATION,
    )


def rounds_table(history: Sequence[Mapping[str, float]]) -> str:
    """Every metric per round as a Markdown table (round 0 is the starting model)."""
    names = sorted({k for m in history for k in m})
    lines = ["| round | " + " | ".join(names) + " |", "|---:|" + "---:|" * len(names)]
    for r, metrics in enumerate(history):
        cells = [f"{metrics[n]:.4g}" if n in metrics else "—" for n in names]
        lines.append(f"| {r} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def online_run_card(
    *,
    objective: str,
    num_rounds: int,
    history: Sequence[Mapping[str, float]],
    stopped_early: str | None,
    plot_file: str,
    license: str,
    model_tags: Sequence[str],
) -> ModelCard:
    """Card of an online run (the repository's ``main``): metrics per round, why it stopped, the plot.
    ``license`` and ``model_tags`` are the trained family's (``AudioFamily.license`` / ``hub_tags``),
    the one source of truth for them."""
    data = ModelCardData(
        library_name="diffusers",
        pipeline_tag="text-to-audio",
        license=license,
        tags=["baton", "text-to-audio", *model_tags, "online-rounds", objective],
    )
    return ModelCard.from_template(
        data,
        template_str=_template("online_run_card.md"),
        objective=objective,
        rounds_run=len(history) - 1,
        num_rounds=num_rounds,
        stopped_early=stopped_early,
        rounds_table=rounds_table(history),
        plot_file=plot_file,
        citation=BATON_CITATION,
    )


def evaluation_table(metrics: Mapping[str, float | None]) -> str:
    """The metrics as a Markdown table (missing ones left out)."""
    rows = [f"| {k} | {v:.4g} |" for k, v in metrics.items() if v is not None and not math.isnan(v)]
    return "| metric | value |\n|---|---:|\n" + "\n".join(rows) if rows else NOT_EVALUATED


def with_evaluation(
    card: ModelCard,
    metrics: Mapping[str, float | None],
    dataset_name: str,
    dataset_type: str,
    note: str | None = None,
) -> ModelCard:
    """The card with ``metrics`` as model-index results and as its Evaluation section's body. With a
    ``note`` (the numbers are not comparable: stand-in backbones) the section says so and the
    model-index stays empty — leaderboards read the metadata, not the note."""
    results = [
        EvalResult(
            task_type="text-to-audio",
            dataset_type=hub_id(dataset_type) or "local",  # never the author's path: the card is public
            dataset_name=Path(dataset_name).name,
            metric_type=name.lower(),
            metric_name=name,
            metric_value=round(float(value), 4),
        )
        for name, value in metrics.items()
        if value is not None and not math.isnan(value)
    ]
    card.data.eval_results = (results or None) if note is None else None
    card.data.model_name = card.data.model_name or "baton-tango"
    section = f"{EVALUATION_HEADING}\n\nOn `{Path(dataset_name).name}`:\n\n{evaluation_table(metrics)}\n"
    if note is not None:
        section += f"\n**Not comparable:** {note}.\n"
    body = card.text
    start = body.find(EVALUATION_HEADING)
    if start < 0:
        body = body.rstrip() + "\n\n" + section
    else:
        end = body.find("\n## ", start + len(EVALUATION_HEADING))
        body = body[:start] + section + (body[end:] if end >= 0 else "")
    return ModelCard(f"---\n{card.data.to_yaml()}\n---\n{body}")


def plot_training_curves(log_history: list[dict], path: Path) -> Path | None:
    """Loss terms and mean reward against steps, as a PNG (None when nothing was logged)."""

    keys = [
        k
        for k in (
            "loss",
            "loss_preference",
            "loss_pretrain",
            "loss_dpo",
            "mean_reward",
            "reward",
            "kl",
            "grad_norm",
        )
        if any(k in e for e in log_history)
    ]
    if not keys:
        return None
    figure, axes = subplots(1, len(keys), figsize=(3.2 * len(keys), 2.8), squeeze=False)
    for axis, key in zip(axes[0], keys):
        points = [(entry["step"], entry[key]) for entry in log_history if key in entry and "step" in entry]
        axis.plot([p[0] for p in points], [p[1] for p in points], marker="o", markersize=2)
        axis.set_title(key)
        axis.set_xlabel("step")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    return path


# --------------------------------------------------------------------------- reward model
def reward_model_card(
    *,
    metrics: Mapping[str, Mapping[str, float]],
    validation_text: str,
    train_rows: int,
    settings: Mapping[str, Any],
    head: Sequence[int],
    text_backbone: str,
    loss: str,
    dataset: str | None,
    index_metrics: bool = True,
) -> ModelCard:
    """Card of a trained reward model: validation metrics per task (kept apart in the model-index
    by ``dataset_config`` = task), the prediction histogram, every training setting. Without
    ``index_metrics`` (a model trained on one class of labels, whose accuracy says nothing) the
    metrics stay in the card's text and out of the model-index the Hub shows and compares."""
    dataset_id = hub_id(dataset)
    results = [
        EvalResult(
            task_type="text-audio-alignment",
            task_name="caption-clip alignment reward",
            dataset_type=dataset_id or "local",
            dataset_name=f"{dataset_id or 'preference data'} ({task})",
            dataset_config=task,
            dataset_split="validation",
            metric_type=metric,
            metric_name=metric,
            metric_value=round(value, 4),
        )
        for task, values in metrics.items()
        for metric, value in values.items()
        if metric in ("accuracy", "roc_auc", "f1", "ece") and not math.isnan(value) and index_metrics
    ]
    data = ModelCardData(
        library_name="transformers",
        model_name="baton-reward-model",
        eval_results=results or None,
        datasets=[dataset_id] if dataset_id else None,
        tags=["baton", "reward-model", "clap", "text-to-audio"],
        license=LICENSES["reward_model"],
    )
    shown = {
        task: {k: (f"{v:.0f}" if k == "count" else f"{v:.3f}") for k, v in values.items()}
        for task, values in metrics.items()
    }
    return ModelCard.from_template(
        data,
        template_str=_template("reward_card.md"),
        text_encoder="CLAP" if text_backbone == "clap" else "T5",
        head=list(head),
        loss=loss.upper(),
        dataset_text=f"`{dataset_id}`" if dataset_id else "a local dataset",
        validation_text=validation_text,
        metrics=shown,
        train_rows=train_rows,
        settings=dict(settings),
        citation=BATON_CITATION,
    )


# --------------------------------------------------------------------------- datasets
def _size(n: int) -> list[str]:
    for limit, name in (
        (1_000, "n<1K"),
        (10_000, "1K<n<10K"),
        (100_000, "10K<n<100K"),
        (1_000_000, "100K<n<1M"),
    ):
        if n < limit:
            return [name]
    return ["n>1M"]


def dataset_card(
    dataset: Dataset,
    schema: str,
    columns: Sequence[str],
    repo_id: str,
    pretty_name: str | None = None,
    license: str | None = None,
    provenance: str | None = None,
) -> DatasetCard:
    """Card with the schema, rows per task, label balance, generators and annotator count;
    ``provenance`` (Markdown) is a section naming who labelled and how much they agreed."""
    balance, facts = [], []
    if schema == "binary":
        tasks = Counter(dataset["task"])
        for task in sorted(tasks):
            labels = Counter(label for label, t in zip(dataset["label"], dataset["task"]) if t == task)
            n = tasks[task]
            balance.append(
                [task or "(unspecified)", n, *(f"{100 * labels[v] / n:.1f} %" for v in (1, 0, -1))]
            )
        rewards = [
            r
            for r, s in zip(dataset["reward"], dataset["source"])
            if s == "reward_model" and not math.isnan(r)
        ]
        facts = [
            f"sources: {dict(Counter(dataset['source']))}",
            f"generators: {sorted(set(dataset['generator']) - {''}) or ['unknown']}",
            f"annotators: {len({a for a in dataset['annotator'] if a})}",
            f"reward-model rows: {len(rewards)}"
            + (f", mean score {sum(rewards) / len(rewards):.3f}" if rewards else ""),
        ]
    data = DatasetCardData(
        license=license or LICENSES["dataset"],
        pretty_name=pretty_name,
        task_categories=["text-to-audio"],
        tags=["baton", "preference", "audio", "text-to-audio"],
        size_categories=_size(len(dataset)),
    )
    return DatasetCard.from_template(
        data,
        template_str=_template("dataset_card.md"),
        title=pretty_name or repo_id,
        schema=schema,
        columns=[(c, SCHEMA_DESCRIPTIONS.get(c, "")) for c in dataset.column_names if c in columns],
        balance=balance,
        facts=facts,
        num_rows=len(dataset),
        repo_id=repo_id,
        provenance=provenance,
        citation=BATON_CITATION,
    )

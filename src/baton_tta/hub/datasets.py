"""Share preference datasets on the Hub with a dataset card that says what is inside.

Audio columns are kept encoded (``Audio(decode=False)``) inside the library; on push they are cast to
a plain ``Audio(sampling_rate=16000)`` feature, so users with torchcodec get decoded audio from
``load_dataset`` as usual, and :func:`baton_tta.data.load_preference_dataset` reads it back without.
"""

from __future__ import annotations

import math
from collections import Counter

from datasets import Audio, Dataset
from huggingface_hub import DatasetCard, DatasetCardData

from baton_tta.data.schema import SAMPLING_RATE, get_schema

SCHEMA_DESCRIPTIONS = {
    "prompt": "caption the clip was generated from",
    "audio": f"the clip ({SAMPLING_RATE} Hz)",
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


def _table(header: tuple[str, ...], rows: list[tuple]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def dataset_card_text(
    dataset: Dataset, schema: str, repo_id: str, license: str, pretty_name: str | None
) -> DatasetCard:
    """A card with the schema, rows per task, label balance, generators and annotator count."""
    spec = get_schema(schema)
    columns = [(c, SCHEMA_DESCRIPTIONS.get(c, "")) for c in dataset.column_names if c in spec.features]
    sections = [
        f"# {pretty_name or repo_id}",
        "",
        f"A BATON {schema} preference dataset made with baton-tta.",
        "",
        "## Schema",
        "",
        _table(("column", "meaning"), columns),
    ]
    if schema == "binary":
        tasks = Counter(dataset["task"])
        balance = []
        for task in sorted(tasks):
            labels = Counter(label for label, t in zip(dataset["label"], dataset["task"]) if t == task)
            n = tasks[task]
            balance.append(
                (task or "(unspecified)", n, *(f"{100 * labels[v] / n:.1f} %" for v in (1, 0, -1)))
            )
        rewards = [
            r
            for r, s in zip(dataset["reward"], dataset["source"])
            if s == "reward_model" and not math.isnan(r)
        ]
        annotators = {a for a in dataset["annotator"] if a}
        sections += [
            "",
            "## Rows per task and label balance",
            "",
            _table(("task", "rows", "aligned (1)", "not aligned (0)", "no label (-1)"), balance),
            "",
            f"- sources: {dict(Counter(dataset['source']))}",
            f"- generators: {sorted(set(dataset['generator']) - {''}) or ['unknown']}",
            f"- annotators: {len(annotators)}",
            f"- reward-model rows: {len(rewards)}"
            + (f", mean score {sum(rewards) / len(rewards):.3f}" if rewards else ""),
        ]
    else:
        sections += ["", f"{len(dataset)} rows."]
    sections += [
        "",
        "## Loading",
        "",
        "```python",
        "from baton_tta.data import load_preference_dataset",
        f'ds = load_preference_dataset("{repo_id}", schema="{schema}")',
        "```",
    ]
    data = DatasetCardData(
        license=license,
        pretty_name=pretty_name,
        task_categories=["text-to-audio"],
        tags=["baton", "preference", "audio", "text-to-audio"],
        size_categories=_size(len(dataset)),
    )
    return DatasetCard("---\n" + data.to_yaml() + "\n---\n\n" + "\n".join(sections) + "\n")


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


def push_preference_dataset(
    dataset: Dataset,
    repo_id: str,
    schema: str = "binary",
    license: str = "cc-by-4.0",
    pretty_name: str | None = None,
    private: bool = False,
    token: str | None = None,
) -> DatasetCard:
    """Push ``dataset`` (audio as a standard ``Audio`` feature) and its card to ``repo_id``."""
    spec = get_schema(schema)
    for column in spec.audio_columns:
        dataset = dataset.cast_column(column, Audio(sampling_rate=SAMPLING_RATE))
    dataset.push_to_hub(repo_id, private=private, token=token)
    card = dataset_card_text(dataset, schema, repo_id, license, pretty_name)
    card.push_to_hub(repo_id, repo_type="dataset", token=token)
    return card

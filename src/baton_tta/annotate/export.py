"""Store + clips → a binary preference dataset (one row per clip) and its agreement report.

Each row keeps the clip's audio and caption, gets ``label`` by :func:`majority_label` over the
store's votes and the human votes the input already carried (an earlier export's ``votes``, or a
human row's own label: re-exporting never drops a label; ties and all-skip clips get -1), ``source`` "human" when anyone voted on it and "unlabelled" otherwise,
``reward`` the share of aligned among non-skip votes, ``annotator`` the voters joined by commas, and
the raw votes in two extra columns, ``votes`` and ``voters`` (same order), so nobody has to trust
the tie rule: it can be redone from the data.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

from datasets import Dataset, List, Value

from baton_tta.annotate.agreement import AgreementReport, agreement_report, majority_label
from baton_tta.annotate.clips import ClipSet
from baton_tta.annotate.store import LabelStore
from baton_tta.data.loading import conform
from baton_tta.data.schema import get_schema

logger = logging.getLogger(__name__)
#: The voter of a human row whose file names no annotator (converted datasets).
UNNAMED = "earlier-label"


def export_annotations(clips: ClipSet, store: LabelStore) -> tuple[Dataset, AgreementReport]:
    """The labelled dataset and the agreement report for every clip in ``clips``."""
    votes = store.votes()
    by_clip: dict[str, list] = {clip_id: [] for clip_id in clips.clip_ids}
    unknown = 0
    for vote in votes:
        if vote.clip_id in by_clip:
            by_clip[vote.clip_id].append(vote)
        else:
            unknown += 1
    if unknown:
        logger.warning(
            "%d vote(s) in %s are for clips not in this dataset; not exported", unknown, store.path
        )
    earlier = human_votes(clips.dataset)
    labels, sources, rewards, annotators, raw_votes, voters = [], [], [], [], [], []
    kept = 0
    for index, clip_id in enumerate(clips.clip_ids):
        # the store's votes, plus the votes the input already carried from people not in the store
        clip_votes = [(v.annotator, v.label) for v in by_clip[clip_id]]
        in_store = {annotator for annotator, _ in clip_votes}
        carried = [(a, label) for a, label in earlier[index] if a not in in_store]
        kept += bool(carried)
        clip_votes += carried
        values = [label for _, label in clip_votes]
        binary = [v for v in values if v in (0, 1)]
        labels.append(majority_label(values))
        sources.append("human" if clip_votes else "unlabelled")
        rewards.append(sum(binary) / len(binary) if binary else math.nan)
        annotators.append(",".join(a for a, _ in clip_votes))
        raw_votes.append(values)
        voters.append([a for a, _ in clip_votes])
    if kept:
        logger.info("%d clip(s) keep human votes the input already had (merged with the store's)", kept)
    dataset = clips.dataset
    replaced = ("label", "source", "reward", "annotator", "votes", "voters", "clip_id")
    dataset = dataset.remove_columns([c for c in replaced if c in dataset.column_names])
    dataset = (
        dataset.add_column("label", labels)
        .add_column("source", sources)
        .add_column("reward", rewards)
        .add_column("annotator", annotators)
        .add_column("clip_id", clips.clip_ids)
        .add_column("votes", raw_votes, feature=List(Value("int8")))
        .add_column("voters", voters, feature=List(Value("string")))
    )
    dataset = conform(dataset, get_schema("binary"))
    report = agreement_report(
        clips.clip_ids, clips.tasks(), [(v.clip_id, v.annotator, v.label) for v in votes]
    )
    return dataset, report


def human_votes(dataset: Dataset) -> list[list[tuple[str, int]]]:
    """Per row, the human votes an input dataset already carries: its ``votes``/``voters`` columns
    (an earlier export), else its own label on a human row (a converted or hand-labelled file), as a
    vote by its ``annotator`` (or "earlier-label"). Nothing for unlabelled rows."""
    columns = dataset.column_names
    if "votes" in columns and "voters" in columns:
        return [
            list(zip(names, [int(v) for v in values]))
            for names, values in zip(dataset["voters"], dataset["votes"])
        ]
    if "label" not in columns or "source" not in columns:
        return [[] for _ in range(len(dataset))]
    annotators = dataset["annotator"] if "annotator" in columns else [""] * len(dataset)
    return [
        [(annotator or UNNAMED, int(label))] if source == "human" and label in (0, 1) else []
        for label, source, annotator in zip(dataset["label"], dataset["source"], annotators)
    ]


def write_export(dataset: Dataset, report: AgreementReport, output_dir: str | Path) -> Path:
    """``save_to_disk`` folder plus ``agreement.json`` and ``agreement.md`` beside it."""
    output_dir = Path(output_dir)
    dataset.save_to_disk(str(output_dir))
    (output_dir / "agreement.json").write_text(json.dumps(report.__dict__, indent=2) + "\n")
    (output_dir / "agreement.md").write_text(report.markdown() + "\n")
    return output_dir

"""Human feedback between online rounds: a sample of a round's clips goes to people, their labels
come back, and the reward model is retrained on every label so far before the round is scored.

A reward model trained on the original model's clips drifts out of distribution as the rounds move
the model (the toy run's reward score stayed flat while the oracle fell). Labels on the current
model's own clips are what BATON's stage 1 collected, once; here they are collected every round.

The sample is saved in the annotation app's input format (a binary-schema ``save_to_disk`` folder:
``baton-tta annotate --dataset …/feedback/clips``); the labels come back as the folder
``baton-tta export-labels`` writes (``…/feedback/labels``). Labels are matched to clips by clip id
(caption + encoded audio, :func:`~baton_tta.annotate.clip_id_for`), so re-ordering or re-saving the
sample loses nothing. Without people at hand, a ``labeller`` callable (the toy world's simulated
annotators, a test) labels the sample in the same format.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from datasets import Dataset, concatenate_datasets, load_from_disk

from baton_tta.annotate.clips import clip_id_for
from baton_tta.data.loading import conform
from baton_tta.data.schema import LABEL_ALIGNED, LABEL_NOT_ALIGNED, get_schema

logger = logging.getLogger(__name__)

#: Labels a round's feedback sample: the sample's rows in, the same rows with ``label`` (1 aligned,
#: 0 not aligned, -1 skipped) out.
Labeller = Callable[[Dataset], Dataset]

SAMPLE_DIR = "clips"
LABELS_DIR = "labels"
REWARD_MODEL_DIR = "reward_model"


class FeedbackPending(RuntimeError):
    """A round waits for people's labels; rerunning the same command after they are exported resumes
    at this step. ``folder`` is the round's feedback folder."""

    def __init__(self, folder: Path):
        self.folder = folder
        sample, labels = folder / SAMPLE_DIR, folder / LABELS_DIR
        store = folder / "labels.sqlite"
        super().__init__(
            f"waiting for labels of {sample}: annotate it with\n"
            f"  baton-tta annotate --dataset {sample} --store {store}\n"
            f"then export the labels with\n"
            f"  baton-tta export-labels --dataset {sample} --store {store} --output_dir {labels}\n"
            "and rerun the same command; the run resumes at this step"
        )


def save_atomically(dataset: Dataset, path: Path) -> None:
    """``save_to_disk`` into a temporary folder renamed into place: whole or not at all."""
    temporary = path.with_name(path.name + ".tmp")
    shutil.rmtree(temporary, ignore_errors=True)
    dataset.save_to_disk(str(temporary))
    shutil.rmtree(path, ignore_errors=True)
    os.replace(temporary, path)


def feedback_sample(clips: Dataset, count: int, seed: int) -> Dataset:
    """``count`` clips drawn without replacement (seeded), in the clips' order, as binary-schema rows
    the annotation app reads."""
    count = min(count, len(clips))
    picked = np.sort(np.random.default_rng(seed).choice(len(clips), size=count, replace=False))
    sample = clips.select(picked.tolist())
    extra = [c for c in sample.column_names if c not in get_schema("binary").features]
    return sample.remove_columns(extra)


def human_labels_by_clip(labels: Dataset, source: str) -> dict[str, int]:
    """Clip id → 1/0 for every labelled row; skipped and tied clips (-1) are counted and logged."""
    by_clip: dict[str, int] = {}
    for prompt, audio, label in zip(labels["prompt"], labels.with_format(None)["audio"], labels["label"]):
        if label in (LABEL_ALIGNED, LABEL_NOT_ALIGNED):
            by_clip[clip_id_for(prompt, audio)] = int(label)
    skipped = len(labels) - len(by_clip)
    if skipped:
        logger.info(
            "%s: %d of %d clips have no aligned/not-aligned majority (skipped)", source, skipped, len(labels)
        )
    return by_clip


def check_labels_match(sample: Dataset, labels: Dataset, folder: Path) -> None:
    """The labels must be of this sample's clips: an export of another dataset is an error that
    names the folder, not a silent mix."""
    expected = {clip_id_for(p, a) for p, a in zip(sample["prompt"], sample.with_format(None)["audio"])}
    unknown = [
        row
        for row, (p, a) in enumerate(zip(labels["prompt"], labels.with_format(None)["audio"]))
        if clip_id_for(p, a) not in expected
    ]
    if unknown:
        raise ValueError(
            f"{folder}: {len(unknown)} labelled row(s) are not clips of this round's sample "
            f"(first rows {unknown[:5]}); export the labels of {folder.parent / SAMPLE_DIR}"
        )


def load_round_labels(folder: Path, sample: Dataset, labeller: Labeller | None) -> Dataset:
    """The feedback labels of a round: from ``folder/labels`` when people exported them, else from
    ``labeller`` (checked, then saved there), else :class:`FeedbackPending`."""
    path = folder / LABELS_DIR
    if path.is_dir():
        labels = load_from_disk(str(path))
        check_labels_match(sample, labels, path)
        return labels
    if labeller is None:
        raise FeedbackPending(folder)
    labels = labeller(sample)
    if "label" not in labels.column_names or len(labels) != len(sample):
        raise ValueError("a labeller must return the sample's rows with a 'label' column")
    check_labels_match(sample, labels, path)
    save_atomically(labels.map(lambda _: {"source": "human"}, desc="feedback labels"), path)
    return load_from_disk(str(path))


def training_labels(initial: Dataset | None, rounds: Sequence[Dataset]) -> Dataset:
    """The reward model's next training set: its original labels and every round's feedback, in the
    binary schema (columns beyond it dropped, so exports from the app and from a labeller mix)."""
    schema = get_schema("binary")
    parts = [d for d in (initial, *rounds) if d is not None]
    conformed = [
        conform(d.remove_columns([c for c in d.column_names if c not in schema.features]), schema)
        for d in parts
    ]
    return concatenate_datasets(conformed)

"""Many contributors' labels → one binary preference dataset: clips by content, one vote per person.

Sources are what contributors share: exports of the annotation app (``export-labels``: the raw
votes and voters per clip), backups of the app's label store (append-only JSON lines with the clip
dataset they label, :mod:`baton_tta.annotate.backup`), and converted datasets
(``convert-baton-official``: a human row's label is its annotator's vote). A clip is its caption
plus a hash of its *decoded* audio (16 kHz, 16-bit samples), so the same clip re-encoded or re-saved
by two sources is one clip. Per clip each annotator has one vote; when one annotator's votes on a
clip differ between sources, that is a conflict — listed, and neither vote counts. The label is the
majority of the non-skip votes, ties and skip-only clips -1 (:func:`majority_label`, the export's
rule). The dataset keeps its provenance (``votes``, ``voters``, ``sources`` per clip) and the report
its agreement: Fleiss' κ per task, each annotator against the others' majority, each source's own κ.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from datasets import Dataset, List, Value

from baton_tta.annotate.agreement import cohen_kappa, fleiss_kappa, majority_label, percent_agreement
from baton_tta.annotate.export import UNNAMED, human_votes
from baton_tta.data.duplicates import clip_key
from baton_tta.data.loading import conform
from baton_tta.data.schema import get_schema

logger = logging.getLogger(__name__)


@dataclass
class LabelSource:
    """One contributor's share: the clips (binary-schema rows) and the votes on them as
    (row index, annotator, label)."""

    name: str
    clips: Dataset
    votes: list[tuple[int, str, int]]

    @classmethod
    def from_dataset(cls, name: str, dataset: Dataset) -> LabelSource:
        """An export or a converted dataset: its votes/voters columns, else a human row's label, by
        the row's annotator — or, when the file names none (the official BATON files), by the source."""
        votes = [
            (row, name if annotator == UNNAMED else annotator, label)
            for row, cast in enumerate(human_votes(dataset))
            for annotator, label in cast
        ]
        return cls(name, dataset, votes)


@dataclass
class MergeReport:
    """What the merge found: contributors, agreement, conflicts and duplicates (each listed)."""

    sources: dict[str, dict[str, int | float | None]]
    annotators: dict[str, dict[str, int | float | None]]
    tasks: dict[str, dict[str, int | float | None]]
    clips: int
    labelled_clips: int
    conflicts: list[dict] = field(default_factory=list)
    duplicates: list[dict] = field(default_factory=list)

    def markdown(self) -> str:
        def fmt(value) -> str:
            return "n/a" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)

        lines = [
            f"{self.clips} clips ({self.labelled_clips} with a label), {len(self.annotators)} annotators, "
            f"{len(self.sources)} sources; {len(self.conflicts)} conflicting votes dropped, "
            f"{len(self.duplicates)} clips given by more than one row.",
            "",
            "| task | clips | votes | Fleiss' κ | percent agreement |",
            "|---|---:|---:|---:|---:|",
        ]
        for task, t in sorted(self.tasks.items()):
            lines.append(
                f"| {task} | {t['clips']} | {t['votes']} | {fmt(t['fleiss_kappa'])} | {fmt(t['percent_agreement'])} |"
            )
        lines += [
            "",
            "| annotator | votes | agreement with the others' majority | Cohen's κ against it |",
            "|---|---:|---:|---:|",
        ]
        for name, a in sorted(self.annotators.items()):
            lines.append(
                f"| {name} | {a['votes']} | {fmt(a['agreement_with_others'])} | {fmt(a['kappa_with_others'])} |"
            )
        lines += ["", "| source | clips | votes | Fleiss' κ within |", "|---|---:|---:|---:|"]
        for name, s in self.sources.items():
            lines.append(f"| {name} | {s['clips']} | {s['votes']} | {fmt(s['fleiss_kappa'])} |")
        for title, items in (("Conflicts", self.conflicts), ("Duplicates", self.duplicates)):
            if items:
                lines += ["", f"{title} (first 20):", ""]
                lines += [f"- {item}" for item in items[:20]]
        return "\n".join(lines)


def merge_sources(sources: Sequence[LabelSource]) -> tuple[Dataset, MergeReport]:
    """One row per distinct clip (first source's row for its caption, audio, task and events), the
    merged votes and their majority, provenance columns, and the report."""
    names = [s.name for s in sources]
    if len(set(names)) != len(names):
        raise ValueError(f"two sources have the same name: {names}")
    rows: dict[str, dict] = {}
    clip_sources: dict[str, list[str]] = defaultdict(list)
    cast: dict[str, dict[str, tuple[int, str]]] = defaultdict(dict)  # key → annotator → (label, source)
    conflicted: dict[str, set[str]] = defaultdict(set)
    conflicts, duplicates = [], []
    per_source_votes: dict[str, dict[str, dict[str, int]]] = {s.name: defaultdict(dict) for s in sources}
    for source in sources:
        keys = []
        for index, row in enumerate(source.clips.with_format(None)):
            key = clip_key(row["prompt"], row["audio"], f"{source.name}: row {index}, column 'audio'")
            keys.append(key)
            if key in rows:
                duplicates.append({"clip": key, "prompt": row["prompt"], "source": source.name, "row": index})
            else:
                rows[key] = row
            clip_sources[key].append(source.name)
        for index, annotator, label in source.votes:
            key = keys[index]
            per_source_votes[source.name][key][annotator] = label
            earlier = cast[key].get(annotator)
            if earlier is not None and earlier[0] != label:
                conflicts.append(
                    {
                        "clip": key,
                        "prompt": rows[key]["prompt"],
                        "annotator": annotator,
                        "votes": {earlier[1]: earlier[0], source.name: label},
                    }
                )
                conflicted[key].add(annotator)
            cast[key].setdefault(annotator, (label, source.name))
    keys = list(rows)
    votes_of = {
        key: {a: label for a, (label, _) in cast[key].items() if a not in conflicted[key]} for key in keys
    }
    labels, reward, voters, votes = [], [], [], []
    for key in keys:
        names_, values = list(votes_of[key]), list(votes_of[key].values())
        binary = [v for v in values if v in (0, 1)]
        labels.append(majority_label(values))
        reward.append(sum(binary) / len(binary) if binary else float("nan"))
        voters.append(names_)
        votes.append(values)
    # from_list(features=...) with an Audio feature needs torchcodec; casting afterwards does not
    base = Dataset.from_list([rows[key] for key in keys]).cast(sources[0].clips.features)
    replaced = ("label", "source", "reward", "annotator", "votes", "voters", "sources", "clip_key")
    base = base.remove_columns([c for c in replaced if c in base.column_names])
    dataset = (
        base.add_column("label", labels)
        .add_column("source", ["human" if v else "unlabelled" for v in votes])
        .add_column("reward", reward)
        .add_column("annotator", [",".join(v) for v in voters])
        .add_column("clip_key", keys)
        .add_column("votes", votes, feature=List(Value("int8")))
        .add_column("voters", voters, feature=List(Value("string")))
        .add_column("sources", [sorted(set(clip_sources[k])) for k in keys], feature=List(Value("string")))
    )
    dataset = conform(dataset, get_schema("binary"))
    given = Counter(name for key in keys for name in set(clip_sources[key]))
    report = _report(
        keys, [rows[k]["task"] for k in keys], votes_of, per_source_votes, given, conflicts, duplicates
    )
    if conflicts or duplicates:
        logger.warning(
            "%d conflicting vote(s) dropped, %d clip(s) given more than once (merged)",
            len(conflicts),
            len(duplicates),
        )
    return dataset, report


def _report(
    keys: list[str],
    tasks: list[str],
    votes_of: dict[str, dict[str, int]],
    per_source: dict[str, dict[str, dict[str, int]]],
    given: Counter,
    conflicts: list[dict],
    duplicates: list[dict],
) -> MergeReport:
    by_task: dict[str, list[list[int]]] = defaultdict(list)
    for key, task in zip(keys, tasks, strict=True):
        by_task[task].append(list(votes_of[key].values()))
    task_stats = {
        task: {
            "clips": len(clips),
            "votes": sum(len(v) for v in clips),
            "fleiss_kappa": fleiss_kappa(clips),
            "percent_agreement": percent_agreement(clips),
        }
        for task, clips in by_task.items()
    }
    annotators = sorted({a for votes in votes_of.values() for a in votes})
    annotator_stats = {}
    for annotator in annotators:
        own, others = [], []
        for votes in votes_of.values():
            if annotator not in votes or votes[annotator] not in (0, 1):
                continue
            majority = majority_label([v for a, v in votes.items() if a != annotator])
            if majority != -1:
                own.append(votes[annotator])
                others.append(majority)
        annotator_stats[annotator] = {
            "votes": sum(annotator in votes for votes in votes_of.values()),
            "agreement_with_others": (sum(a == b for a, b in zip(own, others)) / len(own)) if own else None,
            "kappa_with_others": cohen_kappa(own, others) if own else None,
        }
    source_stats: dict[str, dict[str, int | float | None]] = {
        name: {
            "clips": given[name],
            "votes": sum(len(v) for v in clips.values()),
            "fleiss_kappa": fleiss_kappa([list(v.values()) for v in clips.values()]),
        }
        for name, clips in per_source.items()
    }
    labelled = sum(1 for votes in votes_of.values() if majority_label(list(votes.values())) != -1)
    counts = Counter(len(v) for v in votes_of.values())
    logger.info("votes per clip: %s", dict(sorted(counts.items())))
    return MergeReport(source_stats, annotator_stats, task_stats, len(keys), labelled, conflicts, duplicates)

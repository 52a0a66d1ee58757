"""Evaluation prompt sets (paper §4.2): AudioCaps test captions with multi-event conjunctions.

Captions containing one of and/as/then/while/before/after/followed as a whole word are kept and split
into event clauses at those words and at commas; 2 clauses → the integrity subset, 3 → temporal.
Everything else is counted by reason, never dropped silently. The order of the input is kept.
"""

from __future__ import annotations

import csv
import logging
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from datasets import Dataset

from baton_tta.data.converters import read_json_records

logger = logging.getLogger(__name__)

KEYWORDS = ("and", "as", "then", "while", "before", "after", "followed")
AUDIOCAPS_COLUMNS = ("audiocap_id", "youtube_id", "start_time", "caption")
_KEYWORD = re.compile(r"\b(" + "|".join(KEYWORDS) + r")\b", re.IGNORECASE)
_CLAUSE_BREAK = re.compile(r",|\bfollowed by\b|\b(?:" + "|".join(KEYWORDS) + r")\b", re.IGNORECASE)


def count_event_clauses(caption: str) -> int:
    """Non-empty pieces of ``caption`` between conjunction keywords and commas."""
    return sum(
        1 for piece in _CLAUSE_BREAK.split(caption) if piece and re.search(r"[a-z]", piece, re.IGNORECASE)
    )


@dataclass
class EvalSetReport:
    total: int = 0
    integrity: int = 0
    temporal: int = 0
    excluded: Counter = field(default_factory=Counter)

    def describe(self) -> str:
        reasons = ", ".join(f"{n} {why}" for why, n in sorted(self.excluded.items()))
        return f"{self.total} captions → {self.integrity} integrity (2 events), {self.temporal} temporal (3 events); excluded: {reasons or 'none'}"


def build_eval_sets(csv_path: str | os.PathLike) -> tuple[Dataset, Dataset, EvalSetReport]:
    """Read an AudioCaps-format CSV (``audiocap_id,youtube_id,start_time,caption``) and return the
    integrity and temporal subsets (columns: the CSV's, ``prompt``, ``task``, ``num_events``)."""
    path = Path(csv_path)
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in AUDIOCAPS_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{path}: missing column(s) {missing} (found {reader.fieldnames})")
        rows = list(reader)
    report = EvalSetReport(total=len(rows))
    subsets: dict[str, dict[str, list]] = {
        task: {**{c: [] for c in AUDIOCAPS_COLUMNS}, "prompt": [], "task": [], "num_events": []}
        for task in ("integrity", "temporal")
    }
    for line, row in enumerate(rows, start=2):
        caption = (row["caption"] or "").strip()
        if not caption:
            raise ValueError(f"{path}, line {line}, column 'caption': empty caption")
        if not _KEYWORD.search(caption):
            report.excluded["without a conjunction keyword"] += 1
            continue
        events = count_event_clauses(caption)
        task = {2: "integrity", 3: "temporal"}.get(events)
        if task is None:
            report.excluded[f"with {events} event clause(s)"] += 1
            continue
        target = subsets[task]
        for column in AUDIOCAPS_COLUMNS:
            target[column].append(row[column])
        target["prompt"].append(caption)
        target["task"].append(task)
        target["num_events"].append(events)
    report.integrity = len(subsets["integrity"]["prompt"])
    report.temporal = len(subsets["temporal"]["prompt"])
    logger.info("%s: %s", path, report.describe())
    return Dataset.from_dict(subsets["integrity"]), Dataset.from_dict(subsets["temporal"]), report


def official_eval_set(json_path: str | os.PathLike, task: str) -> Dataset:
    """One of the BATON release's curated test sets (``data/Audiocaps/test_audiocaps_2label.json``: 148
    integrity captions; ``…_3label.json``: 165 temporal) as an eval set: ``prompt``, ``clip_id`` (the
    AudioSet file stem ``{youtube_id}_{start}`` the release names, which is how its reference
    recordings are named, so FD and KL pair by it) and ``task``. Rows lacking ``captions`` or
    ``location`` are errors naming the row; other keys (even misspelt ones) are ignored."""
    path = Path(json_path)
    records = read_json_records(path)
    if not isinstance(records, list):
        raise ValueError(f"{path}: expected a list of {{'location', 'captions'}} rows")
    problems = [
        f"row {i}: missing key(s) {[k for k in ('location', 'captions') if k not in row]}"
        for i, row in enumerate(records)
        if not {"location", "captions"} <= set(row)
    ]
    if problems:
        raise ValueError(f"{path}: " + "; ".join(problems[:10]))
    stems = [Path(str(row["location"]).replace("\\", "/")).stem for row in records]
    repeated = sorted({s for s in stems if stems.count(s) > 1})
    if repeated:
        logger.info("%s: %d clip id(s) appear more than once (%s…)", path, len(repeated), repeated[:3])
    logger.info("%s: %d %s captions", path, len(records), task)
    return Dataset.from_dict(
        {"prompt": [row["captions"] for row in records], "clip_id": stems, "task": [task] * len(records)}
    )

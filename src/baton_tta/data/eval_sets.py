"""Evaluation prompt sets (paper §4.2): AudioCaps test captions with multi-event conjunctions.

Captions containing one of and/as/then/while/before/after/followed as a whole word are kept and split
into event clauses at those words and at commas; 2 clauses → the integrity subset, 3 → temporal.
Everything else is counted by reason, never dropped silently. The order of the input is kept.
"""

from __future__ import annotations

import csv
import logging
import os
import random
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
_CLAUSE_BREAK = re.compile(r"(,|\bfollowed by\b|\b(?:" + "|".join(KEYWORDS) + r")\b)", re.IGNORECASE)
#: A clause whose subject is one of these goes on describing the event before it ("as it idles").
CONTINUING_SUBJECTS = {"it", "he", "she", "they", "this", "which", "who"}
#: Nouns that name a quality of a sound, not a source: "…noise and sharp vibrations" is one event.
SOUND_QUALITIES = {"noise", "noises", "sound", "sounds", "vibration", "vibrations", "tone", "tones"}


def _continues(piece: list[str], previous: list[str], joined_by: str) -> bool:
    """Does ``piece`` (words) go on describing the event of ``previous`` rather than add one?"""
    if piece[0] in CONTINUING_SUBJECTS:
        return True
    if joined_by not in ("and", ","):
        return False
    # "constant rattling noise and sharp vibrations": qualities of one sound, no source named
    return piece[-1] in SOUND_QUALITIES and previous[-1] in SOUND_QUALITIES


def event_clauses(caption: str) -> list[str]:
    """The caption's event clauses: pieces between conjunction keywords and commas, where a piece
    that goes on describing the event before it (a pronoun subject, or a sound quality after another)
    is merged into it. Verb pairs ("laughing and barking") stay two events, as the paper's curated
    test sets mostly count them."""
    parts = _CLAUSE_BREAK.split(caption)
    clauses: list[str] = []
    last_words: list[str] = []
    joined_by = ""
    for index, part in enumerate(parts):
        if index % 2:  # a separator
            joined_by = part.strip().lower()
            continue
        piece = re.findall(r"[a-z']+", part.lower())
        if not piece:
            continue
        if clauses and _continues(piece, last_words, joined_by):
            clauses[-1] = f"{clauses[-1]} {joined_by} {part.strip()}"
        else:
            clauses.append(part.strip())
        last_words = piece
    return clauses


def count_event_clauses(caption: str) -> int:
    """How many events :func:`event_clauses` finds in ``caption``."""
    return len(event_clauses(caption))


@dataclass
class EvalSetReport:
    total: int = 0
    integrity: int = 0
    temporal: int = 0
    excluded: Counter = field(default_factory=Counter)
    qualifying: dict[str, int] = field(default_factory=dict)

    def describe(self) -> str:
        reasons = ", ".join(f"{n} {why}" for why, n in sorted(self.excluded.items()))
        sampled = "".join(
            f"; {task}: {getattr(self, task)} sampled of {n}"
            for task, n in self.qualifying.items()
            if n != getattr(self, task)
        )
        return (
            f"{self.total} captions → {self.integrity} integrity (2 events), {self.temporal} temporal "
            f"(3 events); excluded: {reasons or 'none'}{sampled}"
        )


def _sample(subset: dict[str, list], size: int | None, seed: int, task: str, source: Path) -> dict[str, list]:
    """``size`` rows drawn without replacement (seeded), kept in input order; all rows for None."""
    available = len(subset["prompt"])
    if size is None:
        return subset
    if not 0 < size <= available:
        raise ValueError(f"{source}: asked for {size} {task} captions, {available} qualify")
    keep = sorted(random.Random(seed).sample(range(available), size))
    return {column: [values[i] for i in keep] for column, values in subset.items()}


def build_eval_sets(
    csv_path: str | os.PathLike,
    sizes: dict[str, int | None] | None = None,
    seed: int = 0,
) -> tuple[Dataset, Dataset, EvalSetReport]:
    """Read an AudioCaps-format CSV (``audiocap_id,youtube_id,start_time,caption``) and return the
    integrity and temporal subsets (columns: the CSV's, ``prompt``, ``task``, ``num_events``).

    ``sizes`` (``{"integrity": 148, "temporal": 165}`` for the paper's sizes) draws that many captions
    per task, seeded, in input order; a task not named keeps every qualifying caption. On AudioCaps'
    test CSV 1,891 / 1,148 qualify, so the paper's sets are a selection; its curated lists are what
    :func:`official_eval_set` imports."""
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
    report.qualifying = {task: len(subsets[task]["prompt"]) for task in subsets}
    for offset, task in enumerate(("integrity", "temporal")):
        subsets[task] = _sample(subsets[task], (sizes or {}).get(task), seed + offset, task, path)
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

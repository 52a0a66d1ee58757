"""Column schemas of BATON's datasets and their validation.

Binary preference rows (BATON): one clip per row with ``label`` 1 (aligned), 0 (not aligned) or -1
(no usable label: skipped by the annotator, or not labelled yet — ``source`` tells which). Pairwise
rows (Tango 2 / Diffusion-DPO): ``prompt``, ``chosen``, ``rejected``. Pretrain rows: ``prompt``,
``audio``. Validation runs before anything expensive and reports every bad value with its row and
column, so one pass over a dataset shows all that needs fixing.
"""

from __future__ import annotations

import logging
import math
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from datasets import Audio, ClassLabel, Dataset, Features, List, Value

from baton_tta.data.audio import SAMPLING_RATE, AudioDecodeError, decode_audio

logger = logging.getLogger(__name__)

TASKS = ("integrity", "temporal")
LABEL_ALIGNED, LABEL_NOT_ALIGNED, LABEL_NONE = 1, 0, -1
SOURCES = ("human", "reward_model", "unlabelled")
MAX_REPORTED_PROBLEMS = 50


#: The label's class names: ``datasets``' own ``ClassLabel``, whose -1 is "no label" as ours is, so
#: the Hub's viewer and ``features["label"].int2str`` say "aligned" / "not aligned".
LABEL_NAMES = ("not aligned", "aligned")


def binary_features() -> Features:
    """Canonical features of a binary preference dataset (audio kept encoded, see data.audio). The
    label is a ``ClassLabel``; ``task`` and ``source`` stay strings, the values people read and filter
    by in files and on the Hub (a ``ClassLabel`` would store them as integers), checked against
    :data:`TASKS` and :data:`SOURCES` by :func:`validate_dataset`."""
    return Features(
        {
            "prompt": Value("string"),
            "audio": Audio(sampling_rate=SAMPLING_RATE, decode=False),
            "label": ClassLabel(names=list(LABEL_NAMES)),
            "task": Value("string"),
            "events": List(Value("string")),
            "source": Value("string"),
            "reward": Value("float32"),
            "annotator": Value("string"),
            "generator": Value("string"),
            "seed": Value("int64"),
        }
    )


def pairwise_features() -> Features:
    return Features(
        {
            "prompt": Value("string"),
            "chosen": Audio(sampling_rate=SAMPLING_RATE, decode=False),
            "rejected": Audio(sampling_rate=SAMPLING_RATE, decode=False),
        }
    )


def pretrain_features() -> Features:
    return Features({"prompt": Value("string"), "audio": Audio(sampling_rate=SAMPLING_RATE, decode=False)})


@dataclass(frozen=True)
class Schema:
    name: str
    features: Features
    required: tuple[str, ...]
    audio_columns: tuple[str, ...]


SCHEMAS = {
    "binary": Schema("binary", binary_features(), ("prompt", "audio", "label"), ("audio",)),
    "pairwise": Schema(
        "pairwise", pairwise_features(), ("prompt", "chosen", "rejected"), ("chosen", "rejected")
    ),
    "pretrain": Schema("pretrain", pretrain_features(), ("prompt", "audio"), ("audio",)),
}


class PreferenceDataError(ValueError):
    """A dataset does not fit its schema; ``problems`` lists each (row, column, message)."""

    def __init__(self, source: str, problems: list[str], total: int | None = None):
        self.source = source
        self.problems = problems
        total = total if total is not None else len(problems)
        more = f"\n  … and {total - len(problems)} more" if total > len(problems) else ""
        super().__init__(f"{source}: {total} problem(s):\n  " + "\n  ".join(problems) + more)


def get_schema(name: str) -> Schema:
    if name not in SCHEMAS:
        raise ValueError(f"unknown schema {name!r}; choose one of {sorted(SCHEMAS)}")
    return SCHEMAS[name]


def default_row_values(row: dict) -> dict:
    """Fill the optional binary columns a source did not provide."""
    label = row.get("label")
    source = row.get("source") or "human"  # without a source, -1 means skipped by the annotator
    reward = row.get("reward")
    if reward is None:
        reward = float(label) if label in (LABEL_ALIGNED, LABEL_NOT_ALIGNED) else math.nan
    return {
        "task": row.get("task") or "",
        "events": list(row.get("events") or []),
        "source": source,
        "reward": reward,
        "annotator": row.get("annotator") or "",
        "generator": row.get("generator") or "",
        "seed": -1 if row.get("seed") is None else row["seed"],
    }


def has_visible_text(text: object) -> bool:
    """A string with at least one character a reader sees: not only spaces, control or format
    characters (zero-width spaces and joiners, BOMs, direction marks)."""
    return isinstance(text, str) and any(
        not ch.isspace() and unicodedata.category(ch) not in ("Cc", "Cf", "Co", "Cn", "Zs", "Zl", "Zp")
        for ch in text
    )


def raw_value_problems(dataset: Dataset, schema: Schema) -> list[str]:
    """Values that would not survive the cast to the schema's types, by row and column — checked on
    the raw data, before ``datasets`` would fail with a bare ``ArrowInvalid``. Labels must be the
    integers 1, 0 or -1 (1.0 counts as 1; strings such as "yes" or "1" do not); rewards numbers or empty.
    When any is wrong, the prompts' problems come along, so one report shows everything in row order."""
    if schema.name != "binary" or not {"label", "reward"} & set(dataset.column_names):
        return []
    columns = [c for c in ("prompt", "label", "reward") if c in dataset.column_names]
    typed = 0
    problems: list[str] = []
    for index, row in enumerate(dataset.select_columns(columns)):
        if "prompt" in row and not has_visible_text(row["prompt"]):
            problems.append(f"row {index}, column 'prompt': empty or missing prompt ({row['prompt']!r})")
        label = row.get("label")
        if "label" in row and (
            isinstance(label, bool) or not isinstance(label, int | float) or label not in (1, 0, -1)
        ):
            typed += 1
            problems.append(
                f"row {index}, column 'label': {label!r} is not 1 (aligned), 0 (not aligned) or -1 (skip)"
            )
        reward = row.get("reward")
        if reward is not None and (isinstance(reward, bool) or not isinstance(reward, int | float)):
            typed += 1
            problems.append(f"row {index}, column 'reward': {reward!r} is not a number in [0, 1]")
    return problems if typed else []  # without a type error the full validation reports the rest


#: the longest caption any stage takes: AudioCaps' run to ~200 characters; a 100,000-character one
#: kept an audio-language judge busy for 112 s on 3 rows and no text encoder reads past a few hundred
MAX_PROMPT_CHARS = 2_000


def _row_problems(index: int, row: dict, schema: Schema, check_audio: bool) -> Iterable[str]:
    prompt = row.get("prompt")
    if not has_visible_text(prompt):
        yield f"row {index}, column 'prompt': empty or missing prompt ({prompt!r})"
    elif isinstance(prompt, str) and len(prompt) > MAX_PROMPT_CHARS:
        yield (
            f"row {index}, column 'prompt': {len(prompt):,} characters (at most {MAX_PROMPT_CHARS:,}: a "
            "caption, not a document)"
        )
    if schema.name == "binary":
        label = row.get("label")
        if label not in (LABEL_ALIGNED, LABEL_NOT_ALIGNED, LABEL_NONE):
            yield f"row {index}, column 'label': {label!r} is not 1 (aligned), 0 (not aligned) or -1 (skip)"
        task = row.get("task")
        if task and task not in TASKS:
            yield f"row {index}, column 'task': {task!r} is not one of {list(TASKS)}"
        source = row.get("source")
        if source not in SOURCES:
            yield f"row {index}, column 'source': {source!r} is not one of {list(SOURCES)}"
        reward = row.get("reward")
        usable = label in (LABEL_ALIGNED, LABEL_NOT_ALIGNED) or source == "reward_model"
        if usable and (reward is None or not math.isfinite(reward) or not 0.0 <= reward <= 1.0):
            yield f"row {index}, column 'reward': {reward!r} must be a finite number in [0, 1]"
        elif (
            source == "human"
            and reward is not None
            and ((label == LABEL_ALIGNED and reward < 0.5) or (label == LABEL_NOT_ALIGNED and reward > 0.5))
        ):
            yield (
                f"row {index}, column 'reward': {reward:.3g} contradicts label {label} (a human row's reward is "
                "its share of aligned votes: at least 0.5 for label 1, at most 0.5 for label 0)"
            )
    if check_audio:
        for column in schema.audio_columns:
            try:
                decode_audio(row.get(column), SAMPLING_RATE, where=f"row {index}, column '{column}'")
            except AudioDecodeError as error:
                yield str(error)


def validate_dataset(dataset: Dataset, schema: str | Schema, source: str, check_audio: bool = True) -> None:
    """Raise :class:`PreferenceDataError` listing missing columns, or every bad value by row/column.

    ``check_audio`` decodes each clip once to catch unreadable, empty, NaN/inf and silent audio.
    """
    schema = get_schema(schema) if isinstance(schema, str) else schema
    missing = [column for column in schema.required if column not in dataset.column_names]
    if missing:
        problems = [
            f"column '{column}' is missing (columns present: {dataset.column_names})" for column in missing
        ]
        raise PreferenceDataError(source, problems)
    problems, total = [], 0
    for index, row in enumerate(dataset):
        for problem in _row_problems(index, row, schema, check_audio):
            total += 1
            if len(problems) < MAX_REPORTED_PROBLEMS:
                problems.append(problem)
    if problems:
        raise PreferenceDataError(source, problems, total)


#: What a binary row is for, decided by :func:`row_role` alone.
ROLE_HUMAN = "human"  # labelled 1/0 by a person: trains the reward model and, with its label, the UNet
ROLE_REWARD_MODEL = "reward_model"  # scored by the reward model: trains the UNet with its score
ROLE_UNSCORED = "unscored"  # no label and no score yet: a reward model must score it first
ROLE_SKIPPED = "skipped"  # a person answered "skip" (label -1): never trains
ROLE_REASONS = {
    ROLE_UNSCORED: "not labelled or scored yet",
    ROLE_SKIPPED: "skipped by the annotator (label -1)",
}


def row_role(label: Any, source: Any, reward: Any) -> str:
    """The one rule for which binary rows train, and how (every stage asks it).

    A reward-model row with a finite score is a reward-model row; otherwise a 1/0 label is a human
    row (its reward is the label); a row with neither that comes from the generator ("unlabelled")
    or from a reward model is waiting for a score; anything else is a skip."""
    scored = isinstance(reward, int | float) and math.isfinite(reward)
    if source == "reward_model" and scored:
        return ROLE_REWARD_MODEL
    if label in (LABEL_ALIGNED, LABEL_NOT_ALIGNED) and source != "reward_model":
        return ROLE_HUMAN
    if source in ("unlabelled", "reward_model"):
        return ROLE_UNSCORED
    return ROLE_SKIPPED


def rows_by_role(
    dataset: Dataset,
    label_column: str = "label",
    source_column: str = "source",
    reward_column: str = "reward",
) -> dict[str, list[int]]:
    """Row indices of each role (see :func:`row_role`); a missing source column means "human"."""
    labels = dataset[label_column]
    sources = dataset[source_column] if source_column in dataset.column_names else ["human"] * len(labels)
    rewards = dataset[reward_column] if reward_column in dataset.column_names else [None] * len(labels)
    roles: dict[str, list[int]] = {
        r: [] for r in (ROLE_HUMAN, ROLE_REWARD_MODEL, ROLE_UNSCORED, ROLE_SKIPPED)
    }
    for index, (label, source, reward) in enumerate(zip(labels, sources, rewards)):
        roles[row_role(label, source, reward)].append(index)
    return roles


def log_excluded(roles: dict[str, list[int]], kept: Iterable[str], purpose: str) -> None:
    """Log, by reason, how many rows ``purpose`` leaves out (never drop rows silently)."""
    excluded = {role: len(rows) for role, rows in roles.items() if role not in set(kept) and rows}
    if excluded:
        reasons = ", ".join(
            f"{n} {ROLE_REASONS.get(role, f'{role} rows')}" for role, n in sorted(excluded.items())
        )
        total = sum(len(rows) for rows in roles.values())
        logger.info(
            "%s uses %d of %d rows; left out: %s", purpose, total - sum(excluded.values()), total, reasons
        )


def select_trainable(dataset: Dataset, label_column: str = "label", source_column: str = "source") -> Dataset:
    """Rows that can train the UNet now: human rows and scored reward-model rows; the rest are
    counted and logged by reason."""
    roles = rows_by_role(dataset, label_column, source_column)
    log_excluded(roles, (ROLE_HUMAN, ROLE_REWARD_MODEL), "training")
    return dataset.select(sorted(roles[ROLE_HUMAN] + roles[ROLE_REWARD_MODEL]))

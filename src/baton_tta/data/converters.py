"""Convert other preference data into our schemas.

* The official BATON repository's JSON files plus a folder of their WAVs → binary schema. Two file
  kinds exist: row lists ``{"dataset", "location", "captions", "feedback"}`` (reward-model rows carry
  their score under ``"SED"`` instead of ``"feedback"``), published as JSON Lines in ``data/HA`` and
  ``data/RM`` and as JSON arrays elsewhere (both read), and ``grouped_ratings`` files
  ``{"grouped_ratings": {caption: {file_name: 0.0 | 1.0}}}``. Clip files are named
  ``{idx:04d}_{caption}_{k}.wav``; ``location`` is a path on the authors' machine, so files are found
  by name in the given audio folder.
* A pairwise dataset such as Tango 2's audio-alpaca (``prompt, chosen, rejected, strategy``) →
  pairwise schema, extra columns kept.

Missing audio files are reported by name: an error listing all of them, or, with
``skip_missing=True``, a logged count and list of the rows left out.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from datasets import Audio, Dataset

from baton_tta.data.loading import conform, load_preference_dataset, standardize
from baton_tta.data.schema import LABEL_NONE, PreferenceDataError, get_schema, validate_dataset

logger = logging.getLogger(__name__)


def _task_of(hint: str, default: str | None, where: str) -> str:
    hint = hint.lower()
    if "temporal" in hint or "3label" in hint or "3_label" in hint:
        return "temporal"
    if "integrity" in hint or "2label" in hint or "2_label" in hint:
        return "integrity"
    if default is None:
        raise ValueError(f"{where}: cannot tell the task (integrity/temporal) from {hint!r}; pass task=")
    return default


def read_json_records(path: Path) -> Any:
    """A JSON document (array or object) or JSON Lines (one object per line), told apart by content,
    not by the file name: BATON's ``HA``/``RM`` files are JSON Lines named ``.json``, and its
    ``test_audiocaps_subset.json`` is an array without brackets (one object per line, each line
    ending in a comma), read as JSON Lines. Errors name the file and the line."""
    text = path.read_text(encoding="utf-8")
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        if error.msg != "Extra data":
            raise PreferenceDataError(str(path), [f"line {error.lineno}: not JSON ({error.msg})"]) from error
    records = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line.rstrip().removesuffix(",")))
        except json.JSONDecodeError as error:
            raise PreferenceDataError(
                str(path), [f"line {number}: not a JSON object ({error.msg})"]
            ) from error
    return records


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _record_fields(path: Path, item: Any, where: str, needs_rating: bool) -> tuple[str, str]:
    """The caption and the clip's file name of one row, checked: a row must be an object, and its
    ``captions`` and ``location`` non-empty strings (a list or a number there would otherwise reach
    Arrow as a type error, or a dictionary key as "unhashable", naming nothing)."""
    if not isinstance(item, dict):
        raise PreferenceDataError(str(path), [f"{where}: expected an object, got {type(item).__name__}"])
    missing = [key for key in ("location", "captions") if key not in item]
    if missing or (needs_rating and "feedback" not in item and "SED" not in item):
        raise PreferenceDataError(str(path), [f"{where}: missing key(s) {missing or ['feedback or SED']}"])
    for key in ("captions", "location"):
        value = item[key]
        if not isinstance(value, str) or not value.strip():
            raise PreferenceDataError(
                str(path),
                [f"{where}, key {key!r}: {value!r} ({type(value).__name__}) is not a non-empty string"],
            )
    return item["captions"], Path(item["location"].replace("\\", "/")).name


def _official_rows(path: Path, task: str | None) -> list[dict[str, Any]]:
    """Normalised rows ``{caption, file, label, reward, source, task, where}`` of one JSON file."""
    content = read_json_records(path)
    if isinstance(content, dict) and "grouped_ratings" not in content:
        content = [content]  # JSON Lines with a single row parse as one object
    rows = []
    if isinstance(content, dict) and "grouped_ratings" in content:
        row_task = _task_of(path.name, task, str(path))
        if not isinstance(content["grouped_ratings"], dict):
            raise PreferenceDataError(
                str(path), ["'grouped_ratings' is not a {caption: {file: rating}} object"]
            )
        for caption, files in content["grouped_ratings"].items():
            if not isinstance(files, dict) or not caption.strip():
                raise PreferenceDataError(
                    str(path),
                    [
                        f"grouped_ratings[{caption!r}]: expected a non-empty caption and {{file: rating}}, "
                        f"got {type(files).__name__}"
                    ],
                )
            for file_name, rating in files.items():
                where = f"{path}, grouped_ratings[{caption!r}][{file_name!r}]"
                if not _number(rating) or rating not in (0, 1):
                    raise PreferenceDataError(str(path), [f"{where}: rating {rating!r} is not 0 or 1"])
                rows.append(
                    {
                        "caption": caption,
                        "file": file_name,
                        "label": int(rating),
                        "reward": float(rating),
                        "source": "human",
                        "task": row_task,
                        "where": where,
                    }
                )
        return rows
    if not isinstance(content, list):
        raise PreferenceDataError(
            str(path), ["expected rows (a JSON array or JSON Lines) or a {'grouped_ratings': …} object"]
        )
    for index, item in enumerate(content):
        where = f"{path}, row {index}"
        caption, file_name = _record_fields(path, item, where, needs_rating=True)
        row_task = _task_of(f"{item.get('dataset', '')} {path.name}", task, where)
        if "SED" in item:
            score = item["SED"]
            if not _number(score) or not 0.0 <= score <= 1.0:
                raise PreferenceDataError(
                    str(path), [f"{where}, key 'SED': {score!r} is not a number in [0, 1]"]
                )
            rows.append(
                {
                    "caption": caption,
                    "file": file_name,
                    "label": LABEL_NONE,
                    "reward": float(score),
                    "source": "reward_model",
                    "task": row_task,
                    "where": where,
                }
            )
        else:
            feedback = item["feedback"]
            if not _number(feedback) or feedback not in (0, 1, -1):
                raise PreferenceDataError(
                    str(path), [f"{where}, key 'feedback': {feedback!r} is not 1, 0 or -1"]
                )
            rows.append(
                {
                    "caption": caption,
                    "file": file_name,
                    "label": int(feedback),
                    "reward": float(feedback) if feedback != LABEL_NONE else float("nan"),
                    "source": "human",
                    "task": row_task,
                    "where": where,
                }
            )
    return rows


def deduplicate(rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], int]:
    """Drop repeated (clip, caption, source, label) rows — the official ``grouped_ratings`` files
    repeat the ``HA`` files' labels — and refuse a clip given two different labels, naming both
    places. Returns the kept rows and how many were dropped."""
    kept: dict[tuple, dict[str, Any]] = {}
    conflicts = []
    for row in rows:
        key = (row["file"], row["caption"], row["source"])
        first = kept.get(key)
        if first is None:
            kept[key] = row
        elif (first["label"], first["reward"]) != (row["label"], row["reward"]) and not (
            first["source"] == "human" and first["label"] == row["label"]
        ):
            conflicts.append(
                f"{row['file']!r}: label {first['label']} ({first['where']}) vs {row['label']} ({row['where']})"
            )
    if conflicts:
        raise PreferenceDataError(
            "BATON files", [f"conflicting duplicates: {c}" for c in conflicts[:50]], len(conflicts)
        )
    return list(kept.values()), len(rows) - len(kept)


AudioDirs = str | os.PathLike | Sequence[str | os.PathLike]


def _with_audio(
    rows: list[dict[str, Any]], audio_dirs: AudioDirs, skip_missing: bool
) -> list[dict[str, Any]]:
    """Rows whose ``file`` is in one of ``audio_dirs`` (searched in order; the release names the
    folder wrongly for some files, so only the file name counts), each with its ``path`` set. A
    missing file is an error naming it (or, with ``skip_missing``, a logged list), and nothing left
    is an error."""
    dirs = [Path(audio_dirs)] if isinstance(audio_dirs, str | os.PathLike) else [Path(d) for d in audio_dirs]
    found: list[dict[str, Any]] = []
    missing: list[dict[str, Any]] = []
    for row in rows:
        path = next((d / row["file"] for d in dirs if (d / row["file"]).is_file()), None)
        (missing if path is None else found).append({**row, "path": path})
    where = ", ".join(map(str, dirs))
    if missing:
        names = [f"{row['where']}: audio file {row['file']!r} not found in {where}" for row in missing]
        if not skip_missing:
            raise PreferenceDataError(where, names[:50], len(names))
        logger.warning("skipped %d row(s) whose audio is missing:\n  %s", len(missing), "\n  ".join(names))
    if not found:
        raise PreferenceDataError(where, ["no row has its audio file: nothing to convert"])
    return found


def _audio_cells(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"bytes": row["path"].read_bytes(), "path": row["file"]} for row in rows]


def convert_baton_audiocaps(
    json_files: list[str | os.PathLike], audio_dir: AudioDirs, skip_missing: bool = False
) -> Dataset:
    """The BATON release's AudioCaps lists (``data/Audiocaps/train_audiocaps.json``: JSON Lines of
    ``{"dataset", "location", "captions"}``) + the clips → the pretrain schema (``prompt``, ``audio``)
    with ``clip_id`` (the file stem) kept: the β term's data of paper Eq. 7."""
    rows = []
    for path in map(Path, json_files):
        records = read_json_records(path)
        for index, item in enumerate(records if isinstance(records, list) else [records]):
            where = f"{path}, row {index}"
            caption, file_name = _record_fields(path, item, where, needs_rating=False)
            rows.append({"caption": caption, "file": file_name, "where": where})
        logger.info("%s: %d rows", path, len(records))
    rows = _with_audio(rows, audio_dir, skip_missing)
    dataset = Dataset.from_dict(
        {
            "prompt": [row["caption"] for row in rows],
            "audio": _audio_cells(rows),
            "clip_id": [Path(row["file"]).stem for row in rows],
        }
    ).cast_column("audio", Audio(decode=False))
    return standardize(dataset, "pretrain", f"BATON AudioCaps files {[str(p) for p in json_files]}")


def convert_baton_official(
    json_files: list[str | os.PathLike],
    audio_dir: AudioDirs,
    task: str | None = None,
    skip_missing: bool = False,
    check_audio: bool = True,
) -> Dataset:
    """Official BATON JSON files + their audio folder(s) → binary preference dataset (validated)."""
    per_file = {str(path): _official_rows(Path(path), task) for path in json_files}
    for path, file_rows in per_file.items():
        logger.info("%s: %d rows", path, len(file_rows))
    rows, duplicates = deduplicate([row for file_rows in per_file.values() for row in file_rows])
    if duplicates:
        logger.info("dropped %d duplicate row(s) (same clip, caption and label in several files)", duplicates)
    rows = _with_audio(rows, audio_dir, skip_missing)
    data = {
        "prompt": [row["caption"] for row in rows],
        "audio": _audio_cells(rows),
        "label": [row["label"] for row in rows],
        "task": [row["task"] for row in rows],
        "source": [row["source"] for row in rows],
        "reward": [row["reward"] for row in rows],
        "generator": ["tango"] * len(rows),
    }
    dataset = Dataset.from_dict(data).cast_column("audio", Audio(decode=False))
    dataset = conform(dataset, get_schema("binary"))
    validate_dataset(
        dataset, "binary", f"BATON files {[str(p) for p in json_files]}", check_audio=check_audio
    )
    logger.info("converted %d BATON rows: %s", len(dataset), describe_sources(dataset))
    return dataset


def describe_sources(dataset: Dataset) -> str:
    """Rows per task and source with their label balance (human) or mean reward (reward model): the
    figures to compare with the paper's Table 3 and the release."""
    columns = dataset.select_columns(["task", "source", "label", "reward"]).to_dict()
    rows = list(zip(columns["task"], columns["source"], columns["label"], columns["reward"]))
    parts = []
    for task in sorted(set(columns["task"])):
        for source in ("human", "reward_model"):
            picked = [(label, reward) for t, s, label, reward in rows if (t, s) == (task, source)]
            if not picked:
                continue
            if source == "human":
                labels = [label for label, _ in picked]
                detail = f"{labels.count(1)} aligned, {labels.count(0)} not, {labels.count(-1)} skip"
            else:
                detail = f"mean reward {sum(reward for _, reward in picked) / len(picked):.3f}"
            parts.append(f"{task} {source}: {len(picked)} ({detail})")
    return "; ".join(parts)


def convert_pairwise(
    name_or_path: str | os.PathLike,
    split: str = "train",
    column_map: dict[str, str] | None = None,
    check_audio: bool = True,
) -> Dataset:
    """A pairwise preference dataset (audio-alpaca: ``prompt, chosen, rejected, strategy``) in our
    pairwise schema; extra columns such as ``strategy`` are kept."""
    return load_preference_dataset(
        name_or_path, split=split, column_map=column_map, schema="pairwise", check_audio=check_audio
    )

"""Convert other preference data into our schemas.

* The official BATON repository's JSON files plus a folder of their WAVs → binary schema. Two file
  kinds exist: row lists ``[{"dataset", "location", "captions", "feedback"}, …]`` (reward-model rows
  carry their score under ``"SED"`` instead of ``"feedback"``) and ``grouped_ratings`` files
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
from pathlib import Path
from typing import Any

from datasets import Audio, Dataset

from baton_tta.data.loading import conform, load_preference_dataset
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


def _official_rows(path: Path, task: str | None) -> list[dict[str, Any]]:
    """Normalised rows ``{caption, file, label, reward, source, task, where}`` of one JSON file."""
    content = json.loads(path.read_text(encoding="utf-8"))
    rows = []
    if isinstance(content, dict) and "grouped_ratings" in content:
        row_task = _task_of(path.name, task, str(path))
        for caption, files in content["grouped_ratings"].items():
            for file_name, rating in files.items():
                where = f"{path}, grouped_ratings[{caption!r}][{file_name!r}]"
                if rating not in (0, 1, 0.0, 1.0):
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
        raise PreferenceDataError(str(path), ["expected a list of rows or a {'grouped_ratings': …} object"])
    for index, item in enumerate(content):
        where = f"{path}, row {index}"
        missing = [key for key in ("location", "captions") if key not in item]
        if missing or ("feedback" not in item and "SED" not in item):
            raise PreferenceDataError(
                str(path), [f"{where}: missing key(s) {missing or ['feedback or SED']}"]
            )
        row_task = _task_of(f"{item.get('dataset', '')} {path.name}", task, where)
        file_name = Path(str(item["location"]).replace("\\", "/")).name
        if "SED" in item:
            score = float(item["SED"])
            if not 0.0 <= score <= 1.0:
                raise PreferenceDataError(str(path), [f"{where}, key 'SED': {score!r} is not in [0, 1]"])
            rows.append(
                {
                    "caption": item["captions"],
                    "file": file_name,
                    "label": LABEL_NONE,
                    "reward": score,
                    "source": "reward_model",
                    "task": row_task,
                    "where": where,
                }
            )
        else:
            feedback = item["feedback"]
            if feedback not in (0, 1, -1):
                raise PreferenceDataError(
                    str(path), [f"{where}, key 'feedback': {feedback!r} is not 1, 0 or -1"]
                )
            rows.append(
                {
                    "caption": item["captions"],
                    "file": file_name,
                    "label": int(feedback),
                    "reward": float(feedback) if feedback != LABEL_NONE else float("nan"),
                    "source": "human",
                    "task": row_task,
                    "where": where,
                }
            )
    return rows


def convert_baton_official(
    json_files: list[str | os.PathLike],
    audio_dir: str | os.PathLike,
    task: str | None = None,
    skip_missing: bool = False,
    check_audio: bool = True,
) -> Dataset:
    """Official BATON JSON files + their audio folder → binary preference dataset (validated)."""
    audio_dir = Path(audio_dir)
    rows = [row for path in json_files for row in _official_rows(Path(path), task)]
    missing = [row for row in rows if not (audio_dir / row["file"]).is_file()]
    if missing:
        names = [f"{row['where']}: audio file {row['file']!r} not found in {audio_dir}" for row in missing]
        if not skip_missing:
            raise PreferenceDataError(str(audio_dir), names[:50], len(names))
        logger.warning("skipped %d row(s) whose audio is missing:\n  %s", len(missing), "\n  ".join(names))
        rows = [row for row in rows if (audio_dir / row["file"]).is_file()]
    data = {
        "prompt": [row["caption"] for row in rows],
        "audio": [{"bytes": (audio_dir / row["file"]).read_bytes(), "path": row["file"]} for row in rows],
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
    logger.info(
        "converted %d BATON rows (%d human, %d reward-model)",
        len(dataset),
        sum(s == "human" for s in dataset["source"]),
        sum(s == "reward_model" for s in dataset["source"]),
    )
    return dataset


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

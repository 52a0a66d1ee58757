"""One rule for repeated clips, wherever a binary preference dataset is read.

A clip is its caption plus its audio content (encoded bytes, else the file, else the samples). Rows
that repeat another row's clip *and* label are exact copies: dropped, counted and logged with their
row numbers. Rows that give the same clip the labels 1 and 0 contradict each other: an error naming
both rows, since no rule can know which person was right. A clip labelled once and left unlabelled
(-1) elsewhere is neither, and both rows stay (the roles decide what trains).
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any

import numpy as np
from datasets import Dataset

from baton_tta.data.schema import PreferenceDataError

logger = logging.getLogger(__name__)


def clip_key(prompt: str, audio: Any) -> str:
    """A content hash of a caption and its clip."""
    digest = hashlib.sha256(prompt.encode("utf-8") + b"\0")
    if isinstance(audio, dict) and audio.get("bytes"):
        digest.update(audio["bytes"])
    elif isinstance(audio, dict) and audio.get("path") and Path(audio["path"]).is_file():
        digest.update(Path(audio["path"]).read_bytes())
    elif isinstance(audio, dict) and audio.get("array") is not None:
        digest.update(
            np.asarray(audio["array"], np.float32).tobytes() + str(audio.get("sampling_rate")).encode()
        )
    else:
        digest.update(repr(audio).encode())
    return digest.hexdigest()


def resolve_duplicates(dataset: Dataset, source: str) -> Dataset:
    """``dataset`` without its exact copies; contradictions are a :class:`PreferenceDataError`."""
    if "label" not in dataset.column_names or len(dataset) < 2:
        return dataset
    columns = dataset.select_columns(["prompt", "audio", "label"]).with_format(None)
    first: dict[str, int] = {}
    labels = columns["label"]
    copies: list[tuple[int, int]] = []
    conflicts: list[str] = []
    rows = (row for batch in columns.iter(batch_size=256) for row in zip(batch["prompt"], batch["audio"]))
    for index, (prompt, audio) in enumerate(rows):  # batch by batch: the clips are never all in memory
        key = clip_key(prompt, audio)
        if key not in first:
            first[key] = index
            continue
        original = first[key]
        if labels[index] == labels[original]:
            copies.append((index, original))
        elif {labels[index], labels[original]} == {0, 1}:
            conflicts.append(
                f"rows {original} and {index}: the same caption and clip are labelled "
                f"{labels[original]} and {labels[index]}"
            )
    if conflicts:
        raise PreferenceDataError(source, conflicts[:50], len(conflicts))
    if not copies:
        return dataset
    shown = ", ".join(f"row {i} (= row {j})" for i, j in copies[:10])
    logger.warning(
        "%s: dropped %d exact copies: %s%s", source, len(copies), shown, " …" if len(copies) > 10 else ""
    )
    dropped = {i for i, _ in copies}
    return dataset.select([i for i in range(len(dataset)) if i not in dropped])

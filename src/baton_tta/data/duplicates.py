"""One rule for repeated clips, wherever a binary preference dataset is read.

A clip is its caption plus its decoded audio (:func:`clip_key`: WAV and FLAC of one clip are one clip,
as ``merge-labels`` counts them; only rows sharing a caption are decoded to compare). Rows
that repeat another row's clip *and* label are exact copies: dropped, counted and logged with their
row numbers. Rows that give the same clip the labels 1 and 0 contradict each other: an error naming
both rows, since no rule can know which person was right. A clip labelled once and left unlabelled
(-1) elsewhere is neither, and both rows stay (the roles decide what trains).
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from typing import Any

import numpy as np
from datasets import Dataset

from baton_tta.data.audio import SAMPLING_RATE, decode_audio
from baton_tta.data.schema import PreferenceDataError

logger = logging.getLogger(__name__)


def clip_key(prompt: str, audio: Any, where: str = "audio") -> str:
    """16 hex digits of SHA-256 over the caption and the clip's decoded 16 kHz, 16-bit samples: the
    same clip encoded as WAV or FLAC, or re-saved, is one clip (the loaders and ``merge-labels``
    share this rule). Identity, not validation: a silent clip has a key too; an unreadable one is an
    error naming ``where``."""
    samples = np.clip(decode_audio(audio, SAMPLING_RATE, where=where, allow_silent=True), -1.0, 1.0)
    pcm = np.round(samples * 32767).astype("<i2").tobytes()
    return hashlib.sha256(prompt.encode("utf-8") + b"\0" + pcm).hexdigest()[:16]


def resolve_duplicates(dataset: Dataset, source: str) -> Dataset:
    """``dataset`` without its exact copies; contradictions are a :class:`PreferenceDataError`."""
    if "label" not in dataset.column_names or len(dataset) < 2:
        return dataset
    prompts, labels = dataset["prompt"], dataset["label"]
    counts = Counter(prompts)
    repeated = [i for i, prompt in enumerate(prompts) if counts[prompt] > 1]  # only these can repeat a clip
    first: dict[str, int] = {}
    copies: list[tuple[int, int]] = []
    conflicts: list[str] = []
    audio = dataset.select_columns(["audio"]).with_format(None)
    for index in repeated:  # one clip decoded at a time: the clips are never all in memory
        key = clip_key(prompts[index], audio[index]["audio"], f"{source}: row {index}, column 'audio'")
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

"""The clips to annotate: a binary-schema dataset (local or Hub), each row with a stable clip id.

A clip id is a hash of the caption and the encoded audio, so it does not change when the dataset is
re-saved, re-ordered or pushed and pulled again, and labels in the store always find their clip.
Each annotator hears the clips in their own seeded order, so several annotators do not all start on
the same few clips and the votes spread evenly. Optionally a scorer pre-ranks them (:meth:`ClipSet.prerank`):
the clips it is least sure of come first, in each annotator's order within equal uncertainty. Its
scores only order the queue; they are never labels.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from typing import Any

import numpy as np
from datasets import Dataset

from baton_tta.data.audio import SAMPLING_RATE, decode_audio, score_as_heard
from baton_tta.data.loading import load_preference_dataset
from baton_tta.data.settings import SettingsError

INSTRUCTIONS = {
    "integrity": "Integrity: is every event named in the caption present in the clip? "
    "Aligned only if all of them can be heard.",
    "temporal": "Temporal order: are all events present, and do they happen in the order the caption "
    "states? Aligned only if both hold.",
}


def clip_id_for(prompt: str, audio: dict) -> str:
    """16 hex digits of SHA-256 over the caption and the clip's encoded bytes."""
    digest = hashlib.sha256(prompt.encode("utf-8") + b"\0" + (audio.get("bytes") or b""))
    return digest.hexdigest()[:16]


@dataclass(frozen=True)
class Clip:
    """What the app shows for one clip."""

    clip_id: str
    prompt: str
    task: str
    events: list[str]
    index: int


class ClipSet:
    """A dataset of clips to label, addressable by clip id, in a seeded order per annotator."""

    def __init__(self, dataset: Dataset, seed: int = 0):
        self.dataset = dataset
        self.seed = seed
        self.clip_ids = [clip_id_for(p, a) for p, a in zip(dataset["prompt"], dataset["audio"], strict=True)]
        first: dict[str, int] = {}
        repeats = []
        for index, clip_id in enumerate(self.clip_ids):
            if clip_id in first:
                repeats.append(f"row {index} (= row {first[clip_id]})")
            first.setdefault(clip_id, index)
        if repeats:
            raise ValueError(
                f"{len(repeats)} row(s) repeat another row's caption and audio exactly: {', '.join(repeats[:10])}"
            )
        self._index = {clip_id: i for i, clip_id in enumerate(self.clip_ids)}
        self._orders: dict[str, list[str]] = {}
        #: clip id → a scorer's score in [0, 1] (:meth:`prerank`); empty: the seeded order alone
        self.scores: dict[str, float] = {}

    @classmethod
    def load(
        cls, name_or_path: str, split: str = "train", seed: int = 0, revision: str | None = None
    ) -> ClipSet:
        """Clips from a folder, files or Hub id (at ``revision``), through the project's loader and validation."""
        return cls(
            load_preference_dataset(name_or_path, split=split, schema="binary", revision=revision), seed=seed
        )

    def __len__(self) -> int:
        return len(self.clip_ids)

    def __contains__(self, clip_id: object) -> bool:
        return clip_id in self._index

    def order_for(self, annotator: str) -> list[str]:
        """The annotator's own permutation of the clip ids: the same name and seed give the same order,
        however the dataset's rows are ordered. Computed once per annotator: the app asks every click."""
        if annotator not in self._orders:
            key = hashlib.sha256(f"{self.seed}:{annotator}".encode()).hexdigest()
            order = sorted(self.clip_ids)
            random.Random(int(key[:16], 16)).shuffle(order)
            if self.scores:  # least sure first; sorted() is stable, so ties keep the annotator's order
                order = sorted(order, key=lambda clip_id: abs(self.scores[clip_id] - 0.5))
            self._orders[annotator] = order
        return list(self._orders[annotator])

    def prerank(self, scorer: Any, batch_size: int = 16) -> dict[str, float]:
        """Score every clip once with ``scorer`` (``score(prompts, audios, sampling_rate)``, e.g. an
        audio-language-model judge's P("yes")) so that :meth:`order_for` puts the clips it is least
        sure of (nearest 0.5) first. Returns the scores by clip id; nothing is labelled."""
        scores: dict[str, float] = {}
        for start in range(0, len(self.clip_ids), batch_size):
            ids = self.clip_ids[start : start + batch_size]
            rows = self.dataset.select(range(start, start + len(ids)))
            audios = [decode_audio(a, SAMPLING_RATE) for a in rows["audio"]]
            try:
                heard = score_as_heard(scorer, list(rows["prompt"]), audios, SAMPLING_RATE)
            except Exception as error:  # any scorer's failure: said in one line, the app not started
                raise SettingsError(
                    f"pre-ranking failed on clips {start}-{start + len(ids) - 1} ({type(error).__name__}: "
                    f"{error}); nothing was labelled or served: fix the scorer or leave out --prerank_with"
                ) from error
            scores.update(zip(ids, heard, strict=True))
        self.scores = {clip_id: float(score) for clip_id, score in scores.items()}
        self._orders.clear()
        return dict(self.scores)

    def clip(self, clip_id: str) -> Clip:
        index = self._index[clip_id]
        row = self.dataset[index]
        return Clip(clip_id, row["prompt"], row["task"], list(row["events"] or []), index)

    def waveform(self, clip_id: str) -> tuple[int, np.ndarray]:
        """(sampling rate, int16 samples) for the audio player."""
        audio = decode_audio(self.dataset[self._index[clip_id]]["audio"], SAMPLING_RATE)
        return SAMPLING_RATE, (np.clip(audio, -1.0, 1.0) * 32767).astype(np.int16)

    def tasks(self) -> list[str]:
        return list(self.dataset["task"])

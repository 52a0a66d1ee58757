"""On-disk cache of reward-model embeddings: each caption and each clip is encoded by the frozen
backbone once, then reused across epochs, runs and scripts.

The official BATON script re-ran CLAP on every item in every epoch; the head is all that trains, so
its inputs never change. Entries are keyed by the content (caption text, or the clip's encoded bytes /
samples) and live under a folder named by the backbone's fingerprint (config, weights sample, feature
extractor settings): another backbone never sees them. Under ``accelerate launch`` the missing
entries are computed in whole batches by the processes, each storing its own, and read by all.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from baton_tta.data.audio import CLAP_SAMPLING_RATE, decode_audio
from baton_tta.data.distributed import is_main_process, my_batches, wait_for_everyone
from baton_tta.reward.modeling import BatonRewardModel


def backbone_fingerprint(model: BatonRewardModel) -> str:
    """A short hash of what determines the embeddings: the encoders' configs, a sample of every weight
    tensor, the text backbone and the feature extractor's settings."""
    digest = hashlib.sha256()
    digest.update(model.config.clap_config.to_json_string(use_diff=False).encode())
    digest.update(
        f"{model.config.text_backbone}:{model.config.t5_config and model.config.t5_config.to_json_string()}".encode()
    )
    encoders = [model.clap] + ([model.text_encoder] if model.text_encoder is not None else [])
    for encoder in encoders:
        for name, tensor in encoder.state_dict().items():
            flat = tensor.detach().reshape(-1)
            sample = flat[:: max(1, flat.numel() // 64)][:64].float().cpu().numpy()
            digest.update(name.encode() + str(tuple(tensor.shape)).encode() + sample.tobytes())
    if model.processor is not None:
        extractor = model.processor.feature_extractor.to_dict()
        digest.update(json.dumps(extractor, sort_keys=True, default=str).encode())
    return digest.hexdigest()[:16]


def content_key(value: Any) -> str:
    """Hash of a caption, or of a clip's content: encoded bytes, file bytes, or samples + rate."""
    digest = hashlib.sha256()
    if isinstance(value, str):
        digest.update(b"text:" + value.encode("utf-8"))
    elif isinstance(value, dict) and value.get("bytes"):
        digest.update(b"audio-bytes:" + value["bytes"])
    elif isinstance(value, dict) and value.get("path"):
        digest.update(b"audio-bytes:" + Path(value["path"]).read_bytes())
    elif isinstance(value, dict) and value.get("array") is not None:
        digest.update(
            f"audio-array:{value['sampling_rate']}:".encode()
            + np.asarray(value["array"], np.float32).tobytes()
        )
    else:
        raise TypeError(f"cannot key a cache entry on {type(value).__name__}")
    return digest.hexdigest()


#: captions or clips embedded per pass through the frozen encoders
EMBEDDING_BATCH = 32


class EmbeddingCache:
    """``embed_texts`` / ``embed_audios`` return (N, D) arrays, computing only what is missing."""

    def __init__(
        self, cache_dir: str | os.PathLike, model: BatonRewardModel, batch_size: int = EMBEDDING_BATCH
    ):
        self.model = model
        self.fingerprint = backbone_fingerprint(model)
        self.root = Path(cache_dir) / self.fingerprint
        self.batch_size = batch_size
        self.hits = 0
        self.misses = 0

    def _path(self, kind: str, key: str) -> Path:
        return self.root / kind / key[:2] / f"{key}.npy"

    def _lookup(self, kind: str, values: list[Any], compute) -> np.ndarray:
        """``compute`` receives ``(row_index, value)`` pairs for the entries not cached yet."""
        keys = [content_key(v) for v in values]
        found: dict[str, np.ndarray] = {}
        for key in set(keys):
            path = self._path(kind, key)
            if path.is_file():
                found[key] = np.load(path)
        missing = list(dict.fromkeys(k for k in keys if k not in found))
        self.hits += sum(1 for k in keys if k in found)
        self.misses += len(keys) - sum(1 for k in keys if k in found)
        first_row = {k: i for i, k in reversed(list(enumerate(keys)))}
        # every process has looked before any stores (so all agree on what is missing); then whole
        # batches per process, each storing its entries; then every process reads all of them
        wait_for_everyone()
        mine = my_batches(missing, self.batch_size, f"{kind} embeddings")
        quiet = len(missing) < 2 * self.batch_size or not is_main_process()
        for chunk in tqdm(mine, desc=f"embedding {kind}", disable=quiet):
            embeddings = compute([(first_row[k], values[first_row[k]]) for k in chunk])
            for key, embedding in zip(chunk, embeddings):
                self._store(kind, key, embedding)
                found[key] = embedding
        wait_for_everyone()
        for key in missing:
            if key not in found:
                found[key] = np.load(self._path(kind, key))
        return np.stack([found[k] for k in keys]) if keys else np.zeros((0, 0), np.float32)

    def _store(self, kind: str, key: str, embedding: np.ndarray) -> None:
        path = self._path(kind, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f"{path.stem}.{os.getpid()}.tmp.npy")
        np.save(temporary, embedding.astype(np.float32))
        os.replace(temporary, path)

    @torch.no_grad()
    def embed_texts(self, prompts: list[str]) -> np.ndarray:
        def compute(batch: list[tuple[int, str]]) -> np.ndarray:
            texts = [text for _, text in batch]
            return self.model.embed_text(**self.model.text_inputs(texts)).float().cpu().numpy()

        return self._lookup("text", list(prompts), compute)

    @torch.no_grad()
    def embed_audios(self, audios: list[Any], column: str = "audio") -> np.ndarray:
        """Audio column values (any rate, mono or stereo) → CLAP audio embeddings; unusable audio is an
        error naming its row and column."""

        def compute(batch: list[tuple[int, Any]]) -> np.ndarray:
            waves = [
                decode_audio(v, CLAP_SAMPLING_RATE, where=f"row {i}, column '{column}'") for i, v in batch
            ]
            inputs = self.model.audio_inputs(waves, CLAP_SAMPLING_RATE)
            return self.model.embed_audio(**inputs).float().cpu().numpy()

        return self._lookup("audio", list(audios), compute)

"""Crash-safe progress for long dataset jobs (clip generation, reward labelling).

Each finished batch is one parquet shard, written to a temporary name and renamed into place, so a
shard either exists complete or not at all; a rerun reads which indices the shards hold and does only
the rest. An interrupted run loses at most the batch in flight.
"""

from __future__ import annotations

import os
from pathlib import Path

from datasets import Dataset, Features, concatenate_datasets


def write_shard(rows: dict[str, list], features: Features, shard_dir: Path, name: str) -> Path:
    """Write ``rows`` as ``shard_dir/name.parquet`` atomically."""
    shard_dir.mkdir(parents=True, exist_ok=True)
    target = shard_dir / f"{name}.parquet"
    temporary = target.with_suffix(".parquet.tmp")
    # from_dict(features=...) with an Audio feature needs torchcodec; casting afterwards does not
    Dataset.from_dict(rows).cast(features).to_parquet(str(temporary))
    os.replace(temporary, target)
    return target


def read_shards(shard_dir: Path) -> Dataset | None:
    """All complete shards (temporary files are ignored), or None when there are none."""
    shards = sorted(shard_dir.glob("*.parquet"))
    if not shards:
        return None
    return concatenate_datasets([Dataset.from_parquet(str(s), keep_in_memory=True) for s in shards])


def done_indices(shard_dir: Path, column: str) -> set[int]:
    """The values of ``column`` (row or prompt indices) already in a complete shard."""
    done = read_shards(shard_dir)
    return set(done[column]) if done is not None else set()

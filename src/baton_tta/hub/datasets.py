"""Share preference datasets on the Hub with a dataset card that says what is inside, in one commit.

Audio columns are kept encoded (``Audio(decode=False)``) inside the library; on push they are cast to
a plain ``Audio(sampling_rate=16000)`` feature, so users with torchcodec get decoded audio from
``load_dataset`` as usual, and :func:`baton_tta.data.load_preference_dataset` reads it back without.
The rows go up as Parquet shards in the layout ``datasets`` writes (``data/train-*.parquet``, the
features in each file's schema) together with the card, so the repository never holds rows without
their card or a card without its rows.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

from datasets import Audio, Dataset
from huggingface_hub import DatasetCard

from baton_tta.data.audio import SAMPLING_RATE
from baton_tta.data.schema import get_schema
from baton_tta.hub.cards import dataset_card
from baton_tta.hub.push import is_dry_run, push_folder

#: Rows per Parquet shard are chosen so that a shard holds about this many bytes (as ``datasets``).
SHARD_BYTES = 500 * 2**20


def write_parquet_shards(dataset: Dataset, folder: Path, split: str = "train") -> list[Path]:
    """``folder/data/{split}-0000i-of-0000n.parquet``, about :data:`SHARD_BYTES` each."""
    shards = max(1, math.ceil(dataset.data.nbytes / SHARD_BYTES))
    (folder / "data").mkdir(parents=True, exist_ok=True)
    paths = []
    for index in range(shards):
        path = folder / "data" / f"{split}-{index:05d}-of-{shards:05d}.parquet"
        dataset.shard(shards, index, contiguous=True).to_parquet(str(path))
        paths.append(path)
    return paths


def push_preference_dataset(
    dataset: Dataset,
    repo_id: str,
    schema: str = "binary",
    license: str | None = None,
    pretty_name: str | None = None,
    private: bool = False,
    token: str | None = None,
    commit_message: str = "Upload preference dataset with baton-tta",
    provenance: str | None = None,
) -> DatasetCard:
    """Push ``dataset`` (audio as a standard ``Audio`` feature) and its card to ``repo_id``, one commit;
    ``provenance`` is the card's contributors-and-agreement section."""
    spec = get_schema(schema)
    for column in spec.audio_columns:
        dataset = dataset.cast_column(column, Audio(sampling_rate=SAMPLING_RATE))
    card = dataset_card(dataset, schema, list(spec.features), repo_id, pretty_name, license, provenance)
    with tempfile.TemporaryDirectory() as staging:
        write_parquet_shards(dataset, Path(staging))
        card.save(Path(staging) / "README.md")
        push_folder(
            staging, repo_id, repo_type="dataset", private=private, token=token, commit_message=commit_message
        )
    done = "would push (dry run)" if is_dry_run() else "pushed"
    print(f"{done} {len(dataset)} rows and the dataset card to {repo_id} in one commit")
    return card

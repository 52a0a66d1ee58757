"""Share preference datasets on the Hub with a dataset card that says what is inside.

Audio columns are kept encoded (``Audio(decode=False)``) inside the library; on push they are cast to
a plain ``Audio(sampling_rate=16000)`` feature, so users with torchcodec get decoded audio from
``load_dataset`` as usual, and :func:`baton_tta.data.load_preference_dataset` reads it back without.
"""

from __future__ import annotations

from datasets import Audio, Dataset
from huggingface_hub import DatasetCard

from baton_tta.data.audio import SAMPLING_RATE
from baton_tta.data.schema import get_schema
from baton_tta.hub.cards import dataset_card


def push_preference_dataset(
    dataset: Dataset,
    repo_id: str,
    schema: str = "binary",
    license: str | None = None,
    pretty_name: str | None = None,
    private: bool = False,
    token: str | None = None,
) -> DatasetCard:
    """Push ``dataset`` (audio as a standard ``Audio`` feature) and its card to ``repo_id``."""
    spec = get_schema(schema)
    for column in spec.audio_columns:
        dataset = dataset.cast_column(column, Audio(sampling_rate=SAMPLING_RATE))
    dataset.push_to_hub(repo_id, private=private, token=token)
    card = dataset_card(dataset, schema, list(spec.features), repo_id, pretty_name, license)
    card.push_to_hub(repo_id, repo_type="dataset", token=token)
    print(f"pushed {len(dataset)} rows and the dataset card to {repo_id}")
    return card

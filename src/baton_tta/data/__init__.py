"""Datasets of BATON: schemas and validation, audio I/O without torchcodec, loading from anywhere."""

from baton_tta.data.audio import AudioDecodeError, decode_audio, encode_audio
from baton_tta.data.loading import load_preference_dataset
from baton_tta.data.schema import (
    LABEL_ALIGNED,
    LABEL_NONE,
    LABEL_NOT_ALIGNED,
    SAMPLING_RATE,
    TASKS,
    PreferenceDataError,
    binary_features,
    pairwise_features,
    pretrain_features,
    select_trainable,
    validate_dataset,
)

__all__ = [
    "LABEL_ALIGNED",
    "LABEL_NONE",
    "LABEL_NOT_ALIGNED",
    "SAMPLING_RATE",
    "TASKS",
    "AudioDecodeError",
    "PreferenceDataError",
    "binary_features",
    "decode_audio",
    "encode_audio",
    "load_preference_dataset",
    "pairwise_features",
    "pretrain_features",
    "select_trainable",
    "validate_dataset",
]

"""The one audio reader (:func:`baton_tta.data.loading.read_audio_value`), tested over the class, not
the reported cases: every way a dataset can name a clip × every place the path can point × every
origin, asserting that no byte of a file outside the dataset's folder ever reaches a loaded dataset
(fourth trust pass: a plain Parquet struct, a JSON Lines ``{"path": …}``, a relative ``../x.wav``
resolved against the current directory and a Hub dataset's paths all read local files)."""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from datasets import Audio, Dataset, Features, Value
from hypothesis import given, settings
from hypothesis import strategies as st

from baton_tta.data import PreferenceDataError, load_preference_dataset
from baton_tta.data.loading import HUB, standardize
from helpers import wav_bytes

#: (a save_to_disk folder with a path-only Audio column cannot be written: datasets reads the file
#: into it; such rows come from Parquet or the Hub, covered here and below)
FORMATS = [
    "csv",
    "jsonl string",
    "jsonl dict",
    "parquet plain struct",
    "parquet audio feature",
    "audiofolder",
]
#: where a named path points, and whether reading it is allowed
PATHS = {
    "inside, relative": True,
    "inside, absolute": True,
    "outside, ../": False,
    "outside, absolute": False,
    "outside, a link inside": False,
    "outside, relative to the current directory": False,
    "a URL": False,
}


def _world(root: Path) -> tuple[Path, bytes, bytes]:
    """``root/data/inside.wav``, ``root/outside/secret.wav`` (its own bytes) and a link to it inside."""
    rng = np.random.default_rng(0)
    inside = wav_bytes((0.1 * rng.standard_normal(1600)).astype(np.float32), 16000)
    secret = wav_bytes((0.1 * rng.standard_normal(1600)).astype(np.float32), 16000)
    (root / "data").mkdir()
    (root / "outside").mkdir()
    (root / "data" / "inside.wav").write_bytes(inside)
    (root / "outside" / "secret.wav").write_bytes(secret)
    os.symlink(root / "outside" / "secret.wav", root / "data" / "link.wav")
    return root / "data", inside, secret


def _name(kind: str, data: Path) -> str:
    return {
        "inside, relative": "inside.wav",
        "inside, absolute": str(data / "inside.wav"),
        "outside, ../": "../outside/secret.wav",
        "outside, absolute": str(data.parent / "outside" / "secret.wav"),
        "outside, a link inside": "link.wav",
        "outside, relative to the current directory": "secret.wav",
        "a URL": "https://example.com/secret.wav",
    }[kind]


def _write(fmt: str, data: Path, name: str) -> Path:
    """The dataset in ``fmt`` naming the clip ``name``; returns what to load."""
    row = {"prompt": "a dog barks", "label": 1}
    if fmt == "csv":
        (data / "rows.csv").write_text(f"prompt,audio,label\na dog barks,{name},1\n")
        return data / "rows.csv"
    if fmt.startswith("jsonl"):
        audio = name if fmt == "jsonl string" else {"path": name}
        (data / "rows.jsonl").write_text(json.dumps({**row, "audio": audio}) + "\n")
        return data / "rows.jsonl"
    if fmt == "parquet plain struct":  # no Hugging Face features in the file: a struct like any other
        table = pa.table({"prompt": [row["prompt"]], "audio": [{"bytes": None, "path": name}], "label": [1]})
        pq.write_table(table, data / "rows.parquet")
        return data / "rows.parquet"
    typed = Dataset.from_dict({**{k: [v] for k, v in row.items()}, "audio": [{"bytes": None, "path": name}]})
    typed = typed.cast(
        Features({"prompt": Value("string"), "label": Value("int64"), "audio": Audio(decode=False)})
    )
    if fmt == "parquet audio feature":  # written as is: datasets' to_parquet would read the file itself
        pq.write_table(typed.data.table, data / "rows.parquet")
        return data / "rows.parquet"
    (data / "metadata.csv").write_text(f"file_name,prompt,label\n{name},a dog barks,1\n")
    return data


@given(fmt=st.sampled_from(FORMATS), kind=st.sampled_from(sorted(PATHS)), allowed=st.booleans())
@settings(max_examples=80)
def test_no_byte_of_a_file_outside_the_dataset_reaches_it(fmt, kind, allowed, tmp_path_factory):
    root = tmp_path_factory.mktemp("world")
    data, inside, secret = _world(root)
    source = _write(fmt, data, _name(kind, data))
    try:
        with contextlib.chdir(root / "outside"):  # the current directory holds the secret: it must not matter
            loaded = load_preference_dataset(str(source), check_audio=False, allow_outside_paths=allowed)
    except PreferenceDataError:
        assert not PATHS[kind], f"{fmt}, {kind}: refused a clip inside"
        return
    clips = [value["bytes"] for value in loaded.with_format(None)["audio"]]
    may_read_outside = allowed and kind not in ("a URL", "outside, relative to the current directory")
    assert may_read_outside or secret not in clips, f"{fmt}, {kind}: the outside file was read"
    assert clips == [secret] or clips == [inside]


@given(value=st.sampled_from(["secret", {"path": "secret"}, {"bytes": None, "path": "secret"}]))
@settings(max_examples=10)
def test_a_hub_datasets_paths_never_read_this_machines_files(value, tmp_path_factory):
    """A Hub dataset's rows (here given as loaded) may name a path: it is read only inside the Hub
    loaders' caches, never elsewhere on this machine, in any of the forms a row can take."""
    root = tmp_path_factory.mktemp("hub")
    _, _, _ = _world(root)
    secret = str(root / "outside" / "secret.wav")
    named = secret if value == "secret" else {k: (secret if v == "secret" else v) for k, v in value.items()}
    rows = Dataset.from_dict({"prompt": ["a dog barks"], "audio": [named], "label": [1]})
    with pytest.raises(PreferenceDataError, match="a remote dataset never reads files of this machine"):
        standardize(rows, "binary", "you/remote", origin=HUB, check_audio=False)

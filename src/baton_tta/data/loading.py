"""Load preference, pairwise and pretrain datasets from anywhere users keep them, validated.

Accepted sources: a Hub dataset id, a ``save_to_disk`` folder (``Dataset`` or ``DatasetDict``),
parquet / JSON(L) / CSV files or folders of them, and an audio folder with ``metadata.csv`` or
``metadata.jsonl`` (``file_name`` column, as ``datasets``' audiofolder). Audio columns always come
back as ``Audio(decode=False)`` so decoding never needs torchcodec (see :mod:`baton_tta.data.audio`).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path

import pyarrow.compute as pc
from datasets import Audio, Dataset, DatasetDict, load_dataset, load_from_disk

from baton_tta.data.duplicates import resolve_duplicates
from baton_tta.data.schema import (
    MAX_REPORTED_PROBLEMS,
    SAMPLING_RATE,
    PreferenceDataError,
    Schema,
    default_row_values,
    get_schema,
    raw_value_problems,
    validate_dataset,
)

logger = logging.getLogger(__name__)

FILE_BUILDERS = {".parquet": "parquet", ".json": "json", ".jsonl": "json", ".csv": "csv"}
METADATA_FILES = ("metadata.jsonl", "metadata.csv")


def _pick_split(data: Dataset | DatasetDict, split: str, source: str) -> Dataset:
    if isinstance(data, DatasetDict):
        if split not in data:
            raise ValueError(f"{source}: no split {split!r} (splits: {list(data)})")
        return data[split]
    return data


#: each row's position in the file or dataset it came from, carried through every selection, so an
#: error found after rows were dropped or subsampled still names the row people can find
SOURCE_ROW = "source_row"
#: columns that hold text in every schema: JSON must give them as strings
TEXT_COLUMNS = ("prompt", "caption", "task", "source", "annotator", "generator")


def _load_files(files: list[Path], split: str) -> Dataset:
    builders = {FILE_BUILDERS[f.suffix.lower()] for f in files}
    if len(builders) != 1:
        raise ValueError(f"mixed file types {sorted(f.name for f in files)}: use one format per dataset")
    builder = builders.pop()
    if builder == "json":
        dataset = Dataset.from_list([row for f in files for row in _json_rows(f)])
    else:
        for file in files if builder == "csv" else ():
            _check_utf8(file)
            if sum(1 for line in file.read_text(encoding="utf-8").splitlines() if line.strip()) < 2:
                raise PreferenceDataError(str(file), ["the file holds no rows (a header at most)"])
        try:
            dataset = load_dataset(builder, data_files={split: [str(f) for f in files]}, split=split)
        except Exception as error:  # datasets wraps the reader's error; name the files and the cause
            cause = error.__cause__ or error
            names = ", ".join(str(f) for f in files)
            raise PreferenceDataError(
                names, [f"could not read the {builder} data ({type(cause).__name__}: {cause})"]
            ) from error
    if len(dataset) == 0:
        raise PreferenceDataError(", ".join(str(f) for f in files), ["the file holds no rows"])
    return dataset


def _check_utf8(path: Path) -> None:
    """A text file that is not UTF-8 is an error naming the file, line and byte (not a bare
    ``UnicodeDecodeError … position 98``)."""
    data = path.read_bytes()
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise PreferenceDataError(
            str(path),
            [f"line {line}, byte {error.start}: not UTF-8 text ({error.reason}); save the file as UTF-8"],
        ) from error


def _json_rows(path: Path) -> list[dict]:
    """A JSON array (or ``{"data": [...]}``) or JSON Lines file → rows, read by Python's own parser:
    ``datasets``' inference turns a column that mixes a number with text into JSON text (every other
    caption then trains wrapped in quote marks). Syntax errors and text columns holding anything but
    text are errors naming the file, line or row, and column."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise PreferenceDataError(
            str(path), [f"byte {error.start}: not UTF-8 text ({error.reason})"]
        ) from error
    lines = text.splitlines()
    as_lines = path.suffix.lower() == ".jsonl" or (
        len(lines) > 1
        and all(
            line.lstrip().startswith("{") and line.rstrip().endswith("}") for line in lines if line.strip()
        )
    )
    try:
        if as_lines:
            rows = []
            for number, line in enumerate(lines, 1):
                if line.strip():
                    try:
                        rows.append(json.loads(line))
                    except json.JSONDecodeError as error:
                        raise PreferenceDataError(
                            str(path), [f"line {number}, column {error.colno}: not valid JSON ({error.msg})"]
                        ) from error
        else:
            document = json.loads(text)
            rows = document["data"] if isinstance(document, dict) and "data" in document else document
    except json.JSONDecodeError as error:
        raise PreferenceDataError(
            str(path), [f"line {error.lineno}, column {error.colno}: not valid JSON ({error.msg})"]
        ) from error
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise PreferenceDataError(str(path), ["expected a list of objects (one per row)"])
    problems = [
        f"row {index}, column '{column}': {row[column]!r} ({type(row[column]).__name__}) is not text"
        for index, row in enumerate(rows)
        for column in TEXT_COLUMNS
        if row.get(column) is not None and not isinstance(row[column], str)
    ]
    if problems:
        raise PreferenceDataError(str(path), problems[:MAX_REPORTED_PROBLEMS], len(problems))
    return rows


_OUTSIDE_PATHS_ALLOWED: ContextVar[bool] = ContextVar("baton_tta_outside_paths_allowed", default=False)


@contextmanager
def outside_paths_allowed() -> Iterator[None]:
    """Inside the block a dataset's audio paths may point outside its folder, as with
    ``allow_outside_paths=True`` (``--allow_outside_paths`` on any command: a CSV whose clips live
    in another folder of one's own)."""
    token = _OUTSIDE_PATHS_ALLOWED.set(True)
    try:
        yield
    finally:
        _OUTSIDE_PATHS_ALLOWED.reset(token)


@dataclass(frozen=True)
class AudioOrigin:
    """Where a dataset's audio paths may be read from: a local dataset's own ``folder``, a Hub dataset
    (``remote``: only the files its loaders downloaded), or neither — a dataset built in Python, whose
    paths are the caller's own and read as given."""

    folder: Path | None = None
    remote: bool = False


IN_CODE = AudioOrigin()
HUB = AudioOrigin(remote=True)


def read_audio_value(
    value: object, where: str, source: str, origin: AudioOrigin, allow_outside: bool = False
) -> dict | None:
    """The one reader of every audio value any command reads — an ``Audio`` struct, a plain Parquet
    struct, a JSON dict, a path or URL-like string — as ``{"bytes", "path"}`` (the path's file name
    only). A value with bytes is kept; a path is read by :func:`resolve_audio_path`'s rule, once."""
    if value is None:
        return None
    if isinstance(value, dict):
        if value.get("bytes") is not None:
            return {"bytes": value["bytes"], "path": Path(str(value.get("path") or "")).name or None}
        name = value.get("path")
    else:
        name = value
    if not isinstance(name, str) or not name.strip():
        raise PreferenceDataError(source, [f"{where}: {value!r:.80} is neither audio bytes nor a path"])
    file = resolve_audio_path(name, where, source, origin, allow_outside)
    if not file.is_file():
        raise PreferenceDataError(source, [f"{where}: file {name!r} not found"])
    return {"bytes": file.read_bytes(), "path": Path(name).name}


def resolve_audio_path(name: str, where: str, source: str, origin: AudioOrigin, allow_outside: bool) -> Path:
    """The rule for a path a dataset names: never a URL; a local dataset's paths are relative to its
    own folder (never the current directory) and stay inside it — links included — unless allowed; a
    Hub dataset's only inside the Hub loaders' caches (it never reads a file of this machine)."""
    if "://" in name:
        raise PreferenceDataError(
            source, [f"{where}: {name!r} is a URL; audio is read from the dataset, not fetched"]
        )
    if origin.remote:
        file = Path(name).resolve()
        if not any(file.is_relative_to(root) for root in _cache_roots()):
            raise PreferenceDataError(
                source,
                [
                    f"{where}: the clip is only a local path ({name!r}); a remote dataset never reads "
                    "files of this machine: embed the audio bytes in the dataset"
                ],
            )
        return file
    if origin.folder is not None:
        return _inside(origin.folder, name, where, allow_outside)
    return Path(name)


def _inside(folder: Path, name: str, where: str, allow_outside: bool) -> Path:
    """``folder / name``, refused when it leaves ``folder`` (``../``, absolute paths, links) unless
    allowed (here or by :func:`outside_paths_allowed`): a metadata file must not read files the user
    did not hand over."""
    file = folder / name
    allowed = allow_outside or _OUTSIDE_PATHS_ALLOWED.get()
    if not allowed and not file.resolve().is_relative_to(folder.resolve()):
        raise PreferenceDataError(
            str(folder),
            [
                f"{where}: {name!r} points outside {folder} (your own files? add --allow_outside_paths to "
                "the command, or allow_outside_paths=True in Python)"
            ],
        )
    return file


def _load_audio_folder(folder: Path, split: str, audio_column: str, allow_outside: bool) -> Dataset:
    """Metadata rows + the audio files they name, as encoded bytes. A missing file, or one outside
    the folder, is an error that names the file and the metadata row."""
    metadata = next(folder / name for name in METADATA_FILES if (folder / name).is_file())
    table = _load_files([metadata], split)
    if "file_name" not in table.column_names:
        raise PreferenceDataError(
            str(metadata), [f"column 'file_name' is missing (columns: {table.column_names})"]
        )
    files = [
        resolve_audio_path(
            str(name), f"row {index}, column 'file_name'", str(metadata), AudioOrigin(folder), allow_outside
        )
        for index, name in enumerate(table["file_name"])
    ]
    missing = [
        f"row {index}, column 'file_name': {name!r} not found in {folder}"
        for index, (name, file) in enumerate(zip(table["file_name"], files))
        if not file.is_file()
    ]
    if missing:
        raise PreferenceDataError(str(metadata), missing[:50], len(missing))
    audio = [{"bytes": file.read_bytes(), "path": name} for name, file in zip(table["file_name"], files)]
    table = table.remove_columns("file_name").add_column(audio_column, audio)
    return table.cast_column(audio_column, Audio(decode=False))


def load_raw(
    name_or_path: str | os.PathLike,
    split: str = "train",
    audio_column: str = "audio",
    allow_outside_paths: bool = False,
    revision: str | None = None,
) -> Dataset:
    """Load without renaming or validation (see :func:`load_preference_dataset`); ``revision`` pins
    a Hub dataset's commit, branch or tag."""
    path = Path(name_or_path)
    source = str(name_or_path)
    if path.is_dir():
        if (path / "dataset_dict.json").is_file() or (path / "state.json").is_file():
            dataset = _pick_split(_load_saved(path, split), split, source)
        elif any((path / name).is_file() for name in METADATA_FILES):
            dataset = _load_audio_folder(path, split, audio_column, allow_outside_paths)
        else:
            files = sorted(f for f in path.rglob("*") if f.suffix.lower() in FILE_BUILDERS)
            if not files:
                raise FileNotFoundError(
                    f"{source}: no dataset found (no save_to_disk files, metadata, parquet, JSON or CSV)"
                )
            dataset = _load_files(files, split)
        origin = AudioOrigin(path)
    elif path.is_file():
        if path.suffix.lower() not in FILE_BUILDERS:
            raise ValueError(f"{source}: unsupported file type {path.suffix!r} (use {sorted(FILE_BUILDERS)})")
        dataset, origin = _load_files([path], split), AudioOrigin(path.parent)
    else:
        looks_like_path = (
            path.suffix.lower() in FILE_BUILDERS
            or source.startswith((".", "/", "~"))
            or source.count("/") > 1
        )
        if looks_like_path:
            raise FileNotFoundError(f"{source}: no such file or folder")
        dataset, origin = load_dataset(source, split=split, revision=revision), HUB
    if len(dataset) == 0:
        raise PreferenceDataError(source, [f"the dataset has no rows (split {split!r})"])
    return embed_audio_paths(dataset, source, origin, allow_outside_paths)


def _load_saved(path: Path, split: str) -> Dataset | DatasetDict:
    """A ``save_to_disk`` folder; one saved with no rows (or a DatasetDict whose ``split`` has none)
    has no data files there, which ``load_from_disk`` meets with a bare ``IndexError``."""
    where = path / split if (path / "dataset_dict.json").is_file() and (path / split).is_dir() else path
    if not any(where.rglob("*.arrow")):
        named = f"split {split!r}" if where != path else "the dataset"
        raise PreferenceDataError(str(path), [f"{named} has no rows (its save_to_disk folder holds no data)"])
    return load_from_disk(str(where))  # the split alone: another split's emptiness is not this one's


def _cache_roots() -> list[Path]:
    """Where ``datasets`` and ``huggingface_hub`` put what they download for a Hub dataset."""
    import datasets.config
    from huggingface_hub import constants

    return [Path(datasets.config.HF_DATASETS_CACHE).resolve(), Path(constants.HF_HUB_CACHE).resolve()]


def embed_audio_paths(
    dataset: Dataset, source: str, origin: AudioOrigin, allow_outside_paths: bool = False
) -> Dataset:
    """Audio columns as ``Audio(decode=False)`` with every clip's bytes in the row.

    A Parquet, Arrow or Hub row may carry only ``{"path": ..., "bytes": None}``, and every reader
    downstream would then open that path on this machine (a dataset could copy ``/etc/passwd`` or a
    private recording into its labelled output, and a push would upload it). So a path-only clip is
    read here, once, by :func:`read_audio_value` (plain structs and path strings in the schema's audio
    columns are read by it when the dataset is conformed)."""
    for column, feature in dataset.features.items():
        if not isinstance(feature, Audio):
            continue
        dataset = dataset.cast_column(column, Audio(decode=False))
        clips = dataset.data.column(column)
        if clips.null_count == len(clips) or not pc.any(pc.is_null(pc.struct_field(clips, "bytes"))).as_py():
            continue
        embedded = [
            read_audio_value(v, f"row {i}, column '{column}'", source, origin, allow_outside_paths)
            for i, v in enumerate(dataset[column])
        ]
        dataset = dataset.remove_columns(column).add_column(column, embedded)
        dataset = dataset.cast_column(column, Audio(decode=False))
    return dataset


def _paths_to_audio(
    dataset: Dataset, column: str, source: str, origin: AudioOrigin, allow_outside: bool
) -> Dataset:
    """A column of audio values that is not yet an ``Audio`` column (path strings of a CSV, dicts of
    JSON Lines, plain Parquet structs) → an encoded ``Audio`` column, each value read by
    :func:`read_audio_value`."""
    if isinstance(dataset.features[column], Audio):
        return dataset.cast_column(column, Audio(decode=False))
    audio = [
        read_audio_value(value, f"row {index}, column '{column}'", source, origin, allow_outside)
        for index, value in enumerate(dataset[column])
    ]
    return dataset.remove_columns(column).add_column(column, audio).cast_column(column, Audio(decode=False))


def conform(
    dataset: Dataset,
    schema: Schema,
    origin: AudioOrigin = IN_CODE,
    allow_outside_paths: bool = False,
    source: str = "the dataset",
) -> Dataset:
    """Fill optional columns with defaults and cast to the schema's features (audio encoded, each
    value read where ``origin`` allows)."""
    for column in schema.audio_columns:
        if column in dataset.column_names:
            dataset = _paths_to_audio(dataset, column, source, origin, allow_outside_paths)
    if schema.name == "binary":
        rows = [
            default_row_values(row)
            for row in dataset.select_columns(
                [
                    c
                    for c in ("label", "task", "events", "source", "reward", "annotator", "generator", "seed")
                    if c in dataset.column_names
                ]
            )
        ]
        for column in ("task", "events", "source", "reward", "annotator", "generator", "seed"):
            values = [row[column] for row in rows]
            if column in dataset.column_names:
                dataset = dataset.remove_columns(column)
            dataset = dataset.add_column(column, values)
    extra = [c for c in dataset.column_names if c not in schema.features]
    features = schema.features.copy()
    for column in extra:
        features[column] = dataset.features[column]
    return dataset.select_columns(list(schema.features) + extra).cast(features)


def load_preference_dataset(
    name_or_path: str | os.PathLike,
    split: str = "train",
    column_map: dict[str, str] | None = None,
    schema: str = "binary",
    validate: bool = True,
    check_audio: bool = True,
    allow_outside_paths: bool = False,
    source_rows: bool = False,
    revision: str | None = None,
) -> Dataset:
    """Load a preference (``schema="binary"``), pairwise or pretrain dataset and validate it.

    Args:
        name_or_path: Hub id, ``save_to_disk`` folder, data file(s) or audio folder with metadata.
        split: split to return.
        column_map: ``{their_column: our_column}`` renames applied first (e.g. ``{"caption": "prompt"}``).
        schema: "binary", "pairwise" or "pretrain" (see :mod:`baton_tta.data.schema`).
        validate: check columns and every value before returning; errors name the row and column.
        check_audio: decode each clip during validation (catches empty/NaN/silent audio).
        allow_outside_paths: let audio paths in metadata (``file_name``, path columns) point outside
            the dataset's folder; by default such a path is an error naming its row.
        source_rows: add the :data:`SOURCE_ROW` column, each row's number in the file.
        revision: a Hub dataset's commit, branch or tag (pin it when people label it together).
    """
    spec = get_schema(schema)
    source = str(name_or_path)
    dataset = load_raw(name_or_path, split, spec.audio_columns[0], allow_outside_paths, revision)
    path = Path(name_or_path)
    origin = AudioOrigin(path) if path.is_dir() else AudioOrigin(path.parent) if path.is_file() else HUB
    dataset = standardize(
        dataset, spec, source, column_map, origin, validate, check_audio, allow_outside_paths, source_rows
    )
    logger.info(
        "loaded %d %s rows from %s (audio at %d Hz on decode)", len(dataset), schema, source, SAMPLING_RATE
    )
    return dataset


def standardize(
    dataset: Dataset,
    schema: str | Schema,
    source: str,
    column_map: dict[str, str] | None = None,
    origin: AudioOrigin = IN_CODE,
    validate: bool = True,
    check_audio: bool = True,
    allow_outside_paths: bool = False,
    source_rows: bool = False,
    revision: str | None = None,
) -> Dataset:
    """Any dataset (loaded or built in memory) → the schema's columns, defaults filled, validated:
    renames ``column_map`` (``{their_column: our_column}``), checks required columns, fills optional
    ones, then reports every bad value by row and column. ``source`` names the data in errors; audio
    paths are read where ``origin`` allows (:func:`resolve_audio_path`); ``source_rows`` adds
    the :data:`SOURCE_ROW` column (for code that subsamples, then reports rows)."""
    spec = get_schema(schema) if isinstance(schema, str) else schema
    if source_rows and SOURCE_ROW not in dataset.column_names:
        dataset = dataset.add_column(SOURCE_ROW, list(range(len(dataset))))
    renames = {k: v for k, v in (column_map or {}).items() if k != v}
    if spec.name == "pretrain" and "prompt" not in dataset.column_names and "caption" in dataset.column_names:
        renames.setdefault("caption", "prompt")
    absent = [c for c in renames if c not in dataset.column_names]
    if absent:
        raise PreferenceDataError(
            source, [f"column_map names column '{c}', which is not in {dataset.column_names}" for c in absent]
        )
    dataset = dataset.rename_columns(renames)
    missing = [c for c in spec.required if c not in dataset.column_names]
    if missing:
        raise PreferenceDataError(
            source, [f"column '{c}' is missing (columns present: {dataset.column_names})" for c in missing]
        )
    typed = raw_value_problems(dataset, spec)
    if typed:
        raise PreferenceDataError(source, typed[:MAX_REPORTED_PROBLEMS], len(typed))
    dataset = conform(dataset, spec, origin, allow_outside_paths, source)
    if validate:
        validate_dataset(dataset, spec, source, check_audio=check_audio)
    if spec.name == "binary":
        dataset = resolve_duplicates(dataset, source)  # one rule for repeated clips (data/duplicates.py)
    return dataset

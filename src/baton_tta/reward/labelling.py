"""Reward-model labels for the clips people did not label (BATON's reward-model rows).

Every row without a human label (``source`` "unlabelled", or a reward-model row being re-scored) gets
``reward = score`` and ``source = "reward_model"``; human rows are kept as they are. Scores are written
batch by batch as shards (see :mod:`baton_tta.data.shards`), so a rerun resumes where it stopped;
under ``accelerate launch`` each process scores whole batches of its own and the main process writes
the labelled dataset once.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import soundfile as sf
from datasets import Dataset, Features, Value, load_from_disk
from tqdm.auto import tqdm

from baton_tta.data.audio import (
    CLAP_SAMPLING_RATE,
    LENGTH_TOLERANCE,
    AudioDecodeError,
    clip_seconds,
    decode_audio,
    score_as_heard,
)
from baton_tta.data.distributed import (
    gather_in_order,
    is_main_process,
    my_batches,
    on_main,
    wait_for_everyone,
)
from baton_tta.data.schema import (
    ROLE_HUMAN,
    ROLE_REWARD_MODEL,
    ROLE_SKIPPED,
    ROLE_UNSCORED,
    PreferenceDataError,
    rows_by_role,
)
from baton_tta.data.shards import done_indices, read_shards, write_shard

logger = logging.getLogger(__name__)
SHARD_DIR = "score_shards"
DATASET_DIR = "dataset"
SCORE_FEATURES = Features({"row_index": Value("int64"), "reward": Value("float32")})


def rows_to_score(dataset: Dataset, rescore_reward_rows: bool = False) -> list[int]:
    """Rows without a human label: waiting for a score, plus scored reward-model rows when re-scoring
    (:func:`~baton_tta.data.schema.row_role`)."""
    roles = rows_by_role(dataset)
    return sorted(roles[ROLE_UNSCORED] + (roles[ROLE_REWARD_MODEL] if rescore_reward_rows else []))


def score_rows(
    dataset: Dataset,
    indices: list[int],
    model: Any,
    batch_size: int = 16,
    prompt_column: str = "prompt",
    audio_column: str = "audio",
) -> list[float]:
    """Reward-model scores of ``dataset``'s rows ``indices``; ``model`` is a
    :class:`BatonRewardModel` or any object with ``score(prompts, audios, sampling_rate)``."""
    scores: list[float] = []
    for start in range(0, len(indices), batch_size):
        batch = indices[start : start + batch_size]
        rows = dataset.select(batch)
        waves = [
            decode_audio(a, CLAP_SAMPLING_RATE, where=f"row {i}, column '{audio_column}'")
            for i, a in zip(batch, rows[audio_column])
        ]
        scores.extend(
            float(s) for s in score_as_heard(model, list(rows[prompt_column]), waves, CLAP_SAMPLING_RATE)
        )
    return scores


def score_rows_shared(dataset: Dataset, indices: list[int], model: Any, batch_size: int = 16) -> list[float]:
    """:func:`score_rows` with whole batches dealt to the processes and the scores gathered in row
    order, on every process (the one-process numbers: each batch is the same model call)."""
    local = [
        s
        for batch in my_batches(indices, batch_size, "rows")
        for s in score_rows(dataset, batch, model, batch_size)
    ]
    return gather_in_order(local)


#: a clip longer than this is refused unless asked for: CLAP hears 10 s windows, and an hour-long
#: file among BATON's 10 s clips is a wrong file, not a clip (found: 2.9 GB to score one)
MAX_CLIP_SECONDS = 60.0


def check_clip_lengths(
    dataset: Dataset,
    indices: list[int],
    audio_length_s: float | None,
    tolerance_s: float | None,
    max_seconds: float = MAX_CLIP_SECONDS,
    audio_column: str = "audio",
) -> None:
    """Every clip to score within ``tolerance_s`` of ``audio_length_s`` (when given; default
    tolerance 3 %) and no longer than ``max_seconds``, read from the headers before any scoring; all
    problems are reported together, by row and column."""
    tolerance = tolerance_s if tolerance_s is not None else LENGTH_TOLERANCE * (audio_length_s or 0.0)
    problems = []
    values = dataset.select_columns([audio_column]).with_format(None)
    for index in indices:
        where = f"row {index}, column '{audio_column}'"
        try:
            seconds = clip_seconds(values[index][audio_column])
        except (AudioDecodeError, sf.LibsndfileError, RuntimeError) as error:
            problems.append(f"{where}: could not read the clip's header ({error})")
            continue
        if seconds > max_seconds:
            problems.append(
                f"{where}: clip is {seconds:.1f} s, longer than max_audio_length_s {max_seconds:g} s"
            )
        elif audio_length_s is not None and abs(seconds - audio_length_s) > tolerance:
            problems.append(
                f"{where}: clip is {seconds:.2f} s, expected {audio_length_s:g} s (± {tolerance:g} s; set "
                "audio_length_s / audio_length_tolerance_s)"
            )
    if problems:
        raise PreferenceDataError("clips to score", problems[:50], len(problems))


def label_with_reward_model(
    dataset: Dataset,
    model: Any,
    output_dir: str | os.PathLike,
    batch_size: int = 16,
    rescore_reward_rows: bool = False,
    audio_length_s: float | None = None,
    audio_length_tolerance_s: float | None = None,
    max_audio_length_s: float = MAX_CLIP_SECONDS,
    label_threshold: float | None = None,
) -> Dataset:
    """Score the unlabelled rows of a binary preference dataset with ``model`` (a
    :class:`BatonRewardModel` or any scorer: ``score(prompts, audios, sampling_rate)``); save and
    return the labelled dataset (``label_threshold``: automatic 1/0 labels from the scores too). Clip lengths are checked first (:func:`check_clip_lengths`)."""
    output_dir = Path(output_dir)
    todo = rows_to_score(dataset, rescore_reward_rows)
    roles = {role: len(rows) for role, rows in rows_by_role(dataset).items()}
    if not todo:
        raise PreferenceDataError(
            "clips to score",
            [
                f"no row is waiting for a score ({roles[ROLE_HUMAN]} human-labelled, {roles[ROLE_SKIPPED]} "
                f"skipped, {roles[ROLE_REWARD_MODEL]} already scored): a row is scored when its source is "
                "'unlabelled' (as generate-audio writes) or 'reward_model'; label -1 with source 'human' "
                "or no source is an annotator's skip"
            ],
        )
    check_clip_lengths(dataset, todo, audio_length_s, audio_length_tolerance_s, max_audio_length_s)
    done = done_indices(output_dir / SHARD_DIR, "row_index")
    remaining = [i for i in todo if i not in done]
    if done and is_main_process():
        logger.info("resuming: %d of %d rows already scored", len(set(todo) & done), len(todo))
    # whole batches per process (the one-process run's), each writing its own score shards
    mine = my_batches(remaining, batch_size, "rows")
    for batch in tqdm(mine, desc="scoring clips", unit="batch", disable=not is_main_process()):
        scores = score_rows(dataset, batch, model, batch_size)
        write_shard(
            {"row_index": batch, "reward": scores},
            SCORE_FEATURES,
            output_dir / SHARD_DIR,
            f"rows-{batch[0]:07d}-{batch[-1]:07d}",
        )
    wait_for_everyone()
    on_main(lambda: _write_labelled(dataset, todo, output_dir, label_threshold))
    logger.info(
        "%d rows scored by the reward model; kept as they were: %d human-labelled, %d skipped%s",
        len(todo),
        roles[ROLE_HUMAN],
        roles[ROLE_SKIPPED],
        "" if rescore_reward_rows else f", {roles[ROLE_REWARD_MODEL]} already scored",
    )
    return load_from_disk(str(output_dir / DATASET_DIR))


def _write_labelled(
    dataset: Dataset, todo: list[int], output_dir: Path, label_threshold: float | None = None
) -> None:
    """The dataset with every scored row's reward and source, saved once (main process); with
    ``label_threshold``, each scored row's label is also 1 at or above it and 0 below (automatic
    labels: the row stays a reward-model row, its score kept)."""
    scored = read_shards(output_dir / SHARD_DIR)
    score_of = dict(zip(scored["row_index"], scored["reward"])) if scored is not None else {}
    wanted = set(todo)

    def apply(row: dict, index: int) -> dict:
        if index in score_of and index in wanted:
            score = float(score_of[index])
            automatic = {} if label_threshold is None else {"label": int(score >= label_threshold)}
            return {"reward": score, "source": "reward_model", **automatic}
        return {}

    labelled = dataset.map(apply, with_indices=True, desc="writing rewards")
    labelled.save_to_disk(str(output_dir / DATASET_DIR))

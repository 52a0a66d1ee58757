"""Stage 1 clip generation: N clips per prompt (BATON: 5), resumable, with per-clip seeds.

Finished batches are written as parquet shards under ``output_dir/shards`` (atomically: a temporary
file renamed into place), so an interrupted run loses at most the batch in flight and a rerun with the
same settings generates only the prompts not yet in a shard. Under ``accelerate launch`` the batches
are dealt to the processes (:mod:`baton_tta.data.distributed`), each writes its own shards, and the
main process assembles the dataset once all are done; any process count resumes any run. Every clip has its own generator seeded
with ``seed + prompt_index * clips_per_prompt + clip_index``: the audio does not depend on the batch
size or on where a run was interrupted. The result follows the binary preference schema with
``label=-1`` and ``source="unlabelled"``, ready for annotation.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from datasets import Audio, Dataset, load_from_disk
from diffusers import DiffusionPipeline
from tqdm.auto import tqdm

from baton_tta.data.audio import SAMPLING_RATE, encode_audio
from baton_tta.data.distributed import (
    gather_in_order,
    is_main_process,
    my_batches,
    on_main,
    wait_for_everyone,
)
from baton_tta.data.fingerprint import content_fingerprint
from baton_tta.data.lock import acquire as acquire_output_lock
from baton_tta.data.schema import LABEL_NONE, binary_features
from baton_tta.data.shards import done_indices, read_shards, write_shard
from baton_tta.families import family_of
from baton_tta.families.precision import check_mixed_precision, generation_precision

logger = logging.getLogger(__name__)

SHARD_DIR = "shards"
RUN_CONFIG = "generation_config.json"
DATASET_DIR = "dataset"
#: settings that older runs did not record, with the value they had (every clip was TANGO's 16 kHz,
#: rendered in fp32)
RECORDED_LATER = {"sampling_rate": SAMPLING_RATE, "mixed_precision": "no"}


def clip_seed(seed: int, prompt_index: int, clip_index: int, clips_per_prompt: int) -> int:
    return seed + prompt_index * clips_per_prompt + clip_index


def _check_run_config(output_dir: Path, config: dict[str, Any]) -> None:
    """A resumed run must use the settings of the run it continues; mixing would corrupt the data."""
    path = output_dir / RUN_CONFIG
    if path.is_file():
        previous = {**RECORDED_LATER, **json.loads(path.read_text(encoding="utf-8"))}
        changed = {k: (previous.get(k), v) for k, v in config.items() if previous.get(k) != v}
        if changed:
            details = ", ".join(f"{k}: {old!r} → {new!r}" for k, (old, new) in changed.items())
            raise ValueError(
                f"{output_dir} holds clips generated with other settings ({details}); use a new output_dir"
            )
    else:
        output_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(config, indent=2, sort_keys=True), encoding="utf-8")


def _start_run(output_dir: Path, config: dict[str, Any]) -> None:
    """The same settings as the run being continued, and nobody else generating into the folder."""
    _check_run_config(output_dir, config)
    acquire_output_lock(output_dir)


def finished_prompt_indices(output_dir: str | os.PathLike) -> set[int]:
    """Prompt indices already present in a complete shard."""
    return done_indices(Path(output_dir) / SHARD_DIR, "prompt_index")


def _shard_features():
    features = binary_features()
    features["prompt_index"] = features["seed"]
    features["clip_index"] = features["seed"]
    return features


def render_clips(
    pipeline: DiffusionPipeline,
    prompts: Sequence[str],
    seeds: Sequence[Sequence[int]],
    prompts_per_batch: int = 4,
    audio_length_in_s: float = 10.0,
    num_inference_steps: int = 200,
    guidance_scale: float = 3.0,
    desc: str = "generating clips",
    call_kwargs: dict[str, Any] | None = None,
    progress: bool = True,
    mixed_precision: str = "no",
) -> Iterator[tuple[list[int], list[np.ndarray]]]:
    """The library's one generation loop: ``len(seeds[i])`` clips of ``prompts[i]``, each from its own
    generator seeded with ``seeds[i][k]``, so a clip never depends on the batch it was drawn in.

    Any supported family renders (its adapter names the length argument and turns the output into
    arrays: ``(samples,)`` mono, ``(samples, channels)`` otherwise). Yields, batch by batch, the
    prompt positions and their waveforms (prompt-major), with one progress bar over the batches;
    callers write each batch before the next is drawn. ``call_kwargs`` go to every pipeline call as
    they are (a stochastic sampler's ``eta``). ``progress=False`` hides the bar (a trainer's
    ``disable_tqdm``). ``mixed_precision`` (``no``/``fp16``/``bf16``) runs the denoiser at that
    precision and keeps each other component where it is safe
    (:func:`~baton_tta.families.precision.generation_precision`)."""
    if len(seeds) != len(prompts):
        raise ValueError(f"{len(seeds)} seed lists for {len(prompts)} prompts")
    per_prompt = {len(s) for s in seeds}
    if len(per_prompt) > 1 or per_prompt == {0}:
        raise ValueError(f"every prompt needs the same positive number of seeds, got {sorted(per_prompt)}")
    clips = per_prompt.pop() if per_prompt else 0
    family = family_of(pipeline)
    device = pipeline._execution_device
    pipeline.set_progress_bar_config(disable=True)  # one bar over batches instead of one per call
    batches = [
        list(range(i, min(i + prompts_per_batch, len(prompts))))
        for i in range(0, len(prompts), prompts_per_batch)
    ]
    for batch in tqdm(
        batches, desc=desc, unit="batch", disable=not progress or not batches or not is_main_process()
    ):
        generators = [
            torch.Generator(device=device).manual_seed(seeds[p][k]) for p in batch for k in range(clips)
        ]
        audios = call_pipeline(
            pipeline,
            [prompts[p] for p in batch],
            generators,
            audio_length_in_s,
            num_inference_steps,
            guidance_scale,
            mixed_precision,
            call_kwargs,
        )
        yield batch, family.clips_from_output(audios)


def call_pipeline(
    pipeline: DiffusionPipeline,
    prompts: list[str],
    generators: list[torch.Generator],
    audio_length_in_s: float,
    num_inference_steps: int,
    guidance_scale: float,
    mixed_precision: str = "no",
    call_kwargs: dict[str, Any] | None = None,
) -> Any:
    """One call of the pipeline's own ``__call__`` as every command makes it: ``len(generators) //
    len(prompts)`` clips of each prompt, one generator per clip; returns its ``.audios``."""
    family = family_of(pipeline)
    clips = len(generators) // len(prompts)
    # inference_mode, not the pipeline's no_grad: no version counters or view tracking on the
    # way to numpy (15–20 % more clips/s on 2 CPU cores, identical audio; benchmarks/generate_clips.py)
    # a family that reorders a prompt's clips (AudioLDM 2 ranks them) gets one row per clip instead
    repeat, per_row = (clips, 1) if family.reorders_clips else (1, clips)
    with torch.inference_mode(), generation_precision(pipeline, family.denoiser_name, mixed_precision):
        return pipeline(
            [prompt for prompt in prompts for _ in range(repeat)],
            num_inference_steps=num_inference_steps,
            guidance_scale=guidance_scale,
            generator=generators,
            num_waveforms_per_prompt=per_row,
            **family.generation_kwargs(audio_length_in_s),
            **(call_kwargs or {}),
        ).audios


def render_clips_shared(
    pipeline: DiffusionPipeline,
    prompts: Sequence[str],
    seeds: Sequence[Sequence[int]],
    prompts_per_batch: int = 4,
    **settings: Any,
) -> list[np.ndarray]:
    """Every clip of :func:`render_clips` (``settings`` are its length, steps, guidance and ``desc``),
    prompt-major, on every process: whole batches dealt to the processes and the waveforms gathered
    in order (the one-process clips)."""
    mine = [p for batch in my_batches(list(range(len(prompts))), prompts_per_batch, "prompts") for p in batch]
    local: list[np.ndarray] = []
    for _, audios in render_clips(
        pipeline, [prompts[p] for p in mine], [seeds[p] for p in mine], prompts_per_batch, **settings
    ):
        local.extend(audios)
    return gather_in_order(local)


def generate_clips(
    prompts: Dataset,
    pipeline: DiffusionPipeline,
    output_dir: str | os.PathLike,
    clips_per_prompt: int = 5,
    prompts_per_batch: int = 4,
    seed: int = 0,
    audio_length_in_s: float = 10.0,
    num_inference_steps: int = 200,
    guidance_scale: float = 3.0,
    generator_name: str = "tango",
    audio_format: str = "flac",
    mixed_precision: str = "no",
) -> Dataset:
    """Generate ``clips_per_prompt`` clips for every row of ``prompts`` (columns ``prompt`` and
    optionally ``events``, ``task``) and return them as a binary preference dataset, also saved with
    ``save_to_disk`` under ``output_dir/dataset``."""
    if "prompt" not in prompts.column_names:
        raise ValueError(f"prompts dataset needs a 'prompt' column (columns: {prompts.column_names})")
    if clips_per_prompt < 1 or prompts_per_batch < 1:
        raise ValueError("clips_per_prompt and prompts_per_batch must be at least 1")
    output_dir = Path(output_dir)
    config: dict[str, Any] = {
        "clips_per_prompt": clips_per_prompt,
        "seed": seed,
        "audio_length_in_s": audio_length_in_s,
        "num_inference_steps": num_inference_steps,
        "guidance_scale": guidance_scale,
        "generator": generator_name,
        "audio_format": audio_format,
        "num_prompts": len(prompts),
        # what the prompts are, not only how many: a rerun on other prompts of the same count would
        # mix two runs' clips (fourth trust pass)
        "prompts_content": content_fingerprint(prompts.select_columns(["prompt"])),
        "sampling_rate": family_of(pipeline).sampling_rate,
        "mixed_precision": check_mixed_precision(mixed_precision),
    }
    on_main(lambda: _start_run(output_dir, config))
    done = finished_prompt_indices(output_dir)
    todo = [i for i in range(len(prompts)) if i not in done]
    if done and is_main_process():
        logger.info("resuming: %d of %d prompts already generated", len(done), len(prompts))
    # whole batches of the one-process run per process: the same pipeline calls, so the same clips
    todo = [p for batch in my_batches(todo, prompts_per_batch, "prompts") for p in batch]
    texts = prompts["prompt"]
    seeds = [[clip_seed(seed, p, k, clips_per_prompt) for k in range(clips_per_prompt)] for p in todo]
    for positions, audios in render_clips(
        pipeline,
        [texts[p] for p in todo],
        seeds,
        prompts_per_batch,
        audio_length_in_s,
        num_inference_steps,
        guidance_scale,
        mixed_precision=mixed_precision,
    ):
        batch = [todo[p] for p in positions]
        rows_out = _clip_rows(prompts.select(batch), batch, audios, config["sampling_rate"], config)
        write_shard(
            rows_out, _shard_features(), output_dir / SHARD_DIR, f"prompts-{batch[0]:06d}-{batch[-1]:06d}"
        )
    wait_for_everyone()
    on_main(lambda: _assemble_on_disk(output_dir, config["sampling_rate"]))
    dataset = load_from_disk(str(output_dir / DATASET_DIR))
    if is_main_process():
        print(f"{len(dataset)} clips written to {(output_dir / DATASET_DIR).resolve()}")
    return dataset


def _clip_rows(
    rows: Dataset, batch: list[int], audios, sampling_rate: int, config: dict[str, Any]
) -> dict[str, list]:
    out: dict[str, list] = {k: [] for k in (*binary_features(), "prompt_index", "clip_index")}
    n = config["clips_per_prompt"]
    for position, (prompt_index, row) in enumerate(zip(batch, rows)):
        for clip in range(n):
            name = f"{prompt_index:05d}_{clip}.{config['audio_format']}"
            out["prompt"].append(row["prompt"])
            out["audio"].append(
                encode_audio(audios[position * n + clip], sampling_rate, name, config["audio_format"])
            )
            out["label"].append(LABEL_NONE)
            out["task"].append(row.get("task") or "")
            out["events"].append(list(row.get("events") or []))
            out["source"].append("unlabelled")
            out["reward"].append(float("nan"))
            out["annotator"].append("")
            out["generator"].append(config["generator"])
            out["seed"].append(clip_seed(config["seed"], prompt_index, clip, n))
            out["prompt_index"].append(prompt_index)
            out["clip_index"].append(clip)
    return out


def _assemble_on_disk(output_dir: Path, sampling_rate: int) -> None:
    assemble_clips(output_dir, sampling_rate)


def assemble_clips(output_dir: str | os.PathLike, sampling_rate: int = SAMPLING_RATE) -> Dataset:
    """All shards, ordered by prompt and clip, saved to ``output_dir/dataset`` (audio declared at
    ``sampling_rate``, the generating model's)."""
    output_dir = Path(output_dir)
    dataset = read_shards(output_dir / SHARD_DIR)
    if dataset is None:
        raise FileNotFoundError(f"{output_dir / SHARD_DIR}: no generated shards")
    order = np.lexsort(
        (np.asarray(dataset["clip_index"]), np.asarray(dataset["prompt_index"]))
    )  # by prompt, then clip
    dataset = dataset.select(order.tolist()).flatten_indices()
    dataset = dataset.cast_column("audio", Audio(sampling_rate=sampling_rate, decode=False))
    dataset.save_to_disk(str(output_dir / DATASET_DIR))
    return dataset

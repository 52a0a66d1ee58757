"""The built-in names every command accepts in place of a path or Hub id, resolved in one place.

- ``"tiny-random"``: random-weight components (:mod:`baton_tta.tiny`) and tone-clip data
  (:mod:`baton_tta.toy.tones`): to check an install or a code path offline; outputs are noise.
  ``"tiny-random-audioldm2"``, ``"tiny-random-stable-audio"`` and ``"tiny-random-stable-audio-3"``
  are the other families' random tiny pipelines.
- ``"toy-tango"``: the pretrained toy TANGO that ships with the package (:mod:`baton_tta.toy.pretrained`):
  it renders the toy world's events from captions.
- ``"toy"``: the toy sound world's data (:mod:`baton_tta.toy`): rendered scenes, oracle labels.

Anything else is passed on to the loaders untouched.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from datasets import Dataset
from diffusers import DiffusionPipeline

from baton_tta.data.distributed import process_state
from baton_tta.families import family_of, load_pipeline
from baton_tta.families.precision import cast_denoiser_for_inference, default_mixed_precision
from baton_tta.metrics.evaluation import Backbones
from baton_tta.reward.modeling import BatonRewardModel
from baton_tta.scorers import NamedScorer, ScorerSpec, WeightedScorers, load_scorer
from baton_tta.scorers.judge import AudioLanguageJudge
from baton_tta.tiny import tiny_audio_judge, tiny_backbones, tiny_pipeline, tiny_reward_model
from baton_tta.toy.datasets import toy_preference_dataset, toy_pretrain_dataset
from baton_tta.toy.pretrained import load_toy_tango
from baton_tta.toy.tones import tone_labelled_dataset, tone_preference_dataset, tone_pretrain_dataset

TINY = "tiny-random"
TOY = "toy"
TOY_TANGO = "toy-tango"
TOY_CLIPS_PER_PROMPT = 4
#: built-in random tiny pipelines, one per family
TINY_PIPELINE_NAMES = {
    TINY: "TangoPipeline",
    f"{TINY}-audioldm2": "AudioLDM2Pipeline",
    f"{TINY}-stable-audio": "StableAudioPipeline",
    f"{TINY}-stable-audio-3": "StableAudio3Pipeline",
}


@contextmanager
def naming_a_model_not_found(name: str, flag: str) -> Iterator[None]:
    """A model named on the command line that cannot be loaded (no such folder; a Hub id not in the
    cache while offline or unreachable) is said with the name, the flag and what to do, not as
    "couldn't connect to huggingface.co" (a :func:`baton_tta.cli.user_errors` one-liner)."""
    try:
        yield
    except OSError as error:
        if Path(name).exists():
            raise  # a folder that is there but broken: the loader's own message says what is wrong
        offline = (
            " (HF_HUB_OFFLINE is set)" if os.environ.get("HF_HUB_OFFLINE") not in (None, "", "0") else ""
        )
        raise FileNotFoundError(
            f"{flag} {name}: no such folder, and it could not be fetched from the Hub{offline}: give a local "
            f"folder, or download it first where the Hub is reachable (hf download {name})"
        ) from error


def resolve_pipeline(name: str, seed: int = 0) -> DiffusionPipeline:
    """A built-in tiny pipeline by name (:data:`TINY_PIPELINE_NAMES`), the toy TANGO, or any supported
    family's folder / Hub id through its own class's ``from_pretrained``."""
    if name in TINY_PIPELINE_NAMES:
        return tiny_pipeline(TINY_PIPELINE_NAMES[name], seed=seed)
    if name == TOY_TANGO:
        return load_toy_tango()
    if name == TOY:
        raise ValueError(
            "'toy' names data, not a pipeline: give a pipeline folder, a Hub id, 'toy-tango' or "
            f"one of {sorted(TINY_PIPELINE_NAMES)}"
        )
    with naming_a_model_not_found(name, "the pipeline"):
        return load_pipeline(name)


def generating_pipeline(
    name: str, mixed_precision: str | None, device: str | None = None, seed: int = 0
) -> tuple[DiffusionPipeline, str]:
    """A pipeline for a command that only generates (``generate``, ``generate-audio``, ``evaluate``): on
    ``device`` (default: this process's), its denoiser cast once for the precision (None: bf16 on a GPU
    that has it, else no); returns it with the precision used, which the command records."""
    device = device or str(process_state().device)
    pipeline = resolve_pipeline(name, seed=seed).to(device)
    precision = mixed_precision or default_mixed_precision(device)
    cast_denoiser_for_inference(family_of(pipeline).denoiser, precision)
    return pipeline, precision


def resolve_preference_data(name: str, rows: int, seconds: float, seed: int) -> Dataset | str:
    """A binary preference dataset by built-in name, or ``name`` for the loader."""
    if name == TINY:
        return tone_preference_dataset(num_rows=rows, seconds=seconds, seed=seed)
    if name == TOY:
        prompts = max(2, rows // TOY_CLIPS_PER_PROMPT)
        return toy_preference_dataset(num_prompts=prompts, clips_per_prompt=TOY_CLIPS_PER_PROMPT, seed=seed)
    return name


def resolve_pretrain_data(name: str, rows: int, seconds: float, seed: int) -> Dataset | str:
    """A ``prompt``/``audio`` dataset by built-in name, or ``name`` for the loader."""
    if name == TINY:
        return tone_pretrain_dataset(num_rows=rows, seconds=seconds, seed=seed)
    if name == TOY:
        return toy_pretrain_dataset(rows, seed=seed)
    return name


def resolve_labelled_data(name: str) -> Dataset | str:
    """Human-labelled rows for reward training: ``"tiny-random"`` is a learnable tone task."""
    return tone_labelled_dataset() if name == TINY else name


def resolve_reward_model(
    name: str, text_backbone: str, loss: str, head_hidden_size: int, laion_tokenizer: str = "roberta-base"
) -> BatonRewardModel:
    """``"tiny-random"`` wraps the tiny CLAP; anything else is a transformers CLAP checkpoint or a LAION-CLAP
    ``.pt`` file (tokenised with ``laion_tokenizer``)."""
    if name == TINY:
        return tiny_reward_model(text_backbone=text_backbone, loss=loss)
    if text_backbone != "clap":
        raise ValueError(
            "text_backbone='t5' with a real CLAP: build BatonRewardConfig(t5_config=...) in Python"
        )
    with naming_a_model_not_found(name, "--clap_model_name_or_path"):
        return BatonRewardModel.from_clap(
            name, laion_tokenizer=laion_tokenizer, loss=loss, head_hidden_sizes=[head_hidden_size]
        )


def resolve_backbones(name: str) -> Backbones | None:
    """``"tiny-random"`` gives random tiny metric backbones; None means "load the public files"."""
    return tiny_backbones() if name == TINY else None


def named_scorer(spec: str) -> NamedScorer:
    """The registry's scorer ``spec`` names; ``judge:tiny-random`` is a random tiny Qwen2-Audio with
    its real processor (:func:`baton_tta.tiny.tiny_audio_judge`), and the toy world's oracle is
    registered on first use (the library does not import the toy world)."""
    kind, _, source = (part.strip() for part in spec.partition(":"))
    if kind == "judge" and source == TINY:
        return NamedScorer(ScorerSpec(kind, source), AudioLanguageJudge(*tiny_audio_judge()))
    if kind == "toy-oracle":
        import baton_tta.toy.online  # noqa: F401  (registers it)
    return load_scorer(spec)


def named_scorers(specs: list[str], weights: list[float] | None = None) -> WeightedScorers:
    return WeightedScorers([named_scorer(spec) for spec in specs], weights)

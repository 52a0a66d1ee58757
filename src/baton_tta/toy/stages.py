"""BATON's stages in the toy world, one function each, over the public trainers and reward model.

The main job (:mod:`baton_tta.toy.demo`) is these functions in order; the toy benchmarks
(``benchmarks/toy/``, outside the package) run their comparisons on the same functions, so a change
to a benchmark cannot change what ``make demo`` prints. Stage 0 builds (or loads) the toy TANGO and
toy CLAP; stage 1 generates clips and simulated people label half the prompts; stage 2 trains the
reward model on their labels and scores the other half; stage 3 fine-tunes with the reward-weighted
loss (paper Eq. 7) or any registered objective. Judging is :class:`~baton_tta.toy.judge.ToyJudge`'s.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from datasets import Dataset, concatenate_datasets
from transformers import ClapFeatureExtractor, ClapModel

from baton_tta.data.audio import SAMPLING_RATE, encode_audio, score_as_heard
from baton_tta.data.schema import binary_features
from baton_tta.pipelines.pipeline_tango import TangoPipeline
from baton_tta.reward import BatonRewardModel
from baton_tta.toy.components import toy_tango_pipeline, train_toy_autoencoder, train_toy_clap
from baton_tta.toy.config import ToyLoopConfig, toy_trainer_args
from baton_tta.toy.datasets import toy_pretrain_dataset
from baton_tta.toy.judge import generate
from baton_tta.toy.online import toy_reward_model
from baton_tta.toy.oracle import OracleAnnotator
from baton_tta.toy.world import TASKS, simulated_people
from baton_tta.trainer import DiffusionTrainer, RewardWeightedDiffusionTrainer
from baton_tta.trainer.objectives import objective_named

#: the seed offset of stage 1's clips from the run's seed (the judge's are far away)
FEEDBACK_SEED_OFFSET = 100


# (0) -------------------------------------------------------------------------------------------
def pretrain_pairs(config: ToyLoopConfig) -> Dataset:
    """The rendered (caption, clip) pairs stage 0 pretrains on, which BATON's β term replays."""
    return toy_pretrain_dataset(config.pretrain_pairs, seed=config.seed + 1, duration_s=config.duration_s)


def pretrain_toy_tango(config: ToyLoopConfig, output_dir: Path) -> TangoPipeline:
    """A toy TANGO from scratch: the toy VAE, then the denoiser trained on :func:`pretrain_pairs`."""
    c = config
    vae = train_toy_autoencoder(num_clips=c.vae_clips, steps=c.vae_steps, seed=c.seed)
    pipeline = toy_tango_pipeline(vae, seed=c.seed)
    rows = pretrain_pairs(c).map(
        lambda _: {"label": 1, "source": "human", "reward": 1.0, "annotator": "synthesiser"},
        desc="pretrain rows",
    )
    args = toy_trainer_args(
        c,
        output_dir,
        c.pretrain_steps,
        c.pretrain_learning_rate,
        beta=0.0,
        human_to_reward_ratio=None,
        condition_dropout=0.1,
    )
    RewardWeightedDiffusionTrainer(pipeline, args, train_dataset=rows).train()
    return pipeline


def fit_toy_clap(config: ToyLoopConfig) -> tuple[ClapModel, ClapFeatureExtractor]:
    """The toy CLAP, contrastively trained on rendered pairs."""
    pairs = toy_pretrain_dataset(config.clap_pairs, seed=config.seed + 2, duration_s=config.duration_s)
    return train_toy_clap(pairs, steps=config.clap_steps, seed=config.seed)


# (1) -------------------------------------------------------------------------------------------
@dataclass
class Feedback:
    """Stage 1's output: clips in the binary schema (even prompts labelled by simulated people, odd
    ones unlabelled for the reward model), the noiseless oracle's verdict on each clip, and the clips."""

    dataset: Dataset
    truth: list[int]
    waveforms: list[np.ndarray]


def simulated_feedback(
    pipeline: TangoPipeline, train_prompts: Dataset, config: ToyLoopConfig, oracle: OracleAnnotator
) -> Feedback:
    """``clips_per_prompt`` clips per training prompt from ``pipeline``; prompts alternate between the
    human half (labelled by a noisy, skipping oracle: :func:`~baton_tta.toy.world.simulated_people`)
    and the reward-model half."""
    c = config
    if c.feedback_guidance_scale is not None:
        c = replace(c, guidance_scale=c.feedback_guidance_scale)
    if c.feedback_inference_steps is not None:
        c = replace(c, inference_steps=c.feedback_inference_steps)
    waveforms = generate(
        pipeline, list(train_prompts["prompt"]), c.clips_per_prompt, c, seed=c.seed + FEEDBACK_SEED_OFFSET
    )
    person = simulated_people(c.seed, noise=c.annotator_noise, skip=c.annotator_skip)
    rows = train_prompts.to_list()
    columns: dict[str, list] = {k: [] for k in ("prompt", "task", "events", "label", "source", "reward")}
    truth = []
    for index, waveform in enumerate(waveforms):
        row = rows[index // c.clips_per_prompt]
        human = (index // c.clips_per_prompt) % 2 == 0
        truth.append(int(oracle.is_aligned(row["events"], row["task"], waveform)))
        label = person.person_label(bool(truth[-1])) if human else -1
        columns["prompt"].append(row["prompt"])
        columns["task"].append(row["task"])
        columns["events"].append(list(row["events"]))
        columns["label"].append(label)
        columns["source"].append("human" if human else "unlabelled")
        columns["reward"].append(float(label) if label >= 0 else math.nan)
    dataset = Dataset.from_dict(
        {
            "prompt": columns["prompt"],
            "audio": [encode_audio(w, SAMPLING_RATE, f"{i:05d}.wav") for i, w in enumerate(waveforms)],
            "label": columns["label"],
            "task": columns["task"],
            "events": columns["events"],
            "source": columns["source"],
            "reward": columns["reward"],
            "annotator": ["toy-oracle" if s == "human" else "" for s in columns["source"]],
            "generator": ["toy-base"] * len(waveforms),
            "seed": list(range(len(waveforms))),
        }
    ).cast(binary_features())
    return Feedback(dataset, truth, waveforms)


def feedback_stats(
    feedback: Feedback, train_prompts: Dataset, held_out: Dataset, human: Dataset, reward_rows: Dataset
) -> dict[str, int]:
    """What stages 1–2 produced, for the report's data line."""
    dataset = feedback.dataset
    skipped = sum(
        1 for s, lab in zip(dataset["source"], dataset["label"], strict=True) if s == "human" and lab == -1
    )
    return {
        "train prompts": len(train_prompts),
        "held-out prompts": len(held_out),
        "generated clips": len(dataset),
        "human rows (1/0)": len(human),
        "human rows skipped": skipped,
        "reward-model rows": len(reward_rows),
        "base clips aligned (oracle)": int(sum(feedback.truth)),
    }


def human_rows(feedback: Feedback) -> Dataset:
    """The clips people labelled aligned or not (skips left out)."""
    return feedback.dataset.filter(lambda row: row["source"] == "human" and row["label"] in (0, 1))


# (2) -------------------------------------------------------------------------------------------
def feedback_reward_model(
    clap: ClapModel,
    extractor: ClapFeatureExtractor,
    labelled: Dataset,
    config: ToyLoopConfig,
    cache_dir: Path,
    output_dir: Path | None = None,
) -> BatonRewardModel:
    """BATON's reward model on the toy CLAP, trained on ``labelled`` (saved to ``output_dir`` if given)."""
    model = toy_reward_model(clap, extractor, labelled, config.reward_epochs, config.seed, cache_dir)
    if output_dir is not None:
        model.save_pretrained(output_dir)
    return model


def oracle_accuracy(
    scores: list[float], indices: list[int], tasks: list[str], truth: list[int]
) -> dict[str, float]:
    """Accuracy at 0.5 against the noiseless oracle, per task, of ``scores`` for the clips ``indices``."""
    accuracy = {}
    for task in TASKS:
        picked = [k for k, i in enumerate(indices) if tasks[i] == task]
        correct = [int(scores[k] >= 0.5) == truth[indices[k]] for k in picked]
        accuracy[task] = float(np.mean(correct)) if correct else math.nan
    return accuracy


def reward_model_rows(model: BatonRewardModel, feedback: Feedback) -> tuple[Dataset, dict[str, float]]:
    """The unlabelled half scored by the reward model (reward-model rows), and its accuracy there."""
    dataset = feedback.dataset
    unlabelled = [i for i, s in enumerate(dataset["source"]) if s == "unlabelled"]
    rows = dataset.select(unlabelled)
    clips = [feedback.waveforms[i] for i in unlabelled]
    scores = score_as_heard(model, list(rows["prompt"]), clips, SAMPLING_RATE)
    accuracy = oracle_accuracy(scores, unlabelled, dataset["task"], feedback.truth)
    scored = rows.map(
        lambda _, k: {"source": "reward_model", "reward": float(scores[k]), "label": -1},
        with_indices=True,
        desc="reward rows",
    )
    return scored, accuracy


def joined_rows(first: Dataset, second: Dataset) -> Dataset:
    """Human rows and reward-model rows as one training set."""
    return concatenate_datasets([first.cast(binary_features()), second.cast(binary_features())])


# (3) -------------------------------------------------------------------------------------------
def fine_tune(
    objective: str,
    base_dir: Path,
    rows: Dataset,
    config: ToyLoopConfig,
    output_dir: Path,
    steps: int,
    learning_rate: float,
    **fields: Any,
) -> DiffusionTrainer:
    """The base model saved in ``base_dir`` fine-tuned by the registered ``objective`` on ``rows``;
    ``fields`` are the objective's own config fields (``pretrain_dataset`` goes to the trainer).
    Returns the trained trainer (its pipeline is ``trainer.pipeline``)."""
    registered = objective_named(objective)
    extra = {"pretrain_dataset": fields.pop("pretrain_dataset")} if "pretrain_dataset" in fields else {}
    args = toy_trainer_args(
        config,
        output_dir,
        steps,
        learning_rate,
        registered.config_class,
        human_to_reward_ratio=None,
        **fields,
    )
    trainer = registered.trainer_class(
        TangoPipeline.from_pretrained(base_dir), args, train_dataset=rows, **extra
    )
    trainer.train()
    return trainer


def fine_tune_baton(
    base_dir: Path, rows: Dataset, beta: float, pretrain: Dataset, config: ToyLoopConfig, output_dir: Path
) -> RewardWeightedDiffusionTrainer:
    """The reward-weighted loss (Eq. 7) for ``finetune_steps`` at ``finetune_learning_rate``;
    ``beta`` weighs the pretrain term on ``pretrain``."""
    trainer = fine_tune(
        "baton",
        base_dir,
        rows,
        config,
        output_dir,
        config.finetune_steps,
        config.finetune_learning_rate,
        beta=beta,
        pretrain_dataset=pretrain if beta > 0 else None,
    )
    assert isinstance(trainer, RewardWeightedDiffusionTrainer)
    return trainer


def fine_tune_kto(base_dir: Path, rows: Dataset, config: ToyLoopConfig, output_dir: Path) -> DiffusionTrainer:
    """Diffusion-KTO — the objectives benchmark's recommendation for binary labels — on the same rows
    (aligned desirable, not aligned undesirable, reward-model scores thresholded at 0.5), for
    ``finetune_steps`` at ``kto_learning_rate`` with ``kto_beta``."""
    return fine_tune(
        "kto",
        base_dir,
        rows,
        config,
        output_dir,
        config.finetune_steps,
        config.kto_learning_rate,
        kto_beta=config.kto_beta,
    )

"""The toy world's pieces for online rounds: a reward model on the shipped toy CLAP trained on
simulated people's labels (who also give each round's feedback), the noiseless oracle as a held-out
judge and as a reward (registered as the ``toy-oracle`` scorer), and a reward for one known sound
(GRPO's tests; with the reward model in a :class:`~baton_tta.scorers.WeightedScorers`, the planted flaw). The prompt split and the simulated people are
:mod:`baton_tta.toy.world`'s."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from datasets import Dataset
from transformers import ClapFeatureExtractor, ClapModel, ClapProcessor

from baton_tta.data.audio import SAMPLING_RATE, decode_audio, resample, to_mono
from baton_tta.reward import BatonRewardConfig, BatonRewardModel
from baton_tta.reward.training import RewardTrainingConfig, train_reward_model
from baton_tta.scorers.registry import ScorerKind, register_scorer
from baton_tta.tiny import tiny_tokenizer
from baton_tta.toy.datasets import toy_preference_dataset
from baton_tta.toy.events import TOY_EVENTS, get_event
from baton_tta.toy.oracle import OracleAnnotator, clip_log_mel, event_activity
from baton_tta.toy.pretrained import load_toy_clap
from baton_tta.toy.world import TASKS, every_toy_prompt, simulated_people

#: Epochs of the built-in ``toy`` reward model's head (first training and every retraining on feedback).
BUILTIN_REWARD_EPOCHS = 60
#: the oracle's name in the scorer registry
TOY_ORACLE = "toy-oracle"


def toy_reward_training(epochs: int, seed: int) -> RewardTrainingConfig:
    """How the toy reward model's head is trained (first, and again on each round's feedback)."""
    return RewardTrainingConfig(preset=None, num_epochs=epochs, batch_size=32, learning_rate=3e-3, seed=seed)


def toy_reward_model(
    clap: ClapModel,
    extractor: ClapFeatureExtractor,
    labelled: Dataset,
    epochs: int,
    seed: int,
    cache_dir: str | Path,
) -> BatonRewardModel:
    """BATON's reward model (frozen CLAP, MLP head, BCE) on the toy CLAP, trained on ``labelled``. The
    head is initialised from torch's global generator: the caller's seeding fixes it."""
    model = BatonRewardModel(BatonRewardConfig(clap_config=clap.config, head_hidden_sizes=[64]))
    model.clap.load_state_dict(clap.state_dict())
    model.set_processor(ClapProcessor(feature_extractor=extractor, tokenizer=tiny_tokenizer()))
    train_reward_model(model, labelled, toy_reward_training(epochs, seed), cache_dir=cache_dir)
    return model


def rendered_labels(prompts: int = 48, seed: int = 0) -> Dataset:
    """Rendered clips (half with a mistake), 4 per prompt, labelled by :func:`simulated_people`."""
    return toy_preference_dataset(
        num_prompts=prompts, clips_per_prompt=4, seed=seed + 3, annotator=simulated_people(seed)
    )


class SimulatedFeedback:
    """A round's feedback sample labelled by :func:`simulated_people` instead of people (the
    :data:`~baton_tta.online.feedback.Labeller` the toy world uses)."""

    def __init__(self, seed: int = 0):
        self.people = simulated_people(seed + 1)

    def __call__(self, sample: Dataset) -> Dataset:
        labels = [
            self.people.annotate(row["events"], row["task"], decode_audio(row["audio"], SAMPLING_RATE))
            for row in sample.with_format(None)
        ]
        return (
            sample.remove_columns("label")
            .add_column("label", labels)
            .map(lambda _: {"annotator": "simulated"}, desc="simulated labels")
        )


class OracleJudge:
    """Alignment rate per task on the held-out clips, and over every clip (``oracle_aligned``: one
    number for a guard to watch), by the noiseless oracle (the toy world's ground truth, never the
    optimised reward)."""

    def __init__(self, oracle: OracleAnnotator | None = None):
        self.oracle = oracle or OracleAnnotator()

    def __call__(
        self, rows: Dataset, waveforms: list[np.ndarray], clips_per_prompt: int, sampling_rate: int
    ) -> dict[str, float]:
        heard = [
            resample(to_mono(w), sampling_rate, SAMPLING_RATE) for w in waveforms
        ]  # what the oracle hears
        aligned: dict[str, list[bool]] = {task: [] for task in TASKS}
        for index, row in enumerate(rows):
            clips = heard[index * clips_per_prompt : (index + 1) * clips_per_prompt]
            aligned[row["task"]] += [self.oracle.is_aligned(row["events"], row["task"], w) for w in clips]
        metrics = {f"oracle_{task}": float(np.mean(flags)) for task, flags in aligned.items() if flags}
        metrics["oracle_aligned"] = float(np.mean([flag for flags in aligned.values() for flag in flags]))
        return metrics


class OracleReward:
    """The noiseless oracle as a reward (1 aligned, 0 not): GRPO's upper bound in the toy world, what
    a perfect reward model would give. Knows each prompt's events and task from ``prompts``."""

    #: what it hears (:func:`~baton_tta.data.audio.score_as_heard` converts every clip to it)
    sampling_rate = SAMPLING_RATE

    def __init__(self, prompts: Dataset, oracle: OracleAnnotator | None = None):
        self.oracle = oracle or OracleAnnotator()
        self.truth = {row["prompt"]: (row["events"], row["task"]) for row in prompts.with_format(None)}

    def score(self, prompts: list[str], audios: list[np.ndarray], sampling_rate: int) -> list[float]:
        if sampling_rate != SAMPLING_RATE:
            raise ValueError(f"the oracle hears {SAMPLING_RATE} Hz clips, got {sampling_rate}")
        unknown = sorted(set(prompts) - set(self.truth))
        if unknown:
            raise ValueError(f"the oracle reward knows no events for {unknown[:3]}")
        return [
            float(self.oracle.is_aligned(*self.truth[p], a)) for p, a in zip(prompts, audios, strict=True)
        ]


class EventLoudnessReward:
    """How loud one toy event's band is in a clip above the other bands' mean (log-mel, the oracle's
    front end), whatever the caption asks for, as a score in [0, 1] (the logistic of that difference:
    0.5 when the band is as loud as the rest): a reward that prefers one known sound. Tests use it to
    see GRPO move a model; the GRPO benchmark adds it to the reward model to plant a flaw the policy
    can exploit (the captions' events, which the judge counts, stop mattering)."""

    sampling_rate = SAMPLING_RATE

    def __init__(self, event: str):
        self.index = [e.name for e in TOY_EVENTS].index(get_event(event).name)

    def score(self, prompts: list[str], audios: list[np.ndarray], sampling_rate: int) -> list[float]:
        if sampling_rate != SAMPLING_RATE:
            raise ValueError(f"the toy bands are measured on {SAMPLING_RATE} Hz clips, got {sampling_rate}")
        scores = []
        for audio in audios:
            activity = event_activity(clip_log_mel(audio)).mean(axis=1)
            others = np.delete(activity, self.index)
            scores.append(float(1.0 / (1.0 + np.exp(-(activity[self.index] - others.mean())))))
        return scores


def _oracle_scorer(source: str) -> OracleReward:
    """The oracle for every caption the toy world writes with seed ``source`` (default 0)."""
    if source and not source.strip().lstrip("-").isdigit():
        raise ValueError(f"toy-oracle:{source}: the source is the toy world's prompt seed, a whole number")
    return OracleReward(every_toy_prompt(int(source or 0)))


register_scorer(
    ScorerKind(
        TOY_ORACLE,
        _oracle_scorer,
        "the toy world's noiseless oracle (1 aligned, 0 not); source: the prompt seed (default 0)",
        needs_source=False,
    )
)


def builtin_reward_model(prompts: int, seed: int, cache_dir: str | Path) -> tuple[BatonRewardModel, Dataset]:
    """The ``toy`` reward model of the commands: the shipped toy CLAP with a head trained on simulated
    people's labels of ``prompts`` × 4 rendered clips; returns it and those labels."""
    clap, extractor = load_toy_clap()
    labels = rendered_labels(prompts, seed)
    return toy_reward_model(clap, extractor, labels, BUILTIN_REWARD_EPOCHS, seed, cache_dir), labels

"""The whole BATON loop in the toy world, stage by stage, with the project's own trainers.

(0) pretrain a toy TangoPipeline on rendered (caption, clip) pairs; (1) prompts → clips → oracle
labels on half the prompts (the "human" rows); (2) a reward model on frozen toy-CLAP embeddings,
trained on those labels, scores the other half (the reward-model rows); (3) reward-weighted
fine-tuning under the paper's conditions (Tables 5–7); then every model is judged by the noiseless
oracle on held-out prompts (:mod:`baton_tta.toy.judge`): alignment rate per task with a bootstrap
95 % interval over prompts (:mod:`baton_tta.toy.statistics`).
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from datasets import Dataset, concatenate_datasets

from baton_tta.data.audio import SAMPLING_RATE, encode_audio
from baton_tta.data.pairs import PairStats, ranked_pairs
from baton_tta.data.schema import binary_features
from baton_tta.pipelines.pipeline_tango import TangoPipeline
from baton_tta.reward import BatonRewardModel
from baton_tta.toy.components import toy_tango_pipeline, train_toy_autoencoder, train_toy_clap
from baton_tta.toy.config import CONDITIONS, ToyLoopConfig, toy_trainer_args
from baton_tta.toy.datasets import toy_pretrain_dataset
from baton_tta.toy.judge import ToyJudge, generate
from baton_tta.toy.online import toy_reward_model
from baton_tta.toy.oracle import OracleAnnotator
from baton_tta.toy.pretrained import load_toy_clap, load_toy_tango
from baton_tta.toy.report import ToyLoopResult, slug
from baton_tta.toy.round_trip import vocoder_round_trip
from baton_tta.toy.statistics import paired_differences
from baton_tta.toy.timing import StageClock
from baton_tta.toy.world import TASKS, simulated_people, toy_prompt_split
from baton_tta.trainer import (
    DiffusionDPOConfig,
    DiffusionDPOTrainer,
    RewardWeightedDiffusionTrainer,
)

logger = logging.getLogger(__name__)


def _as_binary(prompts, waveforms, labels, sources, rewards, tasks, events, annotator: str) -> Dataset:
    rows = {
        "prompt": list(prompts),
        "audio": [encode_audio(w, SAMPLING_RATE, f"{i:05d}.wav") for i, w in enumerate(waveforms)],
        "label": list(labels),
        "task": list(tasks),
        "events": [list(e) for e in events],
        "source": list(sources),
        "reward": [float(r) for r in rewards],
        "annotator": [annotator if s == "human" else "" for s in sources],
        "generator": ["toy-base"] * len(prompts),
        "seed": list(range(len(prompts))),
    }
    return Dataset.from_dict(rows).cast(binary_features())


class ToyLoop:
    """Runs the stages in order, keeping each stage's output in ``output_dir`` and on the instance."""

    def __init__(self, config: ToyLoopConfig, output_dir: str | Path):
        self.config = config
        self.output_dir = Path(output_dir)
        self.output_dir.mkdir(parents=True, exist_ok=True)
        self.oracle = OracleAnnotator(seed=config.seed)  # the judge: never noisy
        self.clock = StageClock()
        self._judge: ToyJudge | None = None
        #: each condition's trainer, to save its pipeline with a card (the demo does)
        self.trainers: dict[str, RewardWeightedDiffusionTrainer | DiffusionDPOTrainer] = {}

    # (0) ---------------------------------------------------------------------------------------
    def pretrain(self) -> TangoPipeline:
        c = self.config
        vae = train_toy_autoencoder(num_clips=c.vae_clips, steps=c.vae_steps, seed=c.seed)
        pipeline = toy_tango_pipeline(vae, seed=c.seed)
        pairs = toy_pretrain_dataset(c.pretrain_pairs, seed=c.seed + 1, duration_s=c.duration_s)
        self.pretrain_pairs = pairs
        rows = pairs.map(
            lambda _: {"label": 1, "source": "human", "reward": 1.0, "annotator": "synthesiser"},
            desc="pretrain rows",
        )
        args = toy_trainer_args(
            c,
            self.output_dir / "base-run",
            c.pretrain_steps,
            c.pretrain_learning_rate,
            beta=0.0,
            human_to_reward_ratio=None,
            condition_dropout=0.1,
        )
        trainer = RewardWeightedDiffusionTrainer(pipeline, args, train_dataset=rows)
        trainer.train()
        pipeline.save_pretrained(self.output_dir / "base")
        return pipeline

    def load_pretrained(self) -> TangoPipeline:
        """Stage 0 from ``config.pretrained`` instead of training: the toy TANGO, the toy CLAP, and the
        pretrain pairs that the β term replays (rendered, as :meth:`pretrain` renders them)."""
        c = self.config
        assert c.pretrained is not None
        pipeline = load_toy_tango(c.pretrained)
        pipeline.save_pretrained(self.output_dir / "base")
        self.pretrain_pairs = toy_pretrain_dataset(c.pretrain_pairs, seed=c.seed + 1, duration_s=c.duration_s)
        self.clap, self.clap_extractor = load_toy_clap(c.pretrained)
        return pipeline

    def fit_clap(self):
        c = self.config
        pairs = toy_pretrain_dataset(c.clap_pairs, seed=c.seed + 2, duration_s=c.duration_s)
        self.clap, self.clap_extractor = train_toy_clap(pairs, steps=c.clap_steps, seed=c.seed)
        return self.clap

    # (1) ---------------------------------------------------------------------------------------
    def prompts(self) -> tuple[Dataset, Dataset]:
        """Training and held-out prompts, disjoint (:func:`baton_tta.toy.world.toy_prompt_split`)."""
        c = self.config
        return toy_prompt_split(c.train_prompts, c.eval_prompts, c.seed, c.group_sizes)

    def feedback_data(self, pipeline: TangoPipeline, train_prompts: Dataset) -> Dataset:
        """Clips from the base model; prompts alternate between the human half (labelled by a noisy,
        skipping oracle) and the reward-model half (left unlabelled for stage 2)."""
        c = self.config
        if c.feedback_guidance_scale is not None:
            c = replace(c, guidance_scale=c.feedback_guidance_scale)
        if c.feedback_inference_steps is not None:
            c = replace(c, inference_steps=c.feedback_inference_steps)
        waveforms = generate(
            pipeline, list(train_prompts["prompt"]), c.clips_per_prompt, c, seed=c.seed + 100
        )
        person = simulated_people(c.seed, noise=c.annotator_noise, skip=c.annotator_skip)
        rows = train_prompts.to_list()
        prompts, tasks, events, labels, sources, rewards, truth = [], [], [], [], [], [], []
        for index, waveform in enumerate(waveforms):
            row = rows[index // c.clips_per_prompt]
            human = (index // c.clips_per_prompt) % 2 == 0
            truth.append(int(self.oracle.is_aligned(row["events"], row["task"], waveform)))
            label = person.person_label(bool(truth[-1])) if human else -1
            prompts.append(row["prompt"])
            tasks.append(row["task"])
            events.append(row["events"])
            labels.append(label)
            sources.append("human" if human else "unlabelled")
            rewards.append(float(label) if label >= 0 else math.nan)
        dataset = _as_binary(prompts, waveforms, labels, sources, rewards, tasks, events, "toy-oracle")
        self.truth, self.waveforms = truth, waveforms  # stage 2 scores these without decoding them again
        return dataset

    # (2) ---------------------------------------------------------------------------------------
    def _reward_model(self, labelled: Dataset, output_dir: Path | None = None) -> BatonRewardModel:
        c = self.config
        cache = self.output_dir / "reward-cache"
        model = toy_reward_model(self.clap, self.clap_extractor, labelled, c.reward_epochs, c.seed, cache)
        if output_dir is not None:
            model.save_pretrained(output_dir)
        return model

    def _accuracy(self, scores: list[float], indices: list[int], tasks: list[str]) -> dict[str, float]:
        """Accuracy at 0.5 against the noiseless oracle, per task, on the clips ``indices``."""
        accuracy = {}
        for task in TASKS:
            picked = [k for k, i in enumerate(indices) if tasks[i] == task]
            correct = [int(scores[k] >= 0.5) == self.truth[indices[k]] for k in picked]
            accuracy[task] = float(np.mean(correct)) if correct else math.nan
        return accuracy

    def reward_rows(self, feedback: Dataset) -> tuple[Dataset, dict[str, float]]:
        """Train the reward model on the human rows, score the rest, and measure it there."""
        model = self._reward_model(feedback, self.output_dir / "reward-model")
        self.reward_model = model
        unlabelled = [i for i, s in enumerate(feedback["source"]) if s == "unlabelled"]
        rows = feedback.select(unlabelled)
        scores = model.score(list(rows["prompt"]), [self.waveforms[i] for i in unlabelled], SAMPLING_RATE)
        accuracy = self._accuracy(scores, unlabelled, feedback["task"])
        scored = rows.map(
            lambda _, k: {"source": "reward_model", "reward": float(scores[k]), "label": -1},
            with_indices=True,
            desc="reward rows",
        )
        return scored, accuracy

    def dpo_pairs(self, feedback: Dataset) -> tuple[Dataset, PairStats]:
        """Every feedback clip scored by the stage 2 reward model; per prompt its best against its
        worst clip when they differ by ``dpo_min_margin`` (:func:`baton_tta.data.pairs.ranked_pairs`)."""
        scores = self.reward_model.score(list(feedback["prompt"]), self.waveforms, SAMPLING_RATE)
        pairs, stats = ranked_pairs(feedback, scores, self.config.dpo_min_margin)
        if not stats.pairs:
            raise ValueError(
                f"no DPO pairs at dpo_min_margin={self.config.dpo_min_margin}: {stats.describe()}"
            )
        return pairs, stats

    def reward_accuracy_curve(self, feedback: Dataset, points: int = 4) -> list[dict]:
        """Reward-model accuracy on the reward-model half against how many human labels trained it:
        the first k labelled prompts' clips, k rising to all, each model trained from scratch."""
        human = [
            i
            for i, (s, lab) in enumerate(zip(feedback["source"], feedback["label"], strict=True))
            if s == "human" and lab in (0, 1)
        ]
        unlabelled = [i for i, s in enumerate(feedback["source"]) if s == "unlabelled"]
        audio = [self.waveforms[i] for i in unlabelled]
        prompts = feedback.select(unlabelled)["prompt"]
        curve = []
        for fraction in np.linspace(1.0 / points, 1.0, points):
            subset = human[: max(8, round(fraction * len(human)))]
            model = self._reward_model(feedback.select(subset))
            scores = model.score(prompts, audio, SAMPLING_RATE)
            curve.append({"labels": len(subset), **self._accuracy(scores, unlabelled, feedback["task"])})
        return curve

    # (3) ---------------------------------------------------------------------------------------
    def _base_and_args(self, name: str, config_class=None, **fields: Any):
        """A fresh copy of the base model and the fine-tune's arguments (same steps and learning
        rate for every condition, output under the condition's name)."""
        c = self.config
        pipeline = TangoPipeline.from_pretrained(self.output_dir / "base")
        args = toy_trainer_args(
            c,
            self.output_dir / slug(name),
            c.finetune_steps,
            c.finetune_learning_rate,
            config_class,
            **fields,
        )
        return pipeline, args

    def finetune(self, name: str, rows: Dataset, beta: float) -> TangoPipeline:
        """BATON's reward-weighted loss from the base model (``beta`` weighs the pretrain term)."""
        pipeline, args = self._base_and_args(name, beta=beta, human_to_reward_ratio=None)
        pretrain = self.pretrain_pairs if beta > 0 else None
        trainer = RewardWeightedDiffusionTrainer(
            pipeline, args, train_dataset=rows, pretrain_dataset=pretrain
        )
        trainer.train()
        self.trainers[name] = trainer
        return pipeline

    def finetune_dpo(self, name: str, pairs: Dataset) -> TangoPipeline:
        """Diffusion-DPO from the base model on chosen / rejected pairs."""
        pipeline, args = self._base_and_args(name, DiffusionDPOConfig, dpo_beta=self.config.dpo_beta)
        trainer = DiffusionDPOTrainer(pipeline, args, train_dataset=pairs)
        trainer.train()
        self.trainers[name] = trainer
        return pipeline

    # judging -----------------------------------------------------------------------------------
    def judge(self, name: str, pipeline: TangoPipeline, held_out: Dataset) -> dict:
        """The held-out verdict on ``pipeline`` (:class:`baton_tta.toy.judge.ToyJudge`)."""
        if self._judge is None:
            self._judge = ToyJudge(self.config, self.oracle, self.clap, self.clap_extractor)
        return self._judge(name, pipeline, held_out)

    def round_trip(
        self, pipeline: TangoPipeline, held_out: Dataset, iterations: tuple[int, ...]
    ) -> list[dict]:
        """What the vocoder round trip costs (:func:`baton_tta.toy.round_trip.vocoder_round_trip`)."""
        return vocoder_round_trip(pipeline, held_out, self.config, self.oracle, iterations)

    def oracle_rows(self, feedback: Dataset) -> Dataset:
        """Every feedback clip labelled by the noiseless oracle: what perfect feedback gives."""
        truth = self.truth
        return feedback.map(
            lambda _, i: {
                "source": "human",
                "label": truth[i],
                "reward": float(truth[i]),
                "annotator": "oracle",
            },
            with_indices=True,
            desc="oracle rows",
        )

    # all ---------------------------------------------------------------------------------------
    def run(self) -> ToyLoopResult:
        timed = self.clock
        c = self.config
        unknown = sorted(set(c.conditions or ()) - set(CONDITIONS))
        if unknown:
            raise ValueError(f"unknown toy conditions {unknown}; known: {list(CONDITIONS)}")
        torch.set_num_threads(c.threads)  # the same thread count gives the same sums
        if c.pretrained:
            base = timed("0 load pretrained toy world", self.load_pretrained)
        else:
            base = timed("0 pretrain", self.pretrain)
            timed("0 toy CLAP", self.fit_clap)
        train_prompts, held_out = self.prompts()
        feedback = timed("1 generate + label", self.feedback_data, base, train_prompts)
        reward_rows, accuracy = timed("2 reward model", self.reward_rows, feedback)
        curve = []
        if c.reward_curve_points:
            curve = timed(
                "2 reward accuracy curve", self.reward_accuracy_curve, feedback, c.reward_curve_points
            )
        trip = []
        if c.round_trip_clips:
            trip = timed("round trip", self.round_trip, base, held_out, c.round_trip_iterations)
        conditions = {name: CONDITIONS[name] for name in (c.conditions or CONDITIONS)}
        needed = {spec["rows"] for spec in conditions.values()}
        human = feedback.filter(lambda row: row["source"] == "human" and row["label"] in (0, 1))
        datasets: dict[str, Dataset] = {"human": human, "reward_model": reward_rows}
        for constant, reward in (("all_as_aligned", 1.0), ("all_as_misaligned", 0.0)):
            if constant in needed:
                datasets[constant] = feedback.map(
                    lambda _, r=reward: {"source": "reward_model", "reward": r, "label": -1}
                )
        if "both" in needed:
            datasets["both"] = _concatenate(human, reward_rows)
        if "oracle" in needed:
            datasets["oracle"] = self.oracle_rows(feedback)
        pair_stats = None
        if "dpo_pairs" in needed:
            datasets["dpo_pairs"], pair_stats = timed("2 DPO pairs", self.dpo_pairs, feedback)
        rows = [timed("judge base", self.judge, "base (pretrained only)", base, held_out)]
        for name, spec in conditions.items():
            if spec.get("objective") == "dpo":
                tuned = timed(f"3 {name}", self.finetune_dpo, name, datasets[spec["rows"]])
            else:
                beta = c.beta * spec["beta"]
                tuned = timed(f"3 {name}", self.finetune, name, datasets[spec["rows"]], beta)
            rows.append(timed(f"judge {name}", self.judge, name, tuned, held_out))
        stats = {
            "train prompts": len(train_prompts),
            "held-out prompts": len(held_out),
            "generated clips": len(feedback),
            "human rows (1/0)": len(human),
            "human rows skipped": sum(
                1 for s, lab in zip(feedback["source"], feedback["label"]) if s == "human" and lab == -1
            ),
            "reward-model rows": len(reward_rows),
            "base clips aligned (oracle)": int(sum(self.truth)),
        }
        if pair_stats is not None:
            stats["DPO pairs"] = pair_stats.pairs
            stats["DPO prompts under the margin"] = pair_stats.below_margin
        references = {"base": rows[0]}
        if "no feedback (control)" in conditions:
            references["control"] = rows[1 + list(conditions).index("no feedback (control)")]
        differences = paired_differences(rows[1:], references, c.bootstrap_samples, c.seed)
        return ToyLoopResult(
            rows, accuracy, stats, asdict(self.config), dict(self.clock.seconds), differences, trip, curve
        )


def _concatenate(first: Dataset, second: Dataset) -> Dataset:
    return concatenate_datasets([first.cast(binary_features()), second.cast(binary_features())])

"""The whole BATON loop in the toy world under the paper's conditions (Tables 5–7), on the stages of
:mod:`baton_tta.toy.stages`: (0) pretrain or load the toy TANGO and CLAP; (1) clips, half the prompts
labelled by simulated people; (2) the reward model scores the other half; (3) reward-weighted
fine-tuning under every condition (and Diffusion-DPO on ranked pairs); then every model is judged by
the noiseless oracle on held-out prompts (:mod:`baton_tta.toy.judge`): alignment rate per task with a
bootstrap 95 % interval over prompts (:mod:`baton_tta.toy.statistics`).
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
from datasets import Dataset

from baton_tta.data.audio import SAMPLING_RATE
from baton_tta.data.pairs import PairStats, ranked_pairs
from baton_tta.pipelines.pipeline_tango import TangoPipeline
from baton_tta.reward import BatonRewardModel
from baton_tta.scoped import torch_threads
from baton_tta.toy.config import toy_trainer_args
from baton_tta.toy.judge import ToyJudge
from baton_tta.toy.oracle import OracleAnnotator
from baton_tta.toy.pretrained import load_toy_clap, load_toy_tango
from baton_tta.toy.report import ToyLoopResult, slug
from baton_tta.toy.stages import (
    Feedback,
    feedback_reward_model,
    feedback_stats,
    fine_tune_baton,
    fit_toy_clap,
    human_rows,
    joined_rows,
    oracle_accuracy,
    pretrain_pairs,
    pretrain_toy_tango,
    reward_model_rows,
    simulated_feedback,
)
from baton_tta.toy.statistics import paired_differences
from baton_tta.toy.timing import StageClock
from baton_tta.toy.world import toy_prompt_split
from baton_tta.trainer import DiffusionDPOConfig, DiffusionDPOTrainer, RewardWeightedDiffusionTrainer
from toy.config import CONDITIONS, ToyLabConfig
from toy.round_trip import vocoder_round_trip

logger = logging.getLogger(__name__)


class ToyLoop:
    """Runs the stages in order, keeping each stage's output in ``output_dir`` and on the instance."""

    def __init__(self, config: ToyLabConfig, output_dir: str | Path):
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
        pipeline = pretrain_toy_tango(self.config, self.output_dir / "base-run")
        self.pretrain_pairs = pretrain_pairs(self.config)
        pipeline.save_pretrained(self.output_dir / "base")
        return pipeline

    def load_pretrained(self) -> TangoPipeline:
        """Stage 0 from ``config.pretrained`` instead of training: the toy TANGO, the toy CLAP, and the
        pretrain pairs that the β term replays (rendered, as :meth:`pretrain` renders them)."""
        c = self.config
        assert c.pretrained is not None
        pipeline = load_toy_tango(c.pretrained)
        pipeline.save_pretrained(self.output_dir / "base")
        self.pretrain_pairs = pretrain_pairs(c)
        self.clap, self.clap_extractor = load_toy_clap(c.pretrained)
        return pipeline

    def fit_clap(self):
        self.clap, self.clap_extractor = fit_toy_clap(self.config)
        return self.clap

    # (1) ---------------------------------------------------------------------------------------
    def prompts(self) -> tuple[Dataset, Dataset]:
        """Training and held-out prompts, disjoint (:func:`baton_tta.toy.world.toy_prompt_split`)."""
        c = self.config
        return toy_prompt_split(c.train_prompts, c.eval_prompts, c.seed, c.group_sizes)

    def feedback_data(self, pipeline: TangoPipeline, train_prompts: Dataset) -> Dataset:
        """Stage 1 (:func:`baton_tta.toy.stages.simulated_feedback`); keeps the oracle's truth and the
        clips, which stage 2 scores without decoding them again."""
        self.feedback = simulated_feedback(pipeline, train_prompts, self.config, self.oracle)
        self.truth, self.waveforms = self.feedback.truth, self.feedback.waveforms
        return self.feedback.dataset

    # (2) ---------------------------------------------------------------------------------------
    def _reward_model(self, labelled: Dataset, output_dir: Path | None = None) -> BatonRewardModel:
        cache = self.output_dir / "reward-cache"
        return feedback_reward_model(self.clap, self.clap_extractor, labelled, self.config, cache, output_dir)

    def reward_rows(self, feedback: Dataset) -> tuple[Dataset, dict[str, float]]:
        """Train the reward model on the human rows, score the rest, and measure it there."""
        self.reward_model = self._reward_model(feedback, self.output_dir / "reward-model")
        return reward_model_rows(self.reward_model, Feedback(feedback, self.truth, self.waveforms))

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
            accuracy = oracle_accuracy(scores, unlabelled, feedback["task"], self.truth)
            curve.append({"labels": len(subset), **accuracy})
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
        trainer = fine_tune_baton(
            self.output_dir / "base",
            rows,
            beta,
            self.pretrain_pairs,
            self.config,
            self.output_dir / slug(name),
        )
        self.trainers[name] = trainer
        return trainer.pipeline

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
        """What the vocoder round trip costs (:func:`toy.round_trip.vocoder_round_trip`)."""
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
        """:meth:`_run` on the configured thread count, given back after (the same count gives the
        same sums; a run in another's process leaves its threads as it found them)."""
        with torch_threads(self.config.threads):
            return self._run()

    def _run(self) -> ToyLoopResult:
        timed = self.clock
        c = self.config
        unknown = sorted(set(c.conditions or ()) - set(CONDITIONS))
        if unknown:
            raise ValueError(f"unknown toy conditions {unknown}; known: {list(CONDITIONS)}")
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
        human = human_rows(self.feedback)
        datasets: dict[str, Dataset] = {"human": human, "reward_model": reward_rows}
        for constant, reward in (("all_as_aligned", 1.0), ("all_as_misaligned", 0.0)):
            if constant in needed:
                datasets[constant] = feedback.map(
                    lambda _, r=reward: {"source": "reward_model", "reward": r, "label": -1}
                )
        if "both" in needed:
            datasets["both"] = joined_rows(human, reward_rows)
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
        stats = feedback_stats(self.feedback, train_prompts, held_out, human, reward_rows)
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

"""Online rounds: generate with the current model → score with the reward model → build the round's
data (BATON rows or DPO pairs) → fine-tune → judge on held-out prompts → save, repeated.

BATON fine-tunes once, on the original model's clips, and names that as its limit; TangoFlux's CRPO
iterates. Every step of a round leaves its output in ``output_dir/round-r/`` and is recorded in that
round's ``state.json`` only once complete (files are written whole and renamed into place), so a run
killed at any point continues at the first unfinished step of the unfinished round: generation resumes
from its shards, training from its newest checkpoint, and finished rounds are never regenerated.

Judges are not the optimised reward: the CLAP score (and, in the toy world, the oracle) on held-out
prompts with the same clip seeds every round, so rounds are compared on the same noise. When the judge
stops improving while the reward model's score keeps rising, the run can stop early
(``early_stopping_patience``) and says so in its log and card.

With ``feedback_clips_per_round``, people label a sample of each round's clips between generating and
scoring (:mod:`baton_tta.online.feedback`): the reward model is retrained on every label so far, and
the labelled clips train as human rows (their label is their reward, as in the paper's "both").
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import logging
import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from datasets import Dataset, load_from_disk
from diffusers import DDIMScheduler, DiffusionPipeline

from baton_tta.annotate.clips import clip_id_for
from baton_tta.data.audio import score_as_heard
from baton_tta.data.distributed import gather_in_order, on_main
from baton_tta.data.fingerprint import content_fingerprint
from baton_tta.data.generation import DATASET_DIR, clip_seed, generate_clips, render_clips_shared
from baton_tta.data.lock import acquire as acquire_output_lock
from baton_tta.data.pairs import ranked_pairs
from baton_tta.families import family_of, load_pipeline
from baton_tta.online.config import OnlineConfig
from baton_tta.online.feedback import (
    LABELS_DIR,
    REWARD_MODEL_DIR,
    SAMPLE_DIR,
    Labeller,
    feedback_sample,
    human_labels_by_clip,
    load_round_labels,
    save_atomically,
    training_labels,
)
from baton_tta.online.report import push_round, write_round_card, write_run_report
from baton_tta.reward.labelling import score_rows_shared
from baton_tta.reward.modeling import BatonRewardModel
from baton_tta.reward.training import RewardTrainingConfig, train_reward_model
from baton_tta.scorers.registry import Scorer, describe_scorer
from baton_tta.trainer import DiffusionTrainer, RewardWeightedDiffusionConfig
from baton_tta.trainer.objectives import Objective, objective_named
from baton_tta.trainer.safety import defining_settings, prepare_output_dir

logger = logging.getLogger(__name__)

STEPS = ("generate", "feedback", "score", "data", "train", "judge", "save")
#: OnlineConfig's own fields a resumed run must keep (besides the trainers' defining fields):
#: all of them but how long it runs (``num_rounds``, ``early_stopping_patience``, which extend or stop a
#: run) and how generation is batched (``prompts_per_batch``: clip seeds do not depend on it)
ONLINE_DEFINING_FIELDS = tuple(
    f.name
    for f in dataclasses.fields(OnlineConfig)
    if f.name not in {x.name for x in dataclasses.fields(RewardWeightedDiffusionConfig)}
    and f.name not in ("num_rounds", "early_stopping_patience", "prompts_per_batch")
)
EVAL_SEED_OFFSET = 10_000_019


#: A held-out judge: (held-out prompt rows, their clips prompt-major, clips per prompt, the clips'
#: sampling rate — the pipeline's, which the judge converts from) → metrics.
Judge = Callable[[Dataset, list[np.ndarray], int, int], dict[str, float]]


def _write_json(path: Path, value: Any) -> None:
    """Whole or not at all: a temporary file renamed into place."""
    temporary = path.with_suffix(path.suffix + ".tmp")
    temporary.write_text(json.dumps(value, indent=2) + "\n", encoding="utf-8")
    os.replace(temporary, path)


@dataclass
class RoundState:
    """The steps of one round that finished, persisted in ``round-r/state.json``."""

    path: Path
    done: list[str] = field(default_factory=list)

    @classmethod
    def load(cls, folder: Path) -> RoundState:
        path = folder / "state.json"
        done = json.loads(path.read_text(encoding="utf-8"))["done"] if path.is_file() else []
        return cls(path, done)

    def finish(self, step: str) -> None:
        """Record ``step`` (the main process writes; every process waits for it)."""
        self.done.append(step)
        on_main(lambda: _write_json(self.path, {"done": self.done}))

    @property
    def complete(self) -> bool:
        return all(step in self.done for step in STEPS)


class OnlineRunner:
    """Runs :attr:`OnlineConfig.num_rounds` rounds from ``pipeline``.

    Args:
        pipeline: the starting DiffusionPipeline (round 0).
        reward_model: the scorer being optimised.
        args: [`OnlineConfig`].
        train_prompts: rows with ``prompt`` (and optionally ``task``, ``events``) to generate for.
        eval_prompts: held-out rows the judges hear (never trained on).
        pretrain_dataset: ``prompt``/``audio`` rows for BATON's β term (objective baton, β > 0).
        judges: name → :data:`Judge`; their metrics are merged into each round's metrics.
        reward_labels: the labelled rows the reward model was trained on; with human feedback, its
            retraining uses them and every round's labels.
        reward_training: how the reward model is retrained on feedback (needed with feedback).
        labeller: labels a feedback sample in place of people (simulated annotators, tests); without
            it a round waits for exported labels (:class:`~baton_tta.online.feedback.FeedbackPending`).
    """

    def __init__(
        self,
        pipeline: DiffusionPipeline,
        reward_model: Scorer,
        args: OnlineConfig,
        train_prompts: Dataset,
        eval_prompts: Dataset,
        pretrain_dataset: Dataset | None = None,
        judges: dict[str, Judge] | None = None,
        reward_labels: Dataset | None = None,
        reward_training: RewardTrainingConfig | None = None,
        labeller: Labeller | None = None,
    ):
        overlap = set(train_prompts["prompt"]) & set(eval_prompts["prompt"])
        if overlap:
            raise ValueError(f"held-out prompts must not be trained on; shared: {sorted(overlap)[:5]}")
        self.objective = objective_named(args.objective)
        pretrain_weight = getattr(args.round_training_args(args.output_dir), "beta", 0.0)  # the objective's
        if _takes(self.objective, "pretrain_dataset") and pretrain_weight > 0 and pretrain_dataset is None:
            raise ValueError(
                f"objective {args.objective} with beta > 0 needs a pretrain_dataset (or set beta: 0)"
            )
        if args.feedback_clips_per_round and (
            not isinstance(reward_model, BatonRewardModel) or reward_training is None
        ):
            raise ValueError(
                "feedback_clips_per_round retrains the reward model: it must be a BatonRewardModel, and "
                "reward_training must say how to train it"
            )
        self.pipeline = pipeline
        self.reward_model = reward_model
        self.args = args
        self.train_prompts = train_prompts
        self.eval_prompts = eval_prompts
        self.pretrain_dataset = pretrain_dataset
        self.judges = judges or {}
        self.reward_labels = reward_labels
        self.reward_training = reward_training
        self.labeller = labeller
        self._reward_round = 0  # the round whose feedback trained self.reward_model (0: as given)
        self.output_dir = Path(args.output_dir)
        self.output_dir.mkdir(parents=True, exist_ok=True)

    # ------------------------------------------------------------------ the loop
    def run(self) -> list[dict[str, float]]:
        """Every round not yet complete, in order; returns the metrics of rounds 0..R (0 = start)."""
        on_main(self._claim_output_dir)
        history = [self._judge_start()]
        stop_reason = None
        for round_index in range(1, self.args.num_rounds + 1):
            metrics = self.run_round(round_index)
            history.append(metrics)
            stop_reason = reward_hacking_reason(
                history, self.args.judge_metric, self.args.early_stopping_patience
            )
            if stop_reason:
                logger.warning("stopping early after round %d: %s", round_index, stop_reason)
                break
        summary: dict[str, Any] = {
            "rounds": history,
            "stopped_early": stop_reason,
            "objective": self.args.objective,
        }
        if stop_reason:  # roll back: the run's result is the round the judge liked best, not the last
            scores = [m[self.args.judge_metric] for m in history]
            best = int(np.argmax(scores))
            summary["rolled_back_to"] = best
            logger.warning(
                "rolled back to round %d (held-out %s %.4f; round 0 is the starting model)",
                best,
                self.args.judge_metric,
                scores[best],
            )
        on_main(lambda: self._write_summary(summary))
        return history

    def _claim_output_dir(self) -> None:
        """Hold the folder's lock, and refuse to continue a run made with other settings.

        Everything that shapes a round's clips, data or weights is defining (the objective, clips per
        prompt, sampling, every training field, the base model, the prompts' content): a resumed run
        whose round 1 had 2 clips per prompt must not make round 2 with 3, and re-running a finished
        BATON run with ``--objective dpo`` must not rewrite its card to claim DPO. Only how long it runs
        and how generation is batched may change (``run.json`` records the rest)."""
        acquire_output_lock(self.output_dir)
        base_model = getattr(self.pipeline, "name_or_path", None)
        content = [
            f"train prompts content {content_fingerprint(self.train_prompts)}",
            f"held-out prompts content {content_fingerprint(self.eval_prompts)}",
            # what round 1's reward and every round's judges are: another reward model or an added
            # judge on resume would optimise or report something else (fourth trust pass)
            f"reward {json.dumps(describe_scorer(self.reward_model), sort_keys=True, default=str)}",
            f"judges {sorted(self.judges)}",
        ]
        run = defining_settings(self.args, [], base_model if isinstance(base_model, str) else None, content)
        own = {name: getattr(self.args, name) for name in (*ONLINE_DEFINING_FIELDS, "max_steps")}
        run["settings"].update(json.loads(json.dumps(own, default=str)))
        prepare_output_dir(self.output_dir, run, resuming=True, overwrite=False)

    def _write_summary(self, summary: dict[str, Any]) -> None:
        _write_json(self.output_dir / "summary.json", summary)
        write_run_report(self.output_dir, summary, self.args, family_of(self.pipeline))

    def round_dir(self, round_index: int) -> Path:
        return self.output_dir / f"round-{round_index}"

    def run_round(self, r: int) -> dict[str, float]:
        """One round, from its first unfinished step."""
        folder = self.round_dir(r)
        folder.mkdir(parents=True, exist_ok=True)
        state = RoundState.load(folder)
        if state.complete:
            logger.info("round %d: already complete", r)
            return json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
        logger.info("round %d: steps done %s", r, state.done or "none")
        pipeline = self._pipeline_before(r)
        if self.objective.rows == "prompts":
            data = self._grpo_steps(pipeline, folder, state)
        else:
            data = self._offline_steps(pipeline, folder, state, r)
        scores = json.loads((folder / "scores.json").read_text(encoding="utf-8"))
        if "judge" not in state.done:
            metrics = self.judge(load_round_pipeline(folder))
            metrics["reward_mean_train_clips"] = float(np.mean(scores))
            metrics["train_rows"] = float(len(data))
            on_main(lambda: _write_json(folder / "metrics.json", metrics))
            state.finish("judge")
        metrics = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
        if "save" not in state.done:
            on_main(lambda: self._save(folder, r, metrics))
            state.finish("save")
        return metrics

    def _offline_steps(self, pipeline: DiffusionPipeline, folder: Path, state: RoundState, r: int) -> Dataset:
        """Generate → feedback → score → data → train (BATON rows or DPO pairs); returns the data."""
        if "generate" not in state.done:
            self._generate(pipeline, folder, r)
            state.finish("generate")
        clips = load_from_disk(str(folder / "clips" / DATASET_DIR))
        if "feedback" not in state.done:
            on_main(lambda: self._feedback(clips, folder, r))  # people's labels: one process
            state.finish("feedback")
        self._use_reward_model_of(r)
        if "score" not in state.done:
            scores = score_rows_shared(clips, list(range(len(clips))), self.reward_model)
            on_main(lambda: _write_json(folder / "scores.json", [float(s) for s in scores]))
            state.finish("score")
        scores = json.loads((folder / "scores.json").read_text(encoding="utf-8"))
        if "data" not in state.done:
            on_main(lambda: self._build_data(clips, scores, folder))
            state.finish("data")
        data = load_from_disk(str(folder / "data"))
        if "train" not in state.done:
            self._train(pipeline, data, folder)
            state.finish("train")
        return data

    def _grpo_steps(self, pipeline: DiffusionPipeline, folder: Path, state: RoundState) -> Dataset:
        """GRPO samples, scores and updates inside its trainer: no clips are made beforehand, so the
        generate, feedback and score steps are empty; the round's data are its prompts, and
        ``scores.json`` holds the reward of every clip its rollouts sampled."""
        for step in ("generate", "feedback", "score"):
            if step not in state.done:
                state.finish(step)
        if "data" not in state.done:
            on_main(lambda: save_atomically(self.train_prompts, folder / "data"))
            state.finish("data")
        data = load_from_disk(str(folder / "data"))
        if "train" not in state.done:
            trainer = self._train(pipeline, data, folder)
            rewards = [float(x) for x in gather_in_order(trainer.rewards_seen)]
            on_main(lambda: _write_json(folder / "scores.json", rewards))
            state.finish("train")
        return data

    # ------------------------------------------------------------------ steps
    def _pipeline_before(self, r: int) -> DiffusionPipeline:
        if r == 1:
            return self.pipeline
        return load_round_pipeline(self.round_dir(r - 1))

    def _generate(self, pipeline: DiffusionPipeline, folder: Path, r: int) -> None:
        a = self.args
        generate_clips(
            self.train_prompts,
            self._sampler(pipeline),
            folder / "clips",
            clips_per_prompt=a.clips_per_prompt,
            prompts_per_batch=a.prompts_per_batch,
            seed=a.round_seed(r),
            audio_length_in_s=a.clip_seconds,
            num_inference_steps=a.num_inference_steps,
            guidance_scale=a.guidance_scale,
            generator_name=f"round-{r - 1} model",
            mixed_precision=a.mixed_precision,
        )

    def _feedback(self, clips: Dataset, folder: Path, r: int) -> None:
        """Sample → labels (people's export, or the labeller) → reward model retrained on its original
        labels and every round's so far, saved in ``feedback/reward_model``. Nothing without feedback."""
        if not self.args.feedback_clips_per_round:
            return
        feedback = folder / "feedback"
        feedback.mkdir(exist_ok=True)
        if not (feedback / SAMPLE_DIR).is_dir():
            sample = feedback_sample(clips, self.args.feedback_clips_per_round, self.args.round_seed(r))
            save_atomically(sample, feedback / SAMPLE_DIR)
        load_round_labels(feedback, load_from_disk(str(feedback / SAMPLE_DIR)), self.labeller)
        rounds = [
            load_from_disk(str(path))
            for k in range(1, r + 1)
            if (path := self.round_dir(k) / "feedback" / LABELS_DIR).is_dir()
        ]
        labels = training_labels(self.reward_labels, rounds)
        assert isinstance(self.reward_model, BatonRewardModel) and self.reward_training is not None
        logger.info("round %d: retraining the reward model on %d labelled rows", r, len(labels))
        result = train_reward_model(
            self.reward_model,
            labels,
            replace(
                self.reward_training, overwrite_output_dir=True
            ),  # this stage's own folder: redone on resume
            cache_dir=self.output_dir / "reward-cache",
            output_dir=feedback / REWARD_MODEL_DIR,
        )
        logger.info("round %d: reward model validation metrics %s", r, result.metrics)
        self._reward_round = r

    def _use_reward_model_of(self, r: int) -> None:
        """With feedback, round r scores and judges with the reward model its feedback trained (loaded
        when this process did not train it: a resumed run)."""
        if self.args.feedback_clips_per_round and self._reward_round != r:
            self.reward_model = BatonRewardModel.from_pretrained(
                self.round_dir(r) / "feedback" / REWARD_MODEL_DIR
            )
            self._reward_round = r

    def _human_labels(self, folder: Path) -> dict[str, int]:
        path = folder / "feedback" / LABELS_DIR
        return human_labels_by_clip(load_from_disk(str(path)), str(path)) if path.is_dir() else {}

    def _build_data(self, clips: Dataset, scores: Sequence[float], folder: Path) -> None:
        """BATON: every clip a reward-model row with its score as reward, except clips people labelled
        (human rows, the label as reward). DPO: one best-vs-worst pair per prompt whose rewards differ
        by ``min_reward_margin`` (the rest counted in the log)."""
        if self.objective.rows == "pairs":
            data, stats = ranked_pairs(clips, scores, self.args.min_reward_margin)
            if not stats.pairs:
                raise ValueError(f"{folder.name}: no DPO pairs — {stats.describe()}; lower min_reward_margin")
        else:
            human = self._human_labels(folder)

            def row(clip: dict, i: int) -> dict:
                label = human.get(clip_id_for(clip["prompt"], clip["audio"]))
                if label is None:
                    return {"source": "reward_model", "reward": float(scores[i]), "label": -1}
                return {"source": "human", "reward": float(label), "label": label}

            extra = [c for c in ("prompt_index", "clip_index") if c in clips.column_names]
            data = clips.remove_columns(extra).map(row, with_indices=True, desc="reward rows")
        save_atomically(data, folder / "data")

    def _train(self, pipeline: DiffusionPipeline, data: Dataset, folder: Path) -> DiffusionTrainer:
        """The existing trainers; a killed fine-tune resumes from its newest checkpoint."""
        train_dir = folder / "train"
        checkpoints = sorted(train_dir.glob("checkpoint-*")) if train_dir.is_dir() else []
        if train_dir.is_dir() and not checkpoints:  # a start that left nothing to resume from
            on_main(lambda: shutil.rmtree(train_dir))
        r = int(folder.name.split("-")[-1])
        args = self.args.round_training_args(train_dir, r)
        extras: dict[str, Any] = {}
        if _takes(self.objective, "reward_funcs"):  # it samples and scores its own clips
            extras["reward_funcs"] = self.reward_model
        if _takes(self.objective, "pretrain_dataset"):
            args.human_to_reward_ratio = None  # every row is the reward model's
            extras["pretrain_dataset"] = self.pretrain_dataset if args.beta > 0 else None
        trainer = self.objective.trainer_class(pipeline, args, train_dataset=data, **extras)
        trainer.card_title = f"BATON online round {r} ({self.args.objective})"
        how = (
            "the round-{r} model's own clips sampled, scored by the reward model and followed by GRPO updates"
            if self.objective.rows == "prompts"
            else "clips from the round-{r} model, scored by the reward model, trained on"
        ).format(r=r - 1)
        trainer.card_context = f"Round {r} of {self.args.num_rounds} of an online run (objective `{self.args.objective}`): {how}."
        trainer.train(resume_from_checkpoint=True if checkpoints else None)  # every process trains
        on_main(lambda: self._save_pipeline(trainer, folder / "pipeline"))
        return trainer

    @staticmethod
    def _save_pipeline(trainer: DiffusionTrainer, folder: Path) -> None:
        shutil.rmtree(folder, ignore_errors=True)
        trainer.save_pipeline(folder)  # with the code of any non-diffusers component: loads anywhere

    def _sampler(self, pipeline: DiffusionPipeline) -> DiffusionPipeline:
        """The pipeline that samples: itself, or with ``ddim_sampling`` a copy that shares its modules
        and has DDIM built from its scheduler's config (the caller's scheduler is left alone)."""
        if not self.args.ddim_sampling:
            return pipeline
        family = family_of(pipeline)
        if not family.noise_process().supports_ddim:
            raise ValueError(
                f"ddim_sampling is for DDPM families; {family.display_name} samples with "
                f"{type(pipeline.scheduler).__name__}"
            )
        sampler = family.pipeline_with(scheduler=DDIMScheduler.from_config(pipeline.scheduler.config))
        sampler.set_progress_bar_config(disable=True)
        return sampler

    def judge(self, pipeline: DiffusionPipeline) -> dict[str, float]:
        """Held-out clips, the same seeds every round; every judge, and the reward model's own mean
        score on them (what is optimised, watched for hacking)."""
        a = self.args
        pipeline = self._sampler(pipeline)
        rate = family_of(pipeline).sampling_rate
        prompts = list(self.eval_prompts["prompt"])
        n = a.eval_clips_per_prompt
        seeds = [
            [clip_seed(a.generation_seed + EVAL_SEED_OFFSET, i, k, n) for k in range(n)]
            for i in range(len(prompts))
        ]
        waveforms = render_clips_shared(
            pipeline,
            prompts,
            seeds,
            a.prompts_per_batch,
            audio_length_in_s=a.clip_seconds,
            num_inference_steps=a.num_inference_steps,
            guidance_scale=a.guidance_scale,
            desc="judging",
            mixed_precision=a.mixed_precision,
        )
        return on_main(lambda: self._judged(prompts, waveforms, n, rate))

    def _judged(self, prompts: list[str], waveforms: list[np.ndarray], n: int, rate: int) -> dict[str, float]:
        """Every judge, and the reward model's own mean score, on the held-out clips (one process)."""
        repeated = [p for p in prompts for _ in range(n)]
        metrics = {
            "reward_mean_eval": float(np.mean(score_as_heard(self.reward_model, repeated, waveforms, rate)))
        }
        for judge in self.judges.values():
            metrics.update(judge(self.eval_prompts, waveforms, n, rate))
        return metrics

    def _judge_start(self) -> dict[str, float]:
        folder = self.round_dir(0)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "metrics.json"
        if not path.is_file():
            metrics = self.judge(self.pipeline)
            on_main(lambda: _write_json(path, metrics))
        return json.loads(path.read_text(encoding="utf-8"))

    def _save(self, folder: Path, r: int, metrics: dict[str, float]) -> None:
        write_round_card(folder, metrics)
        if self.args.push_to_hub:
            push_round(folder, r, self.args)


def load_round_pipeline(folder: Path) -> DiffusionPipeline:
    """A round's pipeline; its component code (shipped in the folder) is this run's own."""
    return load_pipeline(folder / "pipeline", trust_remote_code=True)


def reward_hacking_reason(history: list[dict[str, float]], metric: str, patience: int) -> str | None:
    """Why to stop, when for ``patience`` rounds in a row the held-out judge ``metric`` did not beat
    its best so far while the reward model's held-out score (``reward_mean_eval``) rose; else None.
    ``history`` is rounds 0..r (0 = the starting model)."""
    if not patience or len(history) <= patience:
        return None
    missing = [r for r, m in enumerate(history) if metric not in m]
    if missing:
        raise ValueError(f"judge_metric {metric!r} is not among the judges' metrics {sorted(history[-1])}")
    for back in range(patience):
        current, previous = history[-1 - back], history[-2 - back]
        best_before = max(m[metric] for m in history[: len(history) - 1 - back])
        if current[metric] > best_before or not current["reward_mean_eval"] > previous["reward_mean_eval"]:
            return None
    best = max(m[metric] for m in history[: len(history) - patience])
    return (
        f"held-out {metric} has not improved for {patience} round(s) (best {best:.4f}, now "
        f"{history[-1][metric]:.4f}) while the reward model's score rose to {history[-1]['reward_mean_eval']:.4f}: "
        "the reward is being optimised beyond what the judge hears (reward hacking)"
    )


def _takes(objective: Objective, argument: str) -> bool:
    """Whether the objective's trainer takes that keyword (BATON's ``pretrain_dataset``, GRPO's
    ``reward_funcs``): a registered trainer gets what its signature asks for."""
    return argument in inspect.signature(objective.trainer_class.__init__).parameters

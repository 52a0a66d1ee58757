"""The whole BATON loop in the toy world, stage by stage, with the project's own trainers.

(0) pretrain a toy TangoPipeline on rendered (caption, clip) pairs; (1) prompts → clips → oracle
labels on half the prompts (the "human" rows); (2) a reward model on frozen toy-CLAP embeddings,
trained on those labels, scores the other half (the reward-model rows); (3) reward-weighted
fine-tuning under the paper's conditions (Tables 5–7); then every model is judged by the noiseless
oracle on held-out prompts: alignment rate per task with a bootstrap 95 % interval over prompts.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from datasets import Dataset
from diffusers import DDIMScheduler
from transformers import ClapProcessor

from baton_tta.clap import ClapEmbedder
from baton_tta.data.audio import SAMPLING_RATE, encode_audio
from baton_tta.data.generation import clip_seed, render_clips
from baton_tta.data.schema import binary_features
from baton_tta.metrics.functions import clap_score
from baton_tta.pipelines.pipeline_tango import TangoPipeline
from baton_tta.reward import BatonRewardConfig, BatonRewardModel
from baton_tta.reward.training import RewardTrainingConfig, train_reward_model
from baton_tta.tiny import tiny_tokenizer
from baton_tta.toy.components import toy_tango_pipeline, train_toy_autoencoder, train_toy_clap
from baton_tta.toy.datasets import build_toy_prompts, toy_pretrain_dataset
from baton_tta.toy.oracle import OracleAnnotator
from baton_tta.trainer import RewardWeightedDiffusionConfig, RewardWeightedDiffusionTrainer

logger = logging.getLogger(__name__)
TASKS = ("integrity", "temporal")


@dataclass
class ToyLoopConfig:
    """Sizes and settings of one toy run; :meth:`smoke` is the seconds-long version the tests use."""

    seed: int = 0
    duration_s: float = 1.0
    vae_clips: int = 256
    vae_steps: int = 200
    clap_pairs: int = 512
    clap_steps: int = 300
    pretrain_pairs: int = 1024
    pretrain_steps: int = 1000
    pretrain_learning_rate: float = 2e-3
    batch_size: int = 16
    train_prompts: dict[str, int] = field(default_factory=lambda: {"integrity": 30, "temporal": 30})
    eval_prompts: dict[str, int] = field(default_factory=lambda: {"integrity": 15, "temporal": 25})
    clips_per_prompt: int = 5
    eval_clips_per_prompt: int = 4
    inference_steps: int = 10
    guidance_scale: float = 3.0
    annotator_noise: float = 0.05
    annotator_skip: float = 0.05
    reward_epochs: int = 60
    finetune_steps: int = 100
    finetune_learning_rate: float = 2e-4
    beta: float = 0.5
    bootstrap_samples: int = 1000

    @classmethod
    def smoke(cls) -> ToyLoopConfig:
        return cls(
            vae_clips=16,
            vae_steps=2,
            clap_pairs=16,
            clap_steps=2,
            pretrain_pairs=16,
            pretrain_steps=2,
            batch_size=4,
            train_prompts={"integrity": 4, "temporal": 4},
            eval_prompts={"integrity": 1, "temporal": 1},
            clips_per_prompt=2,
            eval_clips_per_prompt=2,
            inference_steps=2,
            reward_epochs=2,
            finetune_steps=2,
            bootstrap_samples=50,
        )


#: Stage 3's conditions: which rows train, and β (paper Tables 5–7).
CONDITIONS: dict[str, dict[str, Any]] = {
    "no feedback (control)": {"rows": "all_as_aligned", "beta": True},
    "human rows": {"rows": "human", "beta": True},
    "reward-model rows": {"rows": "reward_model", "beta": True},
    "human + reward-model rows": {"rows": "both", "beta": True},
    "human + reward-model rows, beta = 0": {"rows": "both", "beta": False},
}


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


def _trainer_args(config: ToyLoopConfig, output_dir: Path, steps: int, lr: float, beta: float):
    return RewardWeightedDiffusionConfig(
        output_dir=str(output_dir),
        audio_length_s=config.duration_s,
        beta=beta,
        learning_rate=lr,
        per_device_train_batch_size=config.batch_size,
        max_steps=steps,
        lr_scheduler_type="cosine",
        warmup_steps=min(20, steps // 10),
        logging_steps=max(1, steps // 4),
        save_strategy="no",
        human_to_reward_ratio=None,
        seed=config.seed,
        report_to="none",
        dataloader_num_workers=0,
        dataloader_pin_memory=False,
        disable_tqdm=True,
    )


def generate(
    pipeline: TangoPipeline, prompts: list[str], clips_per_prompt: int, config: ToyLoopConfig, seed: int
) -> list[np.ndarray]:
    """``clips_per_prompt`` clips per prompt, prompt-major, with DDIM; clip k of prompt i is seeded
    ``seed + i · clips_per_prompt + k`` (stage 1's rule, :func:`baton_tta.data.generation.clip_seed`)."""
    pipeline.scheduler = DDIMScheduler.from_config(pipeline.scheduler.config)
    seeds = [
        [clip_seed(seed, i, k, clips_per_prompt) for k in range(clips_per_prompt)]
        for i in range(len(prompts))
    ]
    waveforms: list[np.ndarray] = []
    for _, audios in render_clips(
        pipeline,
        prompts,
        seeds,
        prompts_per_batch=max(1, 16 // clips_per_prompt),
        audio_length_in_s=config.duration_s,
        num_inference_steps=config.inference_steps,
        guidance_scale=config.guidance_scale,
        desc="generating",
    ):
        waveforms.extend(audios)
    return waveforms


def bootstrap_interval(
    aligned_per_prompt: list[list[bool]], samples: int, seed: int
) -> tuple[float, float, float]:
    """Alignment rate and its 95 % percentile interval, resampling prompts (clips of one prompt are
    not independent, so prompts are the unit)."""
    if not aligned_per_prompt:
        return math.nan, math.nan, math.nan
    rng = np.random.default_rng(seed)
    sums = np.array([sum(p) for p in aligned_per_prompt], dtype=float)
    counts = np.array([len(p) for p in aligned_per_prompt], dtype=float)
    picks = rng.integers(0, len(sums), size=(samples, len(sums)))
    rates = sums[picks].sum(axis=1) / counts[picks].sum(axis=1)
    low, high = np.percentile(rates, [2.5, 97.5])
    return float(sums.sum() / counts.sum()), float(low), float(high)


@dataclass
class ToyLoopResult:
    rows: list[dict]
    reward_model_accuracy: dict[str, float]
    data_stats: dict[str, int]
    config: dict
    seconds: dict[str, float] = field(default_factory=dict)

    def markdown(self) -> str:
        lines = [
            "| model | integrity aligned [95% CI] | temporal aligned [95% CI] | CLAP score |",
            "|---|---:|---:|---:|",
        ]
        for row in self.rows:
            cells = [row["model"]]
            for task in TASKS:
                rate, low, high = row[task]
                cells.append(f"{rate:.3f} [{low:.3f}, {high:.3f}]")
            cells.append(f"{row['clap_score']:.3f}")
            lines.append("| " + " | ".join(cells) + " |")
        accuracy = ", ".join(f"{task} {value:.3f}" for task, value in self.reward_model_accuracy.items())
        lines += ["", f"Reward model accuracy against the oracle on the reward-model half: {accuracy}."]
        return "\n".join(lines)


class ToyLoop:
    """Runs the stages in order, keeping each stage's output in ``output_dir`` and on the instance."""

    def __init__(self, config: ToyLoopConfig, output_dir: str | Path):
        self.config = config
        self.output_dir = Path(output_dir)
        self.output_dir.mkdir(parents=True, exist_ok=True)
        self.oracle = OracleAnnotator(seed=config.seed)  # the judge: never noisy
        self.seconds: dict[str, float] = {}

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
        args = _trainer_args(c, self.output_dir / "base-run", c.pretrain_steps, c.pretrain_learning_rate, 0.0)
        args.condition_dropout = 0.1
        trainer = RewardWeightedDiffusionTrainer(pipeline, args, train_dataset=rows)
        trainer.train()
        pipeline.save_pretrained(self.output_dir / "base")
        return pipeline

    def fit_clap(self):
        c = self.config
        pairs = toy_pretrain_dataset(c.clap_pairs, seed=c.seed + 2, duration_s=c.duration_s)
        self.clap, self.clap_extractor = train_toy_clap(pairs, steps=c.clap_steps, seed=c.seed)
        return self.clap

    # (1) ---------------------------------------------------------------------------------------
    def prompts(self) -> tuple[Dataset, Dataset]:
        c = self.config
        counts = {task: c.train_prompts[task] + c.eval_prompts[task] for task in TASKS}
        everything = build_toy_prompts(counts["integrity"], counts["temporal"], seed=c.seed)
        train, held_out = [], []
        for task in TASKS:
            indices = [i for i, t in enumerate(everything["task"]) if t == task]
            train += indices[: c.train_prompts[task]]
            held_out += indices[c.train_prompts[task] :]
        return everything.select(train), everything.select(held_out)

    def feedback_data(self, pipeline: TangoPipeline, train_prompts: Dataset) -> Dataset:
        """Clips from the base model; prompts alternate between the human half (labelled by a noisy,
        skipping oracle) and the reward-model half (left unlabelled for stage 2)."""
        c = self.config
        waveforms = generate(
            pipeline, list(train_prompts["prompt"]), c.clips_per_prompt, c, seed=c.seed + 100
        )
        person = OracleAnnotator(noise=c.annotator_noise, skip=c.annotator_skip, seed=c.seed + 7)
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
    def reward_rows(self, feedback: Dataset) -> tuple[Dataset, dict[str, float]]:
        """Train the reward model on the human rows, score the rest, and measure it there."""
        c = self.config
        config = BatonRewardConfig(clap_config=self.clap.config, head_hidden_sizes=[64])
        model = BatonRewardModel(config)
        model.clap.load_state_dict(self.clap.state_dict())
        model.set_processor(ClapProcessor(feature_extractor=self.clap_extractor, tokenizer=tiny_tokenizer()))
        training = RewardTrainingConfig(
            preset=None, num_epochs=c.reward_epochs, batch_size=32, learning_rate=3e-3, seed=c.seed
        )
        train_reward_model(model, feedback, training, cache_dir=self.output_dir / "reward-cache")
        model.save_pretrained(self.output_dir / "reward-model")
        unlabelled = [i for i, s in enumerate(feedback["source"]) if s == "unlabelled"]
        rows = feedback.select(unlabelled)
        scores = model.score(list(rows["prompt"]), [self.waveforms[i] for i in unlabelled], SAMPLING_RATE)
        tasks = feedback["task"]
        accuracy = {}
        for task in TASKS:
            picked = [k for k, i in enumerate(unlabelled) if tasks[i] == task]
            correct = [int(scores[k] >= 0.5) == self.truth[unlabelled[k]] for k in picked]
            accuracy[task] = float(np.mean(correct)) if correct else math.nan
        scored = rows.map(
            lambda _, k: {"source": "reward_model", "reward": float(scores[k]), "label": -1},
            with_indices=True,
            desc="reward rows",
        )
        return scored, accuracy

    # (3) ---------------------------------------------------------------------------------------
    def finetune(self, name: str, rows: Dataset, beta: float) -> TangoPipeline:
        c = self.config
        pipeline = TangoPipeline.from_pretrained(self.output_dir / "base")
        slug = name.replace(" ", "-").replace(",", "").replace("=", "").replace("+", "and")
        args = _trainer_args(c, self.output_dir / slug, c.finetune_steps, c.finetune_learning_rate, beta)
        pretrain = self.pretrain_pairs if beta > 0 else None
        trainer = RewardWeightedDiffusionTrainer(
            pipeline, args, train_dataset=rows, pretrain_dataset=pretrain
        )
        trainer.train()
        return pipeline

    # judging -----------------------------------------------------------------------------------
    def judge(self, name: str, pipeline: TangoPipeline, held_out: Dataset) -> dict:
        c = self.config
        prompts = list(held_out["prompt"])
        waveforms = generate(pipeline, prompts, c.eval_clips_per_prompt, c, seed=c.seed + 10_000)
        per_prompt: dict[str, list[list[bool]]] = {task: [] for task in TASKS}
        for p, row in enumerate(held_out):
            clips = waveforms[p * c.eval_clips_per_prompt : (p + 1) * c.eval_clips_per_prompt]
            per_prompt[row["task"]].append(
                [self.oracle.is_aligned(row["events"], row["task"], w) for w in clips]
            )
        result: dict[str, Any] = {"model": name}
        for task in TASKS:
            result[task] = bootstrap_interval(per_prompt[task], c.bootstrap_samples, c.seed)
        result["clap_score"] = self._clap_score(
            [p for p in prompts for _ in range(c.eval_clips_per_prompt)], waveforms
        )
        return result

    def _clap_score(self, prompts: list[str], waveforms: list[np.ndarray]) -> float:
        judge = ClapEmbedder(self.clap, tiny_tokenizer(), self.clap_extractor)
        return clap_score(judge.embed_texts(prompts), judge.embed_audios(waveforms, SAMPLING_RATE))

    # all ---------------------------------------------------------------------------------------
    def run(self) -> ToyLoopResult:
        import time

        def timed(stage: str, fn, *args):
            start = time.perf_counter()
            value = fn(*args)
            self.seconds[stage] = round(time.perf_counter() - start, 1)
            logger.info("%s: %.1f s", stage, self.seconds[stage])
            return value

        base = timed("0 pretrain", self.pretrain)
        timed("0 toy CLAP", self.fit_clap)
        train_prompts, held_out = self.prompts()
        feedback = timed("1 generate + label", self.feedback_data, base, train_prompts)
        reward_rows, accuracy = timed("2 reward model", self.reward_rows, feedback)
        human = feedback.filter(lambda row: row["source"] == "human" and row["label"] in (0, 1))
        everything = feedback.map(lambda _: {"source": "reward_model", "reward": 1.0, "label": -1})
        datasets = {
            "all_as_aligned": everything,
            "human": human,
            "reward_model": reward_rows,
            "both": _concatenate(human, reward_rows),
        }
        rows = [timed("judge base", self.judge, "base (pretrained only)", base, held_out)]
        for name, spec in CONDITIONS.items():
            tuned = timed(
                f"3 {name}",
                self.finetune,
                name,
                datasets[spec["rows"]],
                self.config.beta * spec["beta"],
            )
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
        return ToyLoopResult(rows, accuracy, stats, asdict(self.config), dict(self.seconds))


def _concatenate(first: Dataset, second: Dataset) -> Dataset:
    from datasets import concatenate_datasets

    return concatenate_datasets([first.cast(binary_features()), second.cast(binary_features())])


def save_result(result: ToyLoopResult, output_dir: str | Path) -> dict[str, Path]:
    """``toy_alignment.json``, ``toy_alignment.md`` and ``toy_alignment.png`` (rates with intervals)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    output_dir = Path(output_dir)
    paths = {k: output_dir / f"toy_alignment.{k}" for k in ("json", "md", "png")}
    paths["json"].write_text(json.dumps(asdict(result), indent=2) + "\n")
    paths["md"].write_text(result.markdown() + "\n")
    figure, axes = plt.subplots(1, 2, figsize=(12, 4.5), sharey=True)
    for axis, task in zip(axes, TASKS, strict=True):
        names = [row["model"] for row in result.rows]
        rates = np.array([row[task][0] for row in result.rows])
        errors = np.array(
            [[row[task][0] - row[task][1], row[task][2] - row[task][0]] for row in result.rows]
        ).T
        axis.barh(range(len(names)), rates, xerr=errors, color="#4c72b0", capsize=3)
        for position, (rate, high) in enumerate(zip(rates, rates + errors[1], strict=True)):
            axis.text(min(high + 0.02, 0.88), position, f"{rate:.2f}", va="center")
        axis.set_yticks(range(len(names)), names)
        axis.invert_yaxis()
        axis.set_xlim(0, 1)
        axis.set_xlabel("alignment rate (oracle), 95% bootstrap CI")
        axis.set_title(task)
    figure.suptitle("BATON in the toy sound world: held-out prompts")
    figure.tight_layout()
    figure.savefig(paths["png"], dpi=110)
    plt.close(figure)
    return paths

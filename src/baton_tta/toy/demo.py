"""The main job: BATON's four stages in the toy world, from the shipped pretrained toy TANGO, in about
two and a half minutes on two CPU cores — a short program over the public trainers and the toy
world's stages (:mod:`baton_tta.toy.stages`).

Stage 1 generates 5 clips for each training prompt and noisy oracle "annotators" label half the
prompts (5 % flipped, 5 % skipped); stage 2 trains the reward model on those labels and scores the
other half; stage 3 fine-tunes with the reward-weighted loss (Eq. 7, β = 0.5) on both; stage 4 judges
the model before and after on held-out prompts with the noiseless oracle and the toy CLAP, paired on
the same prompts and seeds. The lab's toy benchmark (``benchmarks/toy_alignment.py``) runs the same
stages at full size under every condition of the paper's tables.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import torch
from huggingface_hub import ModelCard

from baton_tta.hub.cards import with_evaluation
from baton_tta.toy.config import ToyLoopConfig
from baton_tta.toy.judge import ToyJudge
from baton_tta.toy.oracle import OracleAnnotator
from baton_tta.toy.pretrained import PRETRAINED_DIR, load_toy_clap, load_toy_tango
from baton_tta.toy.report import ToyLoopResult, save_result, slug
from baton_tta.toy.stages import (
    feedback_reward_model,
    feedback_stats,
    fine_tune_baton,
    human_rows,
    joined_rows,
    pretrain_pairs,
    reward_model_rows,
    simulated_feedback,
)
from baton_tta.toy.statistics import paired_differences
from baton_tta.toy.timing import StageClock
from baton_tta.toy.world import TASKS, toy_prompt_split
from baton_tta.trainer import RewardWeightedDiffusionTrainer

DEMO_CONDITION = "human + reward-model rows"
BASE = "base (pretrained only)"
PIPELINE_DIR = "baton-toy-tango"
TOY_WORLD_NOTICE = (
    "This is the toy world: ten synthetic sound events (tones, chirps, noise bursts) rendered into 1 s "
    "clips, judged by a rule-based oracle. It shows BATON's stages working end to end; it says nothing "
    "about real audio."
)


def demo_config(seed: int = 0, threads: int = 2) -> ToyLoopConfig:
    """The main job's sizes: 24 + 24 training prompts (240 feedback clips), 40 + 40 held-out prompts
    × 4 clips, 60 fine-tuning steps, from the shipped pretrained toy world."""
    return ToyLoopConfig(
        seed=seed,
        threads=threads,
        pretrained=str(PRETRAINED_DIR),
        pretrain_pairs=256,
        train_prompts={"integrity": 24, "temporal": 24},
        eval_prompts={"integrity": 40, "temporal": 40},
        eval_clips_per_prompt={"integrity": 4, "temporal": 4},
        finetune_steps=60,
    )


def smoke_demo_config(seed: int = 0) -> ToyLoopConfig:
    """Seconds-long sizes on one thread, on the demo's path (tests)."""
    return ToyLoopConfig(
        seed=seed,
        threads=1,
        pretrained=str(PRETRAINED_DIR),
        pretrain_pairs=16,
        batch_size=4,
        train_prompts={"integrity": 4, "temporal": 4},
        eval_prompts={"integrity": 2, "temporal": 2},
        clips_per_prompt=2,
        eval_clips_per_prompt={"integrity": 2, "temporal": 2},
        inference_steps=2,
        reward_epochs=2,
        finetune_steps=2,
        bootstrap_samples=50,
    )


def demo_metrics(result: ToyLoopResult) -> dict[str, float]:
    tuned = result.rows[-1]
    metrics = {f"{task} aligned (oracle)": tuned[task][0] for task in TASKS}
    return {**metrics, "CLAP score (toy CLAP)": tuned["clap_score"]}


def run_stages(config: ToyLoopConfig, work: Path) -> tuple[ToyLoopResult, RewardWeightedDiffusionTrainer]:
    """BATON's four stages, in order, each timed; every model judged on the same prompts and seeds."""
    c = config
    clock = StageClock()
    torch.set_num_threads(c.threads)  # the same thread count gives the same sums
    oracle = OracleAnnotator(seed=c.seed)  # the judge: never noisy

    def load():
        assert c.pretrained is not None
        pipeline = load_toy_tango(c.pretrained)
        pipeline.save_pretrained(work / "base")
        return pipeline, pretrain_pairs(c), *load_toy_clap(c.pretrained)

    base, pretrain, clap, extractor = clock("0 load pretrained toy world", load)
    train_prompts, held_out = toy_prompt_split(c.train_prompts, c.eval_prompts, c.seed, c.group_sizes)
    feedback = clock("1 generate + label", simulated_feedback, base, train_prompts, c, oracle)

    def reward_model_stage():
        model = feedback_reward_model(
            clap, extractor, feedback.dataset, c, work / "reward-cache", work / "reward-model"
        )
        return reward_model_rows(model, feedback)

    reward_rows, accuracy = clock("2 reward model", reward_model_stage)
    human = human_rows(feedback)
    judge = ToyJudge(c, oracle, clap, extractor)
    rows = [clock("judge base", judge, BASE, base, held_out)]
    trainer = clock(
        f"3 {DEMO_CONDITION}",
        fine_tune_baton,
        work / "base",
        joined_rows(human, reward_rows),
        c.beta,
        pretrain,
        c,
        work / slug(DEMO_CONDITION),
    )
    rows.append(clock(f"judge {DEMO_CONDITION}", judge, DEMO_CONDITION, trainer.pipeline, held_out))
    stats = feedback_stats(feedback, train_prompts, held_out, human, reward_rows)
    differences = paired_differences(rows[1:], {"base": rows[0]}, c.bootstrap_samples, c.seed)
    result = ToyLoopResult(rows, accuracy, stats, asdict(c), dict(clock.seconds), differences)
    return result, trainer


def run_demo(output_dir: str | Path, config: ToyLoopConfig | None = None) -> tuple[ToyLoopResult, Path]:
    """Run the stages, save the fine-tuned pipeline with a card that says what it is, and write the
    report (``toy_demo.md/.json/.png``). Returns the result and the pipeline folder."""
    config = config or demo_config()
    output_dir = Path(output_dir)
    result, trainer = run_stages(config, output_dir / "work")
    trainer.card_title = "BATON fine-tuned toy TANGO (toy world)"
    trainer.card_summary = (
        f"{TOY_WORLD_NOTICE} The pretrained toy TANGO fine-tuned with BATON's reward-weighted loss on "
        "clips labelled by simulated annotators and by a reward model trained on their labels."
    )
    pipeline_dir = trainer.save_pipeline(output_dir / PIPELINE_DIR)  # ships the vocoder's code too
    card = ModelCard.load(pipeline_dir / "README.md")
    card.data.tags = [*(card.data.tags or []), "toy-world"]
    with_evaluation(card, demo_metrics(result), "toy world held-out prompts", "toy-world").save(
        pipeline_dir / "README.md"
    )
    save_result(result, output_dir, stem="toy_demo")
    return result, pipeline_dir

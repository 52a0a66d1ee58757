"""The main job: BATON's four stages in the toy world, from the shipped pretrained toy TANGO, then the
objective the toy lab recommends for the same labels, in under three minutes on two CPU cores — a
short program over the public trainers and the toy world's stages (:mod:`baton_tta.toy.stages`).

Stage 1 generates 5 clips for each training prompt and noisy oracle "annotators" label half the
prompts (5 % flipped, 5 % skipped); stage 2 trains the reward model on those labels and scores the
other half; stage 3 fine-tunes with the reward-weighted loss (Eq. 7) on both — and, from the same
base on the same rows, with Diffusion-KTO; stage 4 judges every model on the same held-out prompts and
clip seeds with the noiseless oracle and the toy CLAP, with paired differences against the base. The
settings come from the toy lab (``benchmarks/toy/``): Eq. 7's from its dose map, KTO's from its
objectives comparison, both chosen on validation prompts, never on this judge.
"""

from __future__ import annotations

import shutil
from dataclasses import asdict
from pathlib import Path

from huggingface_hub import ModelCard

from baton_tta.data.lock import LOCK_FILE
from baton_tta.hub.cards import with_evaluation
from baton_tta.scoped import torch_threads
from baton_tta.toy.config import ToyLoopConfig
from baton_tta.toy.judge import ToyJudge
from baton_tta.toy.oracle import OracleAnnotator
from baton_tta.toy.pretrained import PRETRAINED_DIR, load_toy_clap, load_toy_tango
from baton_tta.toy.report import ToyLoopResult, save_result
from baton_tta.toy.stages import (
    feedback_reward_model,
    feedback_stats,
    fine_tune_baton,
    fine_tune_kto,
    human_rows,
    joined_rows,
    pretrain_pairs,
    reward_model_rows,
    simulated_feedback,
)
from baton_tta.toy.statistics import paired_differences
from baton_tta.toy.timing import StageClock
from baton_tta.toy.world import TASKS, toy_prompt_split
from baton_tta.trainer import DiffusionTrainer

BASE = "base (pretrained only)"
BATON_ROW = "BATON Eq. 7 (human + reward-model rows)"
KTO_ROW = "Diffusion-KTO (the same rows)"
#: each fine-tuned row's pipeline folder
PIPELINE_DIRS = {BATON_ROW: "baton-toy-tango", KTO_ROW: "kto-toy-tango"}
TOY_WORLD_NOTICE = (
    "This is the toy world: ten synthetic sound events (tones, chirps, noise bursts) rendered into 1 s "
    "clips, judged by a rule-based oracle. It shows BATON's stages working end to end; it says nothing "
    "about real audio."
)


def demo_config(seed: int = 0, threads: int = 2) -> ToyLoopConfig:
    """The main job's sizes, in the world where both tasks can move (integrity captions of 2–3
    events, temporal captions of 2 events in order: the objectives benchmark's): 30 + 30 training
    prompts × 5 clips, 80 integrity + 60 temporal held-out prompts × 2 clips, 60 fine-tuning steps.
    Eq. 7 runs at the dose map's best setting for people's labels plus reward-model rows (β 2,
    learning rate 3e-4); Diffusion-KTO at the objectives benchmark's (``kto_beta`` 300, 1e-4)."""
    return ToyLoopConfig(
        seed=seed,
        threads=threads,
        pretrained=str(PRETRAINED_DIR),
        pretrain_pairs=256,
        group_sizes={"integrity": (2, 3), "temporal": (2,)},
        train_prompts={"integrity": 30, "temporal": 30},
        eval_prompts={"integrity": 64, "temporal": 48},
        eval_clips_per_prompt={"integrity": 2, "temporal": 2},
        finetune_steps=60,
        finetune_learning_rate=3e-4,
        beta=2.0,
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


def prepare_demo_dir(output_dir: str | Path, overwrite: bool = False) -> None:
    """Refuse, before any work, a folder an earlier run wrote into (two runs never share one), or clear
    it when asked."""
    folder = Path(output_dir)
    if not folder.is_dir() or not any(p.name != LOCK_FILE for p in folder.iterdir()):
        return
    if not overwrite:
        raise SystemExit(
            f"{folder} holds an earlier run's files; choose another --output_dir, or pass "
            "--overwrite_output_dir true to clear it (make demo does)"
        )
    for entry in folder.iterdir():  # all but this run's own lock
        if entry.is_dir():
            shutil.rmtree(entry)
        elif entry.name != LOCK_FILE:
            entry.unlink()


def demo_metrics(row: dict) -> dict[str, float]:
    """One judged row as the card's evaluation results."""
    metrics = {f"{task} aligned (oracle)": row[task][0] for task in TASKS}
    return {**metrics, "CLAP score (toy CLAP)": row["clap_score"]}


def verdicts(result: ToyLoopResult) -> list[str]:
    """What each fine-tuned row's paired differences say, per task: beats the base (interval above
    zero), below it (interval below zero) or level (interval across zero)."""
    lines = []
    for row in result.differences:
        parts = []
        for task in TASKS:
            diff, low, high = row[f"{task} - base"]
            verdict = "beats the base" if low > 0 else "below the base" if high < 0 else "level with the base"
            parts.append(f"{task} {verdict} ({100 * diff:+.1f} points [{100 * low:+.1f}, {100 * high:+.1f}])")
        lines.append(f"{row['model']}: " + "; ".join(parts))
    return lines


def run_stages(config: ToyLoopConfig, work: Path) -> tuple[ToyLoopResult, dict[str, DiffusionTrainer]]:
    """BATON's four stages, in order, each timed, then Diffusion-KTO on the same rows; every model
    judged on the same held-out prompts and clip seeds."""
    with torch_threads(config.threads):  # the same thread count gives the same sums
        return _stages(config, work)


def _stages(c: ToyLoopConfig, work: Path) -> tuple[ToyLoopResult, dict[str, DiffusionTrainer]]:
    clock = StageClock()
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
    rows_both = joined_rows(human, reward_rows)
    judge = ToyJudge(c, oracle, clap, extractor)
    rows = [clock("judge base", judge, BASE, base, held_out)]
    trainers = {
        BATON_ROW: clock(
            "3 BATON Eq. 7", fine_tune_baton, work / "base", rows_both, c.beta, pretrain, c, work / "baton"
        ),
        KTO_ROW: clock("3 Diffusion-KTO", fine_tune_kto, work / "base", rows_both, c, work / "kto"),
    }
    for name, trainer in trainers.items():
        rows.append(clock(f"judge {name}", judge, name, trainer.pipeline, held_out))
    stats = feedback_stats(feedback, train_prompts, held_out, human, reward_rows)
    differences = paired_differences(rows[1:], {"base": rows[0]}, c.bootstrap_samples, c.seed)
    result = ToyLoopResult(rows, accuracy, stats, asdict(c), dict(clock.seconds), differences)
    return result, trainers


CARD_SUMMARIES = {
    BATON_ROW: "BATON's reward-weighted loss (paper Eq. 7)",
    KTO_ROW: "Diffusion-KTO (aligned clips desirable, not-aligned undesirable)",
}


def run_demo(
    output_dir: str | Path, config: ToyLoopConfig | None = None
) -> tuple[ToyLoopResult, dict[str, Path]]:
    """Run the stages, save each fine-tuned pipeline with a card that says what it is, and write the
    report (``toy_demo.md/.json/.png``). Returns the result and the pipeline folders by row."""
    config = config or demo_config()
    output_dir = Path(output_dir)
    result, trainers = run_stages(config, output_dir / "work")
    judged = {row["model"]: row for row in result.rows}
    folders = {}
    for name, trainer in trainers.items():
        trainer.card_title = f"{name}: fine-tuned toy TANGO (toy world)"
        trainer.card_summary = (
            f"{TOY_WORLD_NOTICE} The pretrained toy TANGO fine-tuned with {CARD_SUMMARIES[name]} on clips "
            "labelled by simulated annotators and by a reward model trained on their labels."
        )
        folder = trainer.save_pipeline(output_dir / PIPELINE_DIRS[name])  # ships the vocoder's code too
        card = ModelCard.load(folder / "README.md")
        card.data.tags = [*(card.data.tags or []), "toy-world"]
        with_evaluation(card, demo_metrics(judged[name]), "toy world held-out prompts", "toy-world").save(
            folder / "README.md"
        )
        folders[name] = folder
    save_result(result, output_dir, stem="toy_demo")
    return result, folders

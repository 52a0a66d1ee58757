"""The main job: BATON's four stages in the toy world, from the shipped pretrained toy TANGO, in about
two and a half minutes on two CPU cores.

Stage 1 generates 5 clips for each training prompt and noisy oracle "annotators" label half the
prompts (5 % flipped, 5 % skipped); stage 2 trains the reward model on those labels and scores the
other half; stage 3 fine-tunes with the reward-weighted loss (Eq. 7, β = 0.5) on both; stage 4 judges
the model before and after on held-out prompts with the noiseless oracle and the toy CLAP. The same
:class:`~baton_tta.toy.loop.ToyLoop` as ``benchmarks/toy_alignment.py``, at a size that fits the
budget, so its intervals are wider than the benchmark's (about ±8 points).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from huggingface_hub import ModelCard

from baton_tta.hub.cards import with_evaluation
from baton_tta.toy.config import ToyLoopConfig
from baton_tta.toy.loop import ToyLoop
from baton_tta.toy.pretrained import PRETRAINED_DIR
from baton_tta.toy.report import ToyLoopResult, save_result
from baton_tta.toy.world import TASKS

DEMO_CONDITION = "human + reward-model rows"
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
        reward_curve_points=0,
        round_trip_clips=0,
        conditions=(DEMO_CONDITION,),
    )


def smoke_demo_config(seed: int = 0) -> ToyLoopConfig:
    """Seconds-long: the loop's smoke sizes on the demo's path (tests)."""
    demo = demo_config(seed)
    return replace(
        ToyLoopConfig.smoke(),
        seed=seed,
        pretrained=demo.pretrained,
        eval_prompts={"integrity": 2, "temporal": 2},
        reward_curve_points=0,
        round_trip_clips=0,
        conditions=demo.conditions,
    )


def demo_metrics(result: ToyLoopResult) -> dict[str, float]:
    tuned = result.rows[-1]
    metrics = {f"{task} aligned (oracle)": tuned[task][0] for task in TASKS}
    return {**metrics, "CLAP score (toy CLAP)": tuned["clap_score"]}


def run_demo(output_dir: str | Path, config: ToyLoopConfig | None = None) -> tuple[ToyLoopResult, Path]:
    """Run the loop, save the fine-tuned pipeline with a card that says what it is, and write the
    report (``toy_demo.md/.json/.png``). Returns the result and the pipeline folder."""
    config = config or demo_config()
    output_dir = Path(output_dir)
    loop = ToyLoop(config, output_dir / "work")
    result = loop.run()
    trainer = loop.trainers[config.conditions[0] if config.conditions else DEMO_CONDITION]
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

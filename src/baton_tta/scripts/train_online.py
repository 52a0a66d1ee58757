"""``baton-tta train-online``: rounds of generate → score → fine-tune → judge from one command,
resumable at any point (rerun the same command after a kill).

    python trainers/train_online.py --config recipes/online_toy.yaml
    accelerate launch trainers/train_online.py --config your_online.yaml --push_to_hub --hub_model_id you/baton-online

``toy`` names the toy world's pieces (offline): prompts split from the toy prompt space, a reward
model on the shipped toy CLAP trained on simulated annotators' labels, the toy pretrain pairs, and the
noiseless oracle and toy CLAP score as judges. Otherwise give datasets, a reward-model folder or Hub
id, and a CLAP checkpoint for the held-out CLAP-score judge.

With ``--feedback_clips_per_round N`` each round stops after generating, until people have labelled a
sample of N of its clips (the command prints the annotate and export commands; exit status 75); rerun
the same command to retrain the reward model on the labels and go on. ``--simulated_feedback`` lets
the toy world's simulated people label instead.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from datasets import Dataset

from baton_tta.clap import ClapEmbedder
from baton_tta.data.loading import load_raw
from baton_tta.hub.cards import rounds_table
from baton_tta.online import ClapScoreJudge, OnlineConfig, OnlineRunner
from baton_tta.online.feedback import FeedbackPending, Labeller
from baton_tta.online.judges import ScorerJudge
from baton_tta.online.runner import Judge, Scorer
from baton_tta.reward import BatonRewardModel
from baton_tta.reward.training import RewardTrainingConfig
from baton_tta.scripts.builtin import TOY, named_scorer, resolve_pipeline, resolve_pretrain_data
from baton_tta.scripts.utils import command, parse

#: Exit status of a run that stopped to wait for people's labels (EX_TEMPFAIL: try again later).
EXIT_WAITING_FOR_LABELS = 75


@dataclass
class OnlineScriptArguments:
    pipeline_name_or_path: str = field(
        default="toy-tango",
        metadata={"help": "Starting pipeline of any supported family: folder, Hub id, 'toy-tango'."},
    )
    reward_model_name_or_path: str = field(
        default=TOY,
        metadata={"help": "BatonRewardModel folder or Hub id, or 'toy' (trained on the toy CLAP)."},
    )
    prompts_name: str = field(
        default=TOY, metadata={"help": "Training prompts (dataset with 'prompt'), or 'toy'."}
    )
    eval_prompts_name: str = field(
        default=TOY, metadata={"help": "Held-out prompts for the judges, or 'toy'."}
    )
    pretrain_dataset_name: str | None = field(
        default=TOY, metadata={"help": "prompt/audio rows for the beta term, 'toy', or none with beta 0."}
    )
    judge_scorers: list[str] = field(
        default_factory=list,
        metadata={
            "help": "More held-out judges: scorers by kind:source (judge:MODEL, aesthetics:PQ, …); each "
            "reports its mean under its name, which judge_metric may watch."
        },
    )
    judge_clap_model: str = field(
        default=TOY, metadata={"help": "CLAP checkpoint of the CLAP-score judge, or 'toy' (the toy CLAP)."}
    )
    toy_prompts_per_task: int = field(default=12, metadata={"help": "Toy training prompts per task."})
    toy_eval_prompts_per_task: int = field(default=20, metadata={"help": "Toy held-out prompts per task."})
    pretrain_rows: int = field(default=256, metadata={"help": "Rows of the built-in pretrain data."})
    toy_reward_prompts: int = field(
        default=48, metadata={"help": "Rendered prompts (× 4 clips) that train the 'toy' reward model."}
    )
    reward_labels_name: str | None = field(
        default=None,
        metadata={
            "help": "Labelled dataset the reward model was trained on; with feedback, retraining uses it and "
            "every round's labels ('toy' reward model: its rendered labels)."
        },
    )
    feedback_reward_preset: str | None = field(
        default="paper",
        metadata={"help": "Reward-model retraining settings with feedback: 'paper', 'official' or None."},
    )
    simulated_feedback: bool = field(
        default=False,
        metadata={"help": "The toy world's simulated people label each round's feedback sample (toy only)."},
    )

    def __post_init__(self):
        if self.simulated_feedback and self.reward_model_name_or_path != TOY:
            raise ValueError("--simulated_feedback labels toy clips: it needs the 'toy' reward model")


def _prompts(name: str, script: OnlineScriptArguments, args: OnlineConfig) -> tuple[Dataset, Dataset]:
    from baton_tta.toy.world import toy_prompt_split

    train, held_out = toy_prompt_split(
        script.toy_prompts_per_task, script.toy_eval_prompts_per_task, args.seed
    )
    if name != TOY:
        train = load_raw(name)
    if script.eval_prompts_name != TOY:
        held_out = load_raw(script.eval_prompts_name)
    return train, held_out


def build_runner(script: OnlineScriptArguments, args: OnlineConfig) -> OnlineRunner:
    """The runner the arguments describe (built-in toy pieces where they name 'toy')."""
    train, held_out = _prompts(script.prompts_name, script, args)
    judges: dict[str, Judge] = {}
    reward: Scorer
    labels = load_raw(script.reward_labels_name) if script.reward_labels_name else None
    training = RewardTrainingConfig(preset=script.feedback_reward_preset, seed=args.seed)
    labeller: Labeller | None = None
    if TOY in (script.reward_model_name_or_path, script.judge_clap_model) or script.eval_prompts_name == TOY:
        from baton_tta.tiny import tiny_tokenizer
        from baton_tta.toy.online import (
            BUILTIN_REWARD_EPOCHS,
            OracleJudge,
            SimulatedFeedback,
            builtin_reward_model,
            toy_reward_training,
        )
        from baton_tta.toy.pretrained import load_toy_clap

        clap, extractor = load_toy_clap()
        if script.eval_prompts_name == TOY:
            judges["oracle"] = OracleJudge()
        if script.judge_clap_model == TOY:
            judges["clap"] = ClapScoreJudge(ClapEmbedder(clap, tiny_tokenizer(), extractor))
        if script.reward_model_name_or_path == TOY:
            cache = Path(args.output_dir) / "reward-cache"
            reward, labels = builtin_reward_model(script.toy_reward_prompts, args.seed, cache)
            training = toy_reward_training(BUILTIN_REWARD_EPOCHS, args.seed)
            if script.simulated_feedback:
                labeller = SimulatedFeedback(args.seed)
    if script.reward_model_name_or_path != TOY:
        reward = BatonRewardModel.from_pretrained(script.reward_model_name_or_path)
    if script.judge_clap_model != TOY:
        judges["clap"] = ClapScoreJudge(ClapEmbedder.from_pretrained(script.judge_clap_model))
    for spec in script.judge_scorers:
        scorer = named_scorer(spec)
        judges[scorer.name] = ScorerJudge(scorer)
    pretrain = None
    if script.pretrain_dataset_name:
        data = resolve_pretrain_data(
            script.pretrain_dataset_name, script.pretrain_rows, args.clip_seconds, args.seed
        )
        pretrain = load_raw(data) if isinstance(data, str) else data
    pipeline = resolve_pipeline(script.pipeline_name_or_path, args.seed)
    return OnlineRunner(
        pipeline,
        reward,
        args,
        train,
        held_out,
        pretrain,
        judges,
        reward_labels=labels,
        reward_training=training,
        labeller=labeller,
    )


@command
def main(argv: Sequence[str] | None = None) -> None:
    script, args = parse((OnlineScriptArguments, OnlineConfig), argv)
    try:
        history = build_runner(script, args).run()
    except FeedbackPending as pending:
        print(pending, file=sys.stderr)
        sys.exit(EXIT_WAITING_FOR_LABELS)
    print(rounds_table(history))
    print(f"rounds, plot and card in {Path(args.output_dir).resolve()}")


if __name__ == "__main__":
    main()

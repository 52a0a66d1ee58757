"""The objective registry: every built-in by name, and an objective registered from outside the package
(this module) runs in online rounds from the command line without any other file changing."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import ClassVar

import pytest

from baton_tta.trainer import (
    DiffusionCRPOTrainer,
    DiffusionDPOTrainer,
    DiffusionGRPOTrainer,
    DiffusionKTOTrainer,
    RewardWeightedDiffusionConfig,
    RewardWeightedDiffusionTrainer,
)
from baton_tta.trainer.objectives import OBJECTIVES, Objective, objective_named, register_objective
from test_online import TINY


def test_every_builtin_objective_is_registered_with_its_config_trainer_and_rows():
    expected = {
        "baton": (RewardWeightedDiffusionTrainer, "rewards"),
        "kto": (DiffusionKTOTrainer, "rewards"),
        "dpo": (DiffusionDPOTrainer, "pairs"),
        "crpo": (DiffusionCRPOTrainer, "pairs"),
        "grpo": (DiffusionGRPOTrainer, "prompts"),
    }
    assert {name: (o.trainer_class, o.rows) for name, o in OBJECTIVES.items()} == expected
    for objective in OBJECTIVES.values():  # each trainer's own config class, TRL style
        assert objective.trainer_class.__module__.endswith(f"{objective.name}_trainer")
        assert objective.config_class.__module__.endswith(f"{objective.name}_config")


def test_an_unknown_objective_is_refused_naming_the_registered_ones(tmp_path):
    from baton_tta.online import OnlineConfig

    with pytest.raises(ValueError, match="unknown objective 'ppo'; registered: baton, crpo, dpo, grpo, kto"):
        OnlineConfig(output_dir=str(tmp_path), use_cpu=True, objective="ppo")
    with pytest.raises(ValueError, match="rows must be one of"):
        Objective("odd", RewardWeightedDiffusionConfig, RewardWeightedDiffusionTrainer, "triples", "")


@dataclass
class HalvedRewardConfig(RewardWeightedDiffusionConfig):
    reward_scale: float = field(default=0.5, metadata={"help": "Factor on every row's reward."})


class HalvedRewardTrainer(RewardWeightedDiffusionTrainer):
    """BATON's loss on rewards scaled by ``reward_scale``: an objective that exists only in this test."""

    batches: ClassVar[list[list[float]]] = []

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        inputs = {**inputs, "rewards": inputs["rewards"] * self.args.reward_scale}
        HalvedRewardTrainer.batches.append(inputs["rewards"].tolist())
        return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)


def test_an_objective_registered_outside_the_package_runs_online_rounds_with_its_own_config(
    tmp_path, monkeypatch
):
    from baton_tta.scripts import train_online

    monkeypatch.setattr("baton_tta.trainer.objectives.OBJECTIVES", dict(OBJECTIVES))  # undone after
    register_objective(
        Objective("halved", HalvedRewardConfig, HalvedRewardTrainer, "rewards", "rewards halved")
    )
    for variable, value in (("OMP_NUM_THREADS", "1"), ("TQDM_DISABLE", "1")):
        monkeypatch.setenv(variable, value)
    output = tmp_path / "run"
    own = ["--objective_args", '{"reward_scale": 0.25}']  # its own config's field, from the command line
    train_online.main(
        [*TINY, "--objective", "halved", *own, "--num_rounds", "1", "--output_dir", str(output)]
    )
    summary = json.loads((output / "summary.json").read_text())
    assert summary["objective"] == "halved" and len(summary["rounds"]) == 2
    scores = json.loads((output / "round-1" / "scores.json").read_text())
    trained = [r for batch in HalvedRewardTrainer.batches for r in batch]
    assert trained and max(trained) <= 0.25 * max(scores) + 1e-6  # its own loss ran, with its own setting
    assert (output / "round-1" / "pipeline" / "model_index.json").is_file()
    assert objective_named("halved").trainer_class is HalvedRewardTrainer


@pytest.mark.parametrize("name", ["kto", "crpo"])
def test_registered_builtins_beyond_the_first_three_run_online_rounds(tmp_path, monkeypatch, name):
    """Registration alone made Diffusion-KTO and CRPO objectives of online rounds (the runner never names one)."""
    from datasets import load_from_disk

    from baton_tta.scripts import train_online

    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    output = tmp_path / name
    extra = ["--min_reward_margin", "0.0"] if name == "crpo" else []
    train_online.main([*TINY, "--objective", name, "--num_rounds", "1", "--output_dir", str(output), *extra])
    data = load_from_disk(str(output / "round-1" / "data"))
    expected = {"chosen", "rejected"} if name == "crpo" else {"reward", "source"}
    assert expected <= set(data.column_names)
    assert json.loads((output / "summary.json").read_text())["objective"] == name

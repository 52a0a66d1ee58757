"""The GPU path run on a CPU the way a GPU would run it: the frozen components are parked after
caching with the tripwire armed (:mod:`baton_tta.trainer.parking`), so a call into a parked
component fails here exactly where it would crash on CUDA with a device mismatch.

Every objective × every family trains two steps with the configs' own ``condition_dropout`` default
(0.1: the empty caption is needed inside the step), within the host-read budget
(``test_host_reads.py``), then saves, and the saved pipeline reloads with the trained denoiser's
weights. The three switches that change which components run where — cached
features, LoRA, validation — are spread over the families so that each objective and each family
meets both values of each (checked below); 19 runs in all (GRPO cannot train Stable Audio Open).
Online rounds fine-tune through these same trainers (their runner is tested in ``test_online.py``).
"""

from __future__ import annotations

import itertools

import pytest
import torch
from datasets import Dataset
from diffusers import DiffusionPipeline

from baton_tta.families import family_of
from baton_tta.tiny import TINY_PIPELINES, tiny_pipeline
from baton_tta.toy.tones import tone_preference_dataset, tone_pretrain_dataset
from baton_tta.trainer import (
    DiffusionCRPOConfig,
    DiffusionCRPOTrainer,
    DiffusionDPOConfig,
    DiffusionDPOTrainer,
    DiffusionGRPOConfig,
    DiffusionGRPOTrainer,
    DiffusionKTOConfig,
    DiffusionKTOTrainer,
    RewardWeightedDiffusionConfig,
    RewardWeightedDiffusionTrainer,
)
from test_trainer import _pairwise

FAMILIES = sorted(TINY_PIPELINES)
OBJECTIVES = ["baton", "kto", "dpo", "crpo", "grpo"]


class Loudness:
    def score(self, prompts, audios, sampling_rate):
        return [float(abs(a).mean()) for a in audios]


def switches(objective: str, family: str) -> tuple[bool, bool, bool]:
    """(cached features, LoRA, validation) of one run: a covering spread, not all 8 combinations."""
    o, f = OBJECTIVES.index(objective), FAMILIES.index(family)
    return (o + f) % 2 == 0, (o + f // 2) % 2 == 0, (o // 2 + f // 2 + f) % 2 == 0


RUNS = [
    (o, f)
    for o, f in itertools.product(OBJECTIVES, FAMILIES)
    if not (o == "grpo" and f == "StableAudioPipeline")
]


def test_the_spread_meets_both_values_of_every_switch_per_objective_and_per_family():
    for key in (0, 1):
        groups: dict[str, list[tuple[bool, bool, bool]]] = {}
        for run in RUNS:
            groups.setdefault(run[key], []).append(switches(*run))
        for name, seen in groups.items():
            for switch in range(3):
                if name == "grpo" and switch == 0:
                    continue  # GRPO samples every step: it caches nothing
                assert {s[switch] for s in seen} == {True, False}, (name, switch)


def _trainer(objective: str, family: str, tmp_path):
    cached, lora, validation = switches(objective, family)
    common = {
        "output_dir": str(tmp_path / "out"),
        "audio_length_s": 1.0,
        "per_device_train_batch_size": 2,
        "max_steps": 2,
        "learning_rate": 1e-3,
        "report_to": [],
        "save_strategy": "no",
        "use_cpu": True,
        "use_lora": lora,
        "validation_prompts": ["a dog barks"] if validation else [],
        "validation_every_n_steps": 1 if validation else 0,
        "validation_inference_steps": 2,
    }
    pipeline = tiny_pipeline(family)
    if objective == "grpo":
        args = DiffusionGRPOConfig(
            **common, num_inference_steps=3, num_generations=2, disable_tqdm=True, dataloader_pin_memory=False
        )
        prompts = Dataset.from_dict({"prompt": ["a dog barks", "rain on a roof"]})
        return DiffusionGRPOTrainer(pipeline, args, train_dataset=prompts, reward_funcs=Loudness())
    common["cache_latents"] = cached
    if objective == "baton":
        args = RewardWeightedDiffusionConfig(**common)
        preference, pretrain = tone_preference_dataset(2, seconds=1.0), tone_pretrain_dataset(2, seconds=1.0)
        return RewardWeightedDiffusionTrainer(pipeline, args, preference, pretrain)
    if objective == "kto":
        args = DiffusionKTOConfig(**common, human_to_reward_ratio=None)
        return DiffusionKTOTrainer(pipeline, args, tone_preference_dataset(4, seconds=1.0))
    config, trainer = {
        "dpo": (DiffusionDPOConfig, DiffusionDPOTrainer),
        "crpo": (DiffusionCRPOConfig, DiffusionCRPOTrainer),
    }[objective]
    return trainer(pipeline, config(**common), _pairwise(2))


@pytest.mark.parametrize(("objective", "family"), RUNS)
def test_every_objective_trains_every_family_with_parked_components_then_saves_and_reloads(
    objective, family, tmp_path
):
    from baton_tta.estimate.host_reads import CountPerStep
    from test_host_reads import GRPO_ROLLOUT_READS

    trainer = _trainer(objective, family, tmp_path)
    counting = CountPerStep(libraries=trainer.family.frozen_components())
    trainer.add_callback(counting)
    cached = switches(objective, family)[0]
    if objective != "grpo":  # the offline configs' default: the null conditioning is used in the step
        assert trainer.args.condition_dropout > 0
    parks = cached and objective != "grpo"
    assert (trainer.parking.parked_on is not None) == parks
    trainer.train()
    assert trainer.state.global_step == 2
    assert trainer.parking.parked_on is None  # whole again after training
    # the host-read budget (tests/test_host_reads.py): one read per step, the gradient norm
    expected = GRPO_ROLLOUT_READS[family] if objective == "grpo" else 1
    assert [sum(step.values()) for step in counting.steps] == [expected] * 2, counting.steps
    if parks:  # the frozen encoders do not run inside a cached step, so they read nothing there
        assert counting.library_steps == [{}, {}]
    folder = trainer.save_pipeline(tmp_path / "saved")
    reloaded = DiffusionPipeline.from_pretrained(folder, trust_remote_code=family == "TangoPipeline")
    assert type(reloaded).__name__ == family
    untrained = family_of(tiny_pipeline(family)).denoiser.state_dict()
    saved = family_of(reloaded).denoiser.state_dict()
    assert saved.keys() == untrained.keys()  # LoRA merged into plain weights
    assert any(not torch.equal(saved[k], untrained[k]) for k in saved), "the saved denoiser is the base"


class ModuleScorer(torch.nn.Module):
    """A scorer that is a module (as a reward model is), recording where it is sent."""

    def __init__(self) -> None:
        super().__init__()
        self.sent_to: list[torch.device] = []

    def to(self, *args, **kwargs):
        self.sent_to.append(torch.device(args[0] if args else kwargs["device"]))
        return super().to(*args, **kwargs)

    def score(self, prompts, audios, sampling_rate):
        return [0.5] * len(audios)


def test_reward_models_score_on_the_training_device(tmp_path):
    """GRPO's rollouts and BATON's unscored rows and validation clips are scored where training runs
    (they stayed on the CPU: every rollout scored there on a GPU machine)."""
    grpo = _trainer("grpo", "TangoPipeline", tmp_path / "grpo")
    scorer = ModuleScorer()
    DiffusionGRPOTrainer(grpo.pipeline, grpo.args, train_dataset=Dataset.from_dict({"prompt": ["a"]}),
                         reward_funcs=[scorer])  # fmt: skip
    assert scorer.sent_to == [torch.device(grpo.args.device)]
    baton = _trainer("baton", "TangoPipeline", tmp_path / "baton")
    scorer = ModuleScorer()
    preference, pretrain = tone_preference_dataset(2, seconds=1.0), tone_pretrain_dataset(2, seconds=1.0)
    RewardWeightedDiffusionTrainer(baton.pipeline, baton.args, preference, pretrain, reward_model=scorer)
    assert scorer.sent_to == [torch.device(baton.args.device)]

"""The lab's settings on top of a toy run's (:class:`baton_tta.toy.config.ToyLoopConfig`): stage 3's
conditions (paper Tables 5–7), the reward-accuracy curve, the vocoder round trip, Diffusion-DPO's
settings, and the seconds-long :meth:`ToyLabConfig.smoke` sizes the lab's tests use."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from baton_tta.toy.config import ToyLoopConfig
from baton_tta.toy.demo import smoke_demo_config


@dataclass
class ToyLabConfig(ToyLoopConfig):
    """A toy run with the comparison's own settings."""

    round_trip_clips: int = 64
    round_trip_iterations: tuple[int, ...] = (32, 128)
    #: Diffusion-DPO's β: Tango 2 pairs β = 2000 with a learning rate of about 1e-6; 10 keeps their
    #: product at the toy learning rate.
    dpo_beta: float = 10.0
    #: Reward-model score gap below which a prompt's best and worst clip make no pair.
    dpo_min_margin: float = 0.1
    reward_curve_points: int = 4
    #: Stage 3's conditions to run (names of CONDITIONS); all of them when None.
    conditions: tuple[str, ...] | None = None

    @classmethod
    def smoke(cls) -> ToyLabConfig:
        """The main job's seconds-long sizes (one thread: tests run two at a time on two cores, and two
        processes of two threads each made these runs ten times slower), with stage 0 trained from
        scratch at seconds-long sizes too and one held-out prompt per task."""
        demo = smoke_demo_config()
        settings = {f.name: getattr(demo, f.name) for f in fields(demo)}
        settings.update(
            pretrained=None,
            vae_clips=16,
            vae_steps=2,
            clap_pairs=16,
            clap_steps=2,
            pretrain_steps=2,
            eval_prompts={"integrity": 1, "temporal": 1},
        )
        return cls(
            **settings,
            round_trip_clips=2,
            round_trip_iterations=(2,),
            dpo_min_margin=0.0,  # the smoke reward model barely separates clips
        )


#: Stage 3's conditions: which rows train, and β (paper Tables 5–7); the last is Tango 2's route,
#: Diffusion-DPO on pairs the reward model ranked, from the same clips. "pretrain term only" weighs
#: every generated clip 0, so only the β term trains: it splits the control's change into what the
#: fine-tune itself does and what training on the model's own clips does.
CONDITIONS: dict[str, dict[str, Any]] = {
    "no feedback (control)": {"rows": "all_as_aligned", "beta": True},
    "pretrain term only (clips weighted 0)": {"rows": "all_as_misaligned", "beta": True},
    "human rows": {"rows": "human", "beta": True},
    "reward-model rows": {"rows": "reward_model", "beta": True},
    "human + reward-model rows": {"rows": "both", "beta": True},
    "human + reward-model rows, beta = 0": {"rows": "both", "beta": False},
    "oracle labels (upper bound)": {"rows": "oracle", "beta": True},
    "Diffusion-DPO, reward-model-ranked pairs": {"rows": "dpo_pairs", "objective": "dpo"},
}

"""The host-read budget: how often a step makes the host wait for the device, counted on the CPU
(:class:`host_reads.HostReadCounter`, an upper bound of a GPU run's) and held here.

- every offline objective (BATON, KTO, DPO, CRPO) × every family: **1** read per training step — the
  gradient norm, which the finite-step guard and the logged ``grad_norm`` share (held on the runs of
  ``test_device_faithful.py``, which count with :class:`CountPerStep`);
- GRPO: **1** per update that reuses its rollouts; an update that rolls out adds the rollout's reads
  (:data:`GRPO_ROLLOUT_READS`);
- sampling: the project's generation loop adds **no** read to the pipeline's own call but one copy of
  the batch's clips to the host.
"""

from __future__ import annotations

import pytest
import torch

from baton_tta.data.generation import render_clips
from baton_tta.estimate.host_reads import CountPerStep, HostReadCounter
from baton_tta.tiny import tiny_pipeline
from test_device_faithful import FAMILIES, _trainer

#: an update that samples its rollouts, read by read on the CPU (a GPU run reads at most this). Device
#: reads on a GPU (4): the grad norm; the recorded timesteps and the σ > 0 mask, once per rollout each;
#: the clips copied to the host for the scorers. Host data on a GPU too (5): the prompt positions, and
#: the scores (``rewards_seen``, the three reward metrics; they are checked finite as numbers, before
#: they become a tensor: :func:`baton_tta.data.audio.score_as_heard`). Stable Audio 3's flow
#: scheduler adds diffusers' own (``index_for_timestep``, ``logsnr_sigma_schedule``, its init).
GRPO_ROLLOUT_READS = {"AudioLDM2Pipeline": 9, "TangoPipeline": 9, "StableAudio3Pipeline": 13}


def test_the_counter_counts_each_kind_of_read_and_nothing_else():
    x = torch.randn(6)
    with HostReadCounter() as reads:
        x.sum().item()
        float(x.max())
        bool((x > 0).any())
        x[x > 0]
        x.tolist()
        x.cpu()
        x.numpy()  # needs a CPU tensor already: never a device read
        torch.nonzero(x)
        (x * 2 + 1).exp().sum(0)  # arithmetic: no read
    assert dict(reads.counts) == {
        "_local_scalar_dense": 3,
        "boolean index": 1,
        "tolist": 1,
        "cpu": 1,
        "nonzero": 1,
    }
    with HostReadCounter(count_cpu_copies=False) as reads:
        x.cpu(), x.tolist()
    assert reads.total == 0


def test_reads_inside_a_library_module_are_counted_as_its_own():
    """A frozen encoder's own reads (transformers' mask checks) are kept apart from the caller's, and
    the hooks that tell them apart are gone after the block."""

    class Checks(torch.nn.Module):
        def forward(self, x):
            return x * bool(x.all())

    library, x = Checks(), torch.ones(3)
    with HostReadCounter(libraries=[library]) as reads:
        library(x)
        x.sum().item()
    assert dict(reads.counts) == {"_local_scalar_dense": 1}
    assert dict(reads.library_counts) == {"_local_scalar_dense": 1}
    assert not library._forward_pre_hooks and not library._forward_hooks
    assert torch.Tensor.cpu is not None and "counted" not in torch.Tensor.cpu.__name__  # put back


def test_a_grpo_update_reads_once_and_its_rollout_stays_within_budget(tmp_path):
    """Every offline objective × family is held to its one read per step in
    ``test_device_faithful.py`` (the same runs, counted); GRPO's rollouts are counted there too."""
    trainer = _trainer("grpo", "TangoPipeline", tmp_path)
    trainer.args.num_iterations, trainer.args.max_steps = 2, 4
    counting = CountPerStep()
    trainer.add_callback(counting)
    trainer.train()
    rolled_out, reused = counting.steps[0::2], counting.steps[1::2]
    assert reused == [{"_local_scalar_dense": 1}] * 2, reused
    assert [sum(step.values()) for step in rolled_out] == [GRPO_ROLLOUT_READS["TangoPipeline"]] * 2


@pytest.mark.parametrize("family", FAMILIES)
def test_the_generation_loop_adds_only_the_clips_copy_to_the_pipelines_own_reads(family):
    pipeline = tiny_pipeline(family)
    pipeline.set_progress_bar_config(disable=True)
    settings = {"num_inference_steps": 3, "guidance_scale": 2.0}
    generators = [torch.Generator().manual_seed(s) for s in (1, 2)]
    from baton_tta.families import family_of

    with HostReadCounter() as own, torch.inference_mode():
        pipeline(
            ["a dog barks", "rain"],
            generator=generators,
            output_type="pt",
            **settings,
            **family_of(pipeline).generation_kwargs(1.0),
        )
    with HostReadCounter() as ours:
        list(
            render_clips(
                pipeline,
                ["a dog barks", "rain"],
                [[1], [2]],
                audio_length_in_s=1.0,
                progress=False,
                **settings,
            )
        )
    assert ours.total - own.total <= 1, (dict(own.counts), dict(ours.counts))

"""``baton-tta estimate``: a training step's peak memory counted on fake tensors.

What is checked: the count on fake tensors is the count of a real run of the same code (op for op,
byte for byte); what it counts is what is held (freed tensors leave it); every recipe of an estimated
command is estimated (tiny stand-ins: the suite's time), with its one host read per step; two estimates of one step are equal; the
README's table is the estimate's; the
suggestions try the cheapest change first and stop at the first that fits."""

from __future__ import annotations

import contextlib
import copy
import io
import re
import sys
from pathlib import Path

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch._subclasses.fake_tensor import FakeTensorMode

from baton_tta.cli import main
from baton_tta.estimate.fake import ALLOCATOR_BLOCK, StepCounter, allocated_bytes, fake_module
from baton_tta.estimate.measure import MemoryEstimate
from baton_tta.estimate.report import GIB, needed_gib, suggestion_lines
from baton_tta.scripts.estimate import ESTIMATED_COMMANDS, family_of_pipeline

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from estimate_recipes import GPU_RECIPES, row  # noqa: E402

sys.path.insert(0, str(ROOT / "tests"))
from test_recipes import RUNS  # noqa: E402


@given(st.integers(min_value=0, max_value=2**40))
def test_a_request_is_rounded_up_to_the_allocators_block(nbytes):
    rounded = allocated_bytes(nbytes)
    assert rounded % ALLOCATOR_BLOCK == 0
    assert nbytes <= rounded < nbytes + ALLOCATOR_BLOCK


def test_live_bytes_counts_what_is_held_and_forgets_what_is_freed():
    with StepCounter() as live:
        held = torch.empty(1000)  # 4,000 bytes → 4,096
        dropped = torch.empty(10)  # 40 bytes → 512
        view = held[:10]  # a view allocates nothing
        held.add_(1)  # nor does an in-place op
        del dropped
        after = live.live
    assert (live.peak, after) == (4096 + 512, 4096)
    assert view.untyped_storage() is held.untyped_storage()


def test_a_storage_grown_in_place_counts_its_new_size():
    """``resize_`` (and ``out=`` ops that resize) allocate without creating a storage."""
    with StepCounter() as live:
        grown = torch.empty(0)
        grown.resize_(1000)
        torch.mul(torch.ones(3), 2, out=(out := torch.empty(0)))
    assert live.live == 4096 + 512  # grown's 4,000 bytes and out's 12 (``torch.ones(3)`` is freed)
    assert (grown.numel(), out.numel()) == (1000, 3)


def test_the_step_counter_counts_the_flops_of_the_work():
    """A matmul of (m × k) by (k × n) is 2·m·k·n FLOPs, torch's own formula; elementwise ops count none."""
    a, b = torch.ones(8, 16), torch.ones(16, 4)
    with StepCounter() as counter:
        (a @ b).relu()
    assert counter.flops == 2 * 8 * 16 * 4


def _step(model: torch.nn.Module, x: torch.Tensor, optimizer: torch.optim.Optimizer) -> None:
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = model(x).float().square().mean()
    loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)


def test_a_step_on_fake_tensors_counts_exactly_what_the_same_step_allocates_for_real():
    torch.manual_seed(0)
    real = torch.nn.Sequential(torch.nn.Linear(64, 256), torch.nn.GELU(), torch.nn.Linear(256, 64))
    fake = fake_module(copy.deepcopy(real), mode := FakeTensorMode())
    peaks = []
    for model, inputs in ((real, torch.randn(32, 64)), (fake, None)):
        with mode if inputs is None else contextlib.nullcontext():
            x = torch.randn(32, 64) if inputs is None else inputs
            optimizer = torch.optim.AdamW(model.parameters(), foreach=True)
            _step(model, x, optimizer)  # the optimizer's state exists from here on
            with StepCounter() as live:
                _step(model, x, optimizer)
        peaks.append(live.peak)
    assert peaks[0] == peaks[1] > 0


def _estimate(words: list[str]) -> str:
    shown = io.StringIO()
    with contextlib.redirect_stdout(shown):
        main(["estimate", *words])
    return shown.getvalue()


def _gib(text: str, row_start: str) -> float:
    line = next(line for line in text.splitlines() if line.startswith(row_start))
    return float(re.findall(r"[\d.]+", line.rsplit("|", 2)[1])[0])


ESTIMATED_RECIPES = sorted(name for name, run in RUNS.items() if run.command in ESTIMATED_COMMANDS)


def test_every_shipped_recipe_is_of_an_estimated_command():
    assert sorted(RUNS) == ESTIMATED_RECIPES


def _tables(text: str) -> list[str]:
    """Each breakdown table of an estimate's output (GRPO prints two: the rollout and the update)."""
    return ["| what | GiB |" + part.split("\n\n")[0] for part in text.split("| what | GiB |")[1:]]


@pytest.mark.parametrize("recipe", ESTIMATED_RECIPES)
def test_every_recipe_of_an_estimated_command_is_estimated(recipe, tmp_path):
    """At the tiny stand-ins' size, 1 s clips and 2 rows (the suite's time): each breakdown adds up."""
    run = RUNS[recipe]
    pipeline = [
        "--family",
        run.pipeline_class,
        "--audio_length_s",
        "1.0",
        "--per_device_train_batch_size",
        "2",
    ]
    text = _estimate(
        [run.command, "--config", str(ROOT / "recipes" / recipe), "--size", "tiny",
         *(pipeline if run.command != "train-reward-model" else [])]
    )  # fmt: skip
    tables = _tables(text)
    # GRPO: the rollout and the update; an online round: its fine-tuning step and its generation call
    assert len(tables) == (2 if run.command in ("train-grpo", "train-online") else 1)
    for table in tables:
        weights = sum(_gib(line, "| weights") for line in table.splitlines() if line.startswith("| weights"))
        peak, working = _gib(table, "| **peak**"), _gib(table, "| activations")
        assert weights > 0 and working > 0
        assert peak >= weights + working - 1e-3  # the optimizer's state and the batch are the rest
        if run.command != "train-reward-model":
            assert _gib(table, "| a card needs") == pytest.approx(peak * 1.1 + 0.75, abs=0.01)
    if run.command == "train-reward-model":  # embeds and trains on the CPU: host memory, no card
        assert "on the CPU (no GPU memory)" in text and "a card needs" not in text
        assert "| weights in host memory, float32 |" in text
    elif run.command == "train-grpo":  # its rollout's reads are counted with it (tests/test_host_reads.py)
        assert re.search(r"Host reads per update, its rollout included: \d+ \(", text)
    else:  # the budget every offline objective × family is held to (tests/test_host_reads.py): the grad norm
        assert "Host reads per optimizer step: 1 (" in text


@pytest.mark.parametrize("pipeline_class", ["TangoPipeline", "StableAudio3Pipeline"])
def test_a_grpo_rollout_extended_from_two_and_three_steps_is_a_full_count(pipeline_class, tmp_path):
    """The rollout's peak and FLOPs, and the trajectory the update holds, extended linearly from two
    and three sampler steps equal a five-step rollout counted whole (DDIM and the flow sampler)."""
    from baton_tta.estimate.grpo import (
        _record_bytes,
        estimate_grpo_update,
        grpo_at_published_size,
        sampled_rollout,
    )
    from baton_tta.tiny import tiny_pipeline
    from baton_tta.trainer import DiffusionGRPOConfig

    def build(device):
        return tiny_pipeline(pipeline_class)

    args = DiffusionGRPOConfig(
        output_dir=str(tmp_path), use_cpu=True, num_generations=2, per_device_train_batch_size=2,
        num_inference_steps=5, timestep_fraction=0.5, audio_length_s=1.0, beta=0.04, report_to="none",
    )  # fmt: skip
    estimate = estimate_grpo_update(args, build)
    trainer, _, _, trained = grpo_at_published_size(args, build, str(tmp_path / "whole"))
    rollouts, counter = sampled_rollout(trainer, args, 5)
    assert estimate.rollout.working_at_peak == counter.peak > 0
    assert estimate.rollout.flops == counter.flops > 0
    assert estimate.update.batch == _record_bytes(rollouts)
    assert estimate.trained_steps == trained == 2  # half of the four stochastic steps
    assert estimate.peak == max(estimate.rollout.peak, estimate.update.peak) > estimate.update.batch


def test_two_estimates_of_one_step_are_the_same():
    """Tensors held by reference cycles are freed when Python's collector runs: the count collects
    them before each new peak, so it does not depend on when that happens (it once differed by
    0.1 GiB between two runs of one recipe)."""
    words = ["train", "--pipeline_name_or_path", "tiny-random", "--size", "tiny", "--beta", "0.5",
             "--activation_checkpointing", "true", "--audio_length_s", "1.0", "--output_dir", "unused"]  # fmt: skip
    first, second = _estimate(words), _estimate(words)
    assert _gib(first, "| **peak**") > 0
    assert first == second


def test_the_readmes_will_it_fit_table_is_the_estimates():
    """Each row of the table is what ``benchmarks/estimate_recipes.py`` prints; one recipe is
    re-estimated here at published size (each takes 20-50 s), every recipe must have its row."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for recipe in GPU_RECIPES:
        assert f"| `{recipe}` |" in readme, recipe
    assert row("baton_tango_lora_24gb.yaml") in readme


def test_a_family_is_named_by_its_pipeline_or_refused_with_the_flag(tmp_path):
    assert family_of_pipeline("stabilityai/stable-audio-3-medium-base", None) == "StableAudio3Pipeline"
    assert family_of_pipeline("toy-tango", None) == "TangoPipeline"
    (tmp_path / "model_index.json").write_text('{"_class_name": "StableAudioPipeline"}')
    assert family_of_pipeline(str(tmp_path), None) == "StableAudioPipeline"
    with pytest.raises(ValueError, match="give --family"):
        family_of_pipeline("path/to/tango-diffusers", None)
    with pytest.raises(ValueError, match="not a family"):
        family_of_pipeline("anything", "TangoPipe")


def test_suggestions_try_the_cheapest_change_first_and_stop_at_the_first_that_fits():
    from baton_tta.trainer import RewardWeightedDiffusionConfig

    args = RewardWeightedDiffusionConfig(output_dir="unused", use_cpu=True, per_device_train_batch_size=8)
    tried = []

    def re_estimate(overrides):
        tried.append(dict(overrides))
        return MemoryEstimate("step", working_at_peak=int((30 - 8 * len(tried)) * GIB))

    start = MemoryEstimate("step", working_at_peak=30 * GIB)
    lines = suggestion_lines(start, args, 24.0, re_estimate)
    assert needed_gib(start) > 24
    assert tried == [
        {"activation_checkpointing": True},
        {"activation_checkpointing": True, "use_lora": True},
    ]
    assert lines[-1] == "\nRun with: `--activation_checkpointing true --use_lora true`"


@pytest.mark.parametrize(
    "pipeline_class", ["TangoPipeline", "AudioLDM2Pipeline", "StableAudioPipeline", "StableAudio3Pipeline"]
)
def test_generation_runs_the_pipelines_own_call_on_fake_weights(pipeline_class):
    """Every family's ``__call__`` runs as written (its scheduler reads real tables); more clips per call
    hold more; FLOPs extended from one and two steps equal a three-step call's count."""
    from baton_tta.data.generation import call_pipeline
    from baton_tta.estimate.generation import estimate_generation
    from baton_tta.estimate.training import CAPTION
    from baton_tta.tiny import tiny_pipeline

    def build(device):
        return tiny_pipeline(pipeline_class)

    one, four = (estimate_generation(build, n, 1.0, 3, 3.0, "no") for n in (1, 4))
    assert 0 < one.working_at_peak < four.working_at_peak
    assert one.weights == four.weights and sum(one.weights.values()) > 0
    pipeline = build("cpu")
    with StepCounter() as counter:
        call_pipeline(pipeline, [CAPTION], [torch.Generator().manual_seed(0)], 1.0, 3, 3.0, "no",
                      {"output_type": "pt"})  # fmt: skip
    assert one.flops == counter.flops > 0


def test_every_family_with_a_published_denoiser_has_its_whole_pipeline_built_on_meta():
    """Each published pipeline is the family's class, on ``meta`` throughout (no memory), with the
    denoiser its publisher states, and the family reads it (its seam works at the published size)."""
    from baton_tta.estimate.published_pipelines import PUBLISHED_PIPELINES, reward_model_on_meta
    from baton_tta.families import family_of
    from baton_tta.families.published import PUBLISHED, parameter_count

    assert set(PUBLISHED_PIPELINES) == set(PUBLISHED)
    for name, build in PUBLISHED_PIPELINES.items():
        pipeline = build("meta")
        modules = [c for c in pipeline.components.values() if isinstance(c, torch.nn.Module)]
        assert type(pipeline).__name__ == name
        assert {p.device.type for m in modules for p in m.parameters()} == {"meta"}
        denoiser = family_of(pipeline).denoiser
        assert parameter_count(denoiser) == pytest.approx(PUBLISHED[name].published_parameters, rel=0.1), name
    clap = reward_model_on_meta("published")
    assert parameter_count(clap) == pytest.approx(153.5e6, rel=0.05)  # laion/clap-htsat-unfused + the head

"""Every file in ``recipes/`` runs as shipped.

Each recipe runs through its own command (``baton-tta train``, ``train-kto``, ``train-crpo``,
``train-grpo``, ``train-online``, ``train-reward-model``) with every field as written — activation
checkpointing, LoRA, EMA, bf16 (on the CPU: ``--use_cpu`` sends the recipe's bf16 through the Trainer's
own autocast), validation, the objective's settings — except:

- the pipeline and the data, swapped for the tiny stand-ins of the same family and schema (the
  stand-in clips are 1 s long, so ``audio_length_s`` goes with the data);
- the batch: at most 2 rows per device step and 2 accumulated micro-batches (accumulation still runs);
- the run's length: two optimizer steps (``max_steps 2``), with the step-counted events the recipe
  asks for (logging, checkpoints, validation) moved inside those two steps so they happen, and
  validation clips sampled in two steps;
- where the output goes (a fresh temporary folder).

The output is then reloaded as its users load it, and the settings the run recorded are compared with
the recipe's. A recipe without an entry in :data:`RUNS` fails the suite.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from baton_tta.cli import main

ROOT = Path(__file__).resolve().parents[1]
RECIPES = ROOT / "recipes"
PAIRS = "<pairs on disk>"  # replaced by a pairwise dataset saved in the test's folder
STAND_IN_PREFERENCE = ["--dataset_name", "tiny-random", "--pretrain_dataset_name", "tiny-random"]
STAND_IN_LABELS = ["--dataset_name", "tiny-random", "--clap_model_name_or_path", "tiny-random"]
#: the online and GRPO toy recipes' data, made smaller: fewer toy prompts, a smaller toy reward model
SMALL_TOY_WORLD = ["--toy_prompts_per_task", "2", "--toy_reward_prompts", "4"]


@dataclass(frozen=True)
class RecipeRun:
    """How one recipe runs here: its command, and the stand-ins for its pipeline and data."""

    command: str
    stand_ins: list[str] = field(default_factory=list)
    #: "pipeline" (a diffusers folder), "reward_model" (a BatonRewardModel folder) or "online" (rounds)
    output: str = "pipeline"
    #: the pipeline class the output must load as
    pipeline_class: str = "TangoPipeline"


def _tiny(name: str) -> list[str]:
    return ["--pipeline_name_or_path", name, "--audio_length_s", "1.0"]


RUNS: dict[str, RecipeRun] = {
    "baton_audioldm2.yaml": RecipeRun(
        "train", [*_tiny("tiny-random-audioldm2"), *STAND_IN_PREFERENCE], pipeline_class="AudioLDM2Pipeline"
    ),
    "baton_stable_audio_3_lora.yaml": RecipeRun(
        "train",
        [*_tiny("tiny-random-stable-audio-3"), *STAND_IN_PREFERENCE],
        pipeline_class="StableAudio3Pipeline",
    ),
    "baton_stable_audio_open_lora.yaml": RecipeRun(
        "train",
        [*_tiny("tiny-random-stable-audio"), *STAND_IN_PREFERENCE],
        pipeline_class="StableAudioPipeline",
    ),
    "baton_tango_integrity.yaml": RecipeRun("train", [*_tiny("tiny-random"), *STAND_IN_PREFERENCE]),
    "baton_tango_lora_24gb.yaml": RecipeRun("train", [*_tiny("tiny-random"), *STAND_IN_PREFERENCE]),
    "baton_tango_official.yaml": RecipeRun("train", [*_tiny("tiny-random"), *STAND_IN_PREFERENCE]),
    "baton_tango_temporal.yaml": RecipeRun("train", [*_tiny("tiny-random"), *STAND_IN_PREFERENCE]),
    "crpo_tango.yaml": RecipeRun("train-crpo", [*_tiny("tiny-random"), "--dataset_name", PAIRS]),
    "grpo_toy.yaml": RecipeRun("train-grpo", SMALL_TOY_WORLD),
    "kto_tango_temporal.yaml": RecipeRun("train-kto", [*_tiny("tiny-random"), *STAND_IN_PREFERENCE]),
    "kto_toy.yaml": RecipeRun("train-kto"),
    "online_toy.yaml": RecipeRun(
        "train-online",
        [
            *SMALL_TOY_WORLD,
            *["--toy_eval_prompts_per_task", "2", "--pretrain_rows", "8", "--num_rounds", "1"],
        ],
        output="online",
    ),
    "reward_official.yaml": RecipeRun("train-reward-model", STAND_IN_LABELS, output="reward_model"),
    "reward_paper.yaml": RecipeRun("train-reward-model", STAND_IN_LABELS, output="reward_model"),
    "reward_tiny.yaml": RecipeRun("train-reward-model", output="reward_model"),
    "tiny_random.yaml": RecipeRun("train"),
    "toy.yaml": RecipeRun("train"),
}

#: step-counted events moved inside the two-step run, and the validation clips' sampler cut to the
#: tiny size (a recipe's 200 steps under CPU bf16 autocast took minutes): the value each gets here
STEP_EVENTS = {
    "logging_steps": 1,
    "save_steps": 2,
    "validation_every_n_steps": 2,
    "validation_inference_steps": 2,
}
#: rows per device step here: a published batch (6 rows × 4 accumulation steps in the official recipe)
#: of emulated-bf16 convolutions took minutes on a CPU; accumulation still runs as written
STAND_IN_BATCH = 2
#: accumulated micro-batches per optimizer step here: two still accumulate (4 doubled the DPO recipes' cost)
STAND_IN_ACCUMULATION = 2
#: fields the run changes on purpose (above); every other recorded field must equal the recipe's
CHANGED = {
    "output_dir",
    "max_steps",
    "num_train_epochs",
    "num_rounds",
    "cache_dir",
    "use_cpu",
    "per_device_train_batch_size",
    "gradient_accumulation_steps",
}


def _recipe(name: str) -> dict:
    return yaml.safe_load((RECIPES / name).read_text(encoding="utf-8"))


def _argv(name: str, run: RecipeRun, tmp_path: Path) -> list[str]:
    recipe = _recipe(name)
    out = tmp_path / "out"
    argv = [run.command, "--config", str(RECIPES / name), *run.stand_ins, "--output_dir", str(out)]
    if run.command == "train-reward-model":
        return [*argv, "--cache_dir", str(tmp_path / "embedding-cache")]
    argv += ["--max_steps", "2"]
    if recipe.get("per_device_train_batch_size", 0) > STAND_IN_BATCH:
        argv += ["--per_device_train_batch_size", str(STAND_IN_BATCH)]
    if recipe.get("gradient_accumulation_steps", 1) > STAND_IN_ACCUMULATION:
        argv += ["--gradient_accumulation_steps", str(STAND_IN_ACCUMULATION)]
    argv += [x for key, value in STEP_EVENTS.items() if recipe.get(key) for x in (f"--{key}", str(value))]
    if recipe.get("bf16"):
        argv += ["--use_cpu", "true"]
    if PAIRS in argv:
        from tests.test_trainer import _pairwise

        _pairwise(6).save_to_disk(str(tmp_path / "pairs"))
        argv[argv.index(PAIRS)] = str(tmp_path / "pairs")
    return argv


def _swapped(run: RecipeRun) -> set[str]:
    return {word[2:] for word in run.stand_ins if word.startswith("--")}


def test_every_recipe_has_a_run():
    """A recipe added to ``recipes/`` without an entry here fails the suite."""
    shipped = {p.name for p in RECIPES.glob("*.yaml")}
    assert shipped == set(RUNS), f"recipes without a run: {sorted(shipped - set(RUNS))}"


def test_accelerate_recipes_parse_as_accelerate_configs():
    """``recipes/accelerate/*.yaml`` read by accelerate's own loader, as ``accelerate launch
    --config_file`` reads them."""
    from accelerate.commands.config.config_args import load_config_from_file

    files = sorted((RECIPES / "accelerate").glob("*.yaml"))
    assert [f.name for f in files] == ["ddp.yaml", "deepspeed_zero2.yaml"]
    for path in files:
        config = load_config_from_file(str(path))
        written = _recipe(f"accelerate/{path.name}")
        assert config.distributed_type.value == written["distributed_type"]
        assert (config.num_processes, str(config.mixed_precision)) == (8, "bf16")
    zero2 = load_config_from_file(str(RECIPES / "accelerate" / "deepspeed_zero2.yaml"))
    assert zero2.deepspeed_config["zero_stage"] == 2


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(RUNS))
def test_recipe_runs_as_shipped(name, tmp_path):
    run = RUNS[name]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main(_argv(name, run, tmp_path)) == 0
    ours = [
        str(w.message) for w in caught if "checkpointing" in str(w.message) or "pin_memory" in str(w.message)
    ]
    assert not ours, ours  # the recipes use the current names; nothing pins memory without a GPU
    out = tmp_path / "out"
    recorded = _reload(run, out)
    recipe = _recipe(name)
    skip = CHANGED | set(STEP_EVENTS) | _swapped(run)
    compared = {k: v for k, v in recipe.items() if k in recorded and k not in skip}
    assert compared, f"{name}: none of its fields was recorded"
    assert {k: recorded[k] for k in compared} == compared
    if recipe.get("activation_checkpointing"):
        assert "| `activation_checkpointing` | `True` |" in (out / "README.md").read_text()


def _reload(run: RecipeRun, out: Path) -> dict:
    """Load the output as its users would; returns the settings the run recorded."""
    if run.output == "reward_model":
        from baton_tta.reward import BatonRewardModel

        model = BatonRewardModel.from_pretrained(out)
        assert model.config.head_hidden_sizes
        return json.loads((out / "reward_metrics.json").read_text())["config"]
    from diffusers import DiffusionPipeline

    settings_file, pipeline_folder = out / "run.json", out
    if run.output == "online":
        summary = json.loads((out / "summary.json").read_text())
        assert len(summary["rounds"]) == 2  # the base, judged, then the one round
        settings_file, pipeline_folder = out / "round-1" / "train" / "run.json", out / "round-1" / "pipeline"
    pipeline = DiffusionPipeline.from_pretrained(pipeline_folder, trust_remote_code=True)
    assert type(pipeline).__name__ == run.pipeline_class
    settings = json.loads(settings_file.read_text())["settings"]
    if run.output == "online":
        settings["objective"] = summary["objective"]
    return settings

"""``baton-tta <command>``: every command is reachable from the wheel, parses with TrlParser, and the
offline ``generate`` command writes playable clips and a manifest."""

from __future__ import annotations

import dataclasses
import importlib
import json
import re
from pathlib import Path

import pytest
import soundfile as sf

from baton_tta.cli import COMMANDS, main
from baton_tta.scripts.generate import clip_filename

ROOT = Path(__file__).resolve().parents[1]


def test_generate_writes_wavs_and_manifest(tmp_path):
    out = tmp_path / "demo"
    argv = ["generate", "--prompts", "A dog barks!", "rain", "--output_dir", str(out)]
    argv += ["--audio_length_in_s", "0.5", "--num_inference_steps", "2", "--clips_per_prompt", "2"]
    assert main(argv) == 0
    wavs = sorted(out.glob("*.wav"))
    assert [w.name for w in wavs] == [
        "000_a-dog-barks_0.wav",
        "000_a-dog-barks_1.wav",
        "001_rain_0.wav",
        "001_rain_1.wav",
    ]
    data, rate = sf.read(wavs[0])
    assert rate == 16000 and data.shape == (8000,)
    records = [json.loads(line) for line in (out / "clips.jsonl").read_text().splitlines()]
    assert [r["file"] for r in records] == [w.name for w in wavs]
    # clip k of prompt i is seeded seed + i·N + k, as stage 1's generation
    assert records[2] == {
        "prompt": "rain",
        "file": "001_rain_0.wav",
        "seed": 2,
        "pipeline": "tiny-random",
        "mixed_precision": "no",
    }


def test_clip_filename_is_safe():
    assert clip_filename(7, "Ünïcode / slashes?", 3) == "007_n-code-slashes_3.wav"
    assert clip_filename(0, "!!!", 0) == "000_clip_0.wav"


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_has_help_and_documented_flags(command, capsys):
    """Each command's module has ``main(argv)``; ``--help`` exits 0 listing every dataclass field."""
    module = importlib.import_module(f"baton_tta.scripts.{COMMANDS[command][0]}")
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    shown = capsys.readouterr().out
    arguments = [
        v for v in vars(module).values() if dataclasses.is_dataclass(v) and v.__module__ == module.__name__
    ]
    for arguments_class in arguments:
        for f in dataclasses.fields(arguments_class):
            assert f"--{f.name}" in shown, f"{command}: --{f.name} missing from --help"
            assert f.metadata.get("help"), f"{command}: --{f.name} has no help text"


def test_push_flags_are_booleans_with_a_hub_id(capsys):
    """Every command that publishes takes --push_to_hub (a switch) and a --hub_*_id."""
    for command in (
        "generate-audio",
        "export-labels",
        "label-with-reward-model",
        "train-reward-model",
        "evaluate",
        "convert-tango",
    ):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        shown = capsys.readouterr().out
        assert "--push_to_hub [PUSH_TO_HUB]" in shown and (
            "--hub_model_id" in shown or "--hub_dataset_id" in shown
        )


def test_unknown_command_and_usage(capsys):
    assert main(["no-such-command"]) == 2
    assert "unknown command" in capsys.readouterr().err
    assert main([]) == 0
    usage = capsys.readouterr().out
    assert all(name in usage for name in COMMANDS)


def test_a_mistyped_or_shortened_flag_is_refused_with_the_flag_it_resembles(capsys):
    """Found by the new-user probe: ``--learnign_rate`` got transformers' "arguments are not used"
    with no suggestion, and ``--max_step`` was silently taken as ``--max_steps``. Every unknown flag
    is named with the closest known one; prefixes are not accepted; nothing runs."""
    with pytest.raises(
        SystemExit,
        match=r"--learnign_rate \(did you mean --learning_rate\?\), --max_step \(did you mean --max_steps\?\)",
    ):
        main(["train", "--learnign_rate", "1e-4", "--max_step", "3"])
    with pytest.raises(SystemExit, match=r"unknown flag: --stor \(did you mean --store\?\)"):
        main(["export-labels", "--dataset", "d", "--stor=s.sqlite"])
    with pytest.raises(SystemExit, match=r"unknown flag: --zzz; --help"):
        main(["push-dataset", "--zzz", "1"])


def test_a_users_error_is_one_line_and_debug_keeps_the_traceback(tmp_path):
    """Bad input (here a folder another run holds) ends in one line naming the command, not a
    traceback; ``--debug`` raises the error itself."""
    (tmp_path / "rm").mkdir()
    (tmp_path / "rm" / "model.safetensors").write_bytes(b"")
    argv = [
        "train-reward-model",
        "--config",
        str(ROOT / "recipes" / "reward_tiny.yaml"),
        "--dataset_name",
        "tiny-random",
    ]
    argv += ["--cache_dir", str(tmp_path / "cache"), "--output_dir", str(tmp_path / "rm")]
    with pytest.raises(
        SystemExit,
        match=r"^baton-tta train-reward-model: .* holds another run's results .*\n\(--debug shows the traceback\)$",
    ):
        main(argv)
    with pytest.raises(FileExistsError):
        main([*argv, "--debug"])


@pytest.mark.skipif(
    __import__("transformers.utils").utils.is_torch_bf16_gpu_available(), reason="this machine has a bf16 GPU"
)
def test_a_bf16_recipe_on_a_machine_without_a_bf16_gpu_says_both_ways_on(tmp_path):
    """Found by the new-user probe: a GPU recipe (bf16) on a CPU stopped in transformers' traceback.
    It is refused in one line before anything loads, naming ``--bf16 false`` (fp32) and ``--use_cpu
    true`` (bf16 autocast on the CPU, as the suite runs the recipes); not switched to fp32 silently."""
    from baton_tta.data.settings import SettingsError
    from baton_tta.trainer import RewardWeightedDiffusionConfig

    with pytest.raises(SettingsError, match=r"no bf16 GPU: pass --bf16 false .* or --use_cpu true"):
        RewardWeightedDiffusionConfig(output_dir=str(tmp_path / "a"), bf16=True, report_to=[])
    assert RewardWeightedDiffusionConfig(
        output_dir=str(tmp_path / "b"), bf16=True, use_cpu=True, report_to=[]
    ).bf16
    recipe = str(ROOT / "recipes" / "baton_tango_lora_24gb.yaml")
    with pytest.raises(SystemExit, match=r"^baton-tta train: bf16 is set .*--bf16 false"):
        main(["train", "--config", recipe, "--output_dir", str(tmp_path / "out")])
    assert not (tmp_path / "out").exists()


def test_a_model_that_cannot_be_loaded_is_named_with_its_flag_and_the_way_to_get_it(tmp_path):
    """Found by the new-user probe: offline, the default CLAP model failed with "couldn't connect to
    huggingface.co", naming neither the model nor the flag. Said in one line with both, and how to get it."""
    argv = ["train-reward-model", "--dataset_name", "tiny-random", "--output_dir", str(tmp_path / "rm")]
    with pytest.raises(
        SystemExit,
        match=r"^baton-tta train-reward-model: --clap_model_name_or_path laion/clap-htsat-unfused: no such folder.*hf download laion/clap-htsat-unfused",
    ):
        main([*argv, "--cache_dir", str(tmp_path / "cache")])
    with pytest.raises(
        SystemExit, match=r"the pipeline someone/nothing-here: no such folder, and it could not be fetched"
    ):
        main(
            [
                "generate",
                "--pipeline_name_or_path",
                "someone/nothing-here",
                "--prompts",
                "a dog",
                "--output_dir",
                str(tmp_path / "g"),
            ]
        )


def test_the_flag_index_is_every_commands_help():
    """``scripts/flags.json`` (what the checks before the imports know) lists exactly the flags each
    command's ``--help`` shows; rebuild it with ``make flag-index`` after a change."""
    from baton_tta.cli import flag_index
    from baton_tta.scripts.early_checks import FLAG_INDEX

    assert json.loads(FLAG_INDEX.read_text()) == flag_index(), "run: make flag-index"


@pytest.mark.parametrize(
    ("words", "said"),
    [
        (
            ["train", "--learnign_rate", "1e-4"],
            r"unknown flag: --learnign_rate \(did you mean --learning_rate\?\)",
        ),
        (["train", "--config", "no-such.yaml"], r"--config no-such.yaml: no such recipe"),
        (
            ["train-reward-model", "--dataset_name", "./mine"],
            r"--dataset_name ./mine: no such file or folder",
        ),
        (["evaluate", "--eval_set=gone.csv"], r"--eval_set gone.csv: no such file or folder"),
        (["merge-labels", "--sources", "you/labels", "b/x.jsonl"], r"--sources b/x.jsonl: no such file"),
        (
            ["train", "--config", "{recipe}"],
            r"{recipe}: unknown key: learnig_rate \(did you mean learning_rate\?\)",
        ),
        (
            ["train", "--config", "{not_a_mapping}"],
            r"{not_a_mapping}: a recipe is a YAML mapping of settings, got list",
        ),
    ],
)
def test_a_typo_or_a_missing_input_is_refused_before_the_heavy_imports(words, said, tmp_path):
    """Found by the new-user probe: every mistake surfaced after 15-35 s of imports. These are
    refused by :func:`~baton_tta.scripts.early_checks.check_before_imports` in a fresh interpreter that never
    imports torch, transformers or diffusers (about 0.1 s, where the imports take 10-15 s)."""
    import subprocess
    import sys

    recipe, not_a_mapping = tmp_path / "r.yaml", tmp_path / "list.yaml"
    recipe.write_text("learnig_rate: 1\nmax_steps: 2\nenv: {A: b}\n")
    not_a_mapping.write_text("- a\n")
    words = [w.format(recipe=recipe, not_a_mapping=not_a_mapping) for w in words]
    probe = (
        "import sys\nfrom baton_tta.cli import main\n"
        f"try:\n    main({words!r})\nexcept SystemExit as e:\n    print(e)\n"
        "print(sorted({'torch', 'transformers', 'diffusers', 'datasets'} & set(sys.modules)))"
    )
    shown = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=tmp_path)
    message, heavy = shown.stdout.strip().splitlines()
    assert re.search(said.format(recipe=recipe, not_a_mapping=not_a_mapping), message), message
    assert heavy == "[]"


def test_help_shows_the_commands_own_settings_and_help_all_every_one(capsys):
    """Found by the new-user probe: ``train --help`` was 757 lines, mostly transformers'
    ``TrainingArguments``. ``--help`` lists the command's own settings and the everyday training ones
    and says how many more there are; ``--help_all`` lists every flag; every one is still taken."""
    for flag in ("--help", "--help_all"):
        with pytest.raises(SystemExit) as exit_info:
            main(["train", flag])
        assert exit_info.value.code == 0
    short, full = capsys.readouterr().out.split("usage:")[1:]
    for own in ("--beta", "--reward_transform", "--learning_rate", "--max_steps", "--output_dir"):
        assert own in short and own in full
    assert "--ddp_backend" not in short and "--ddp_backend" in full
    hidden = re.search(r"… and (\d+) more settings of transformers' TrainingArguments", short)
    assert hidden and int(hidden.group(1)) > 50 and "--help_all lists every one" in short
    assert len(short.splitlines()) < len(full.splitlines()) / 2
    from baton_tta.scripts.early_checks import known_flags

    assert "--ddp_backend" in known_flags("train")  # hidden from --help, still a flag

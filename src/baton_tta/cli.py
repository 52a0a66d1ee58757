"""``baton-tta <command> [--config recipe.yaml] [--flags]``: every BATON step from the installed wheel,
as ``trl sft`` / ``trl dpo`` are. Each command is a module of :mod:`baton_tta.scripts` (imported only
when run, so ``baton-tta --help`` is instant); ``baton-tta <command> --help`` lists its flags.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence
from contextlib import ExitStack

from baton_tta.scripts.early_checks import FLAG_INDEX, check_before_imports, flags_in_help, known_flags

#: command → (module under baton_tta.scripts, one-line description), in the order of the BATON stages.
COMMANDS = {
    "toy-demo": ("toy_demo", "all four stages in the toy world, before/after table (make demo)"),
    "make-prompts": ("make_prompts", "stage 1: captions from 2-3 AudioSet labels"),
    "generate-audio": ("generate_audio", "stage 1: N clips per prompt into a dataset (resumable)"),
    "annotate": ("annotate", "stage 1: serve the labelling app"),
    "export-labels": ("export_labels", "stage 1: labels + agreement report -> dataset"),
    "merge-labels": ("merge_labels", "stage 1: many contributors' labels and backups -> one dataset"),
    "train-reward-model": ("train_reward_model", "stage 2: the CLAP reward model"),
    "label-with-reward-model": ("label_with_reward_model", "stage 2: score the unlabelled clips"),
    "train": ("train", "stage 3: reward-weighted fine-tuning (paper Eq. 7)"),
    "train-dpo": ("train_dpo", "stage 3 alternative: Diffusion-DPO on pairs"),
    "train-crpo": ("train_crpo", "stage 3 alternative: CRPO (DPO + the chosen clips' loss) on pairs"),
    "train-kto": ("train_kto", "stage 3 alternative: Diffusion-KTO on aligned / not-aligned rows"),
    "train-grpo": ("train_grpo", "stage 3 online: GRPO on the model's own samples, reward model as reward"),
    "train-online": ("train_online", "stage 3 iterated: rounds of generate, score, fine-tune, judge"),
    "build-eval-sets": ("build_eval_sets", "stage 4: integrity / temporal prompt sets"),
    "evaluate": ("evaluate", "stage 4: FD, FAD, IS, KL, CLAP score (Table 4)"),
    "generate": ("generate", "render captions to WAV files"),
    "estimate": ("estimate", "will it fit? a training run's peak GPU memory at published size, on a CPU"),
    "convert-tango": ("convert_tango", "TANGO's original checkpoint -> TangoPipeline"),
    "convert-laion-clap": ("convert_laion_clap", "LAION-CLAP .pt checkpoint -> ClapModel folder"),
    "convert-baton-official": ("convert_baton_official", "official BATON JSON -> binary dataset"),
    "convert-baton-audiocaps": ("convert_baton_audiocaps", "BATON's AudioCaps lists -> pretrain dataset"),
    "convert-audio-alpaca": ("convert_audio_alpaca", "pairwise data (audio-alpaca) -> pairwise dataset"),
    "push-dataset": ("push_dataset", "validate and push a dataset with its card"),
}


#: flags every command takes, read here: the traceback of a user's error, pushes shown but not made
GLOBAL_FLAGS = {
    "--debug": "a user's error (bad data, a used folder) with its traceback",
    "--dry_run": "every push shows its repository, files, sizes and card, and uploads nothing",
    "--allow_outside_paths": "a dataset's audio paths may point outside its folder (your own files)",
}


def global_settings(flags: set[str]) -> ExitStack:
    """The contexts the given :data:`GLOBAL_FLAGS` (but ``--debug``) put a command in."""
    stack = ExitStack()
    if "--dry_run" in flags:
        from baton_tta.hub.push import dry_run_pushes

        stack.enter_context(dry_run_pushes())
    if "--allow_outside_paths" in flags:
        from baton_tta.data.loading import outside_paths_allowed

        stack.enter_context(outside_paths_allowed())
    return stack


def usage() -> str:
    width = max(map(len, COMMANDS))
    lines = [f"  {name:<{width}}  {text}" for name, (_, text) in COMMANDS.items()]
    flags = [f"  {name:<{width}}  {text}" for name, text in GLOBAL_FLAGS.items()]
    return (
        "usage: baton-tta <command> [--config file.yaml] [--flags]\n\ncommands:\n"
        + "\n".join(lines)
        + "\n\nwith any command:\n"
        + "\n".join(flags)
    )


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        print(f"baton-tta: unknown command {command!r}\n\n{usage()}", file=sys.stderr)
        return 2
    flags = {word for word in rest if word in GLOBAL_FLAGS}
    rest = [word for word in rest if word not in GLOBAL_FLAGS]
    if command == "estimate" and rest and rest[0] in COMMANDS:  # the estimated command's flags, and its own
        check_before_imports(rest[0], rest[1:], also_known=known_flags(command))
    else:
        check_before_imports(command, rest)
    module = importlib.import_module(f"baton_tta.scripts.{COMMANDS[command][0]}")
    try:
        with global_settings(flags):
            module.main(rest)
    except user_errors() as error:
        if "--debug" in flags:
            raise
        raise SystemExit(f"baton-tta {command}: {error}\n(--debug shows the traceback)") from error
    return 0


def user_errors() -> tuple[type[BaseException], ...]:
    """What a user's input causes — bad data (file, row, column named), a folder another run holds,
    a missing file: said in one line, without a traceback (``--debug`` keeps it). Imported when a
    command has run, so ``baton-tta --help`` stays instant."""
    from baton_tta.data.audio import AudioDecodeError
    from baton_tta.data.lock import OutputFolderInUse
    from baton_tta.data.schema import PreferenceDataError
    from baton_tta.data.settings import SettingsError

    return (
        PreferenceDataError,
        AudioDecodeError,
        SettingsError,
        OutputFolderInUse,
        FileExistsError,
        FileNotFoundError,
    )


def flag_index() -> dict[str, list[str]]:
    """command → the flags its ``--help_all`` lists: what ``scripts/flags.json`` must hold."""
    import contextlib
    import io

    index = {}
    for command in COMMANDS:
        shown = io.StringIO()
        with contextlib.redirect_stdout(shown), contextlib.suppress(SystemExit):
            main([command, "--help_all"])  # every flag: --help hides most TrainingArguments ones
        index[command] = flags_in_help(shown.getvalue())
    return index


def write_flag_index() -> None:
    """Rebuild ``scripts/flags.json`` after a command's settings change (``make flag-index``)."""
    import json

    FLAG_INDEX.write_text(json.dumps(flag_index(), indent=1, sort_keys=True) + "\n", encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())

"""What every command does the same way: logging, parsing (``TrlParser``), repo ids."""

from __future__ import annotations

import argparse
import dataclasses
import functools
import logging
import sys
from collections.abc import Callable, Sequence
from dataclasses import field
from pathlib import Path
from typing import Any

from huggingface_hub import RepoUrl
from trl import TrlParser

from baton_tta.data.lock import acquire, is_main_process, released_when_done
from baton_tta.data.settings import check_finite_settings
from baton_tta.scripts.early_checks import refuse_unknown_flags


def configure_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")


def parse(
    dataclass_types: Sequence[type],
    argv: Sequence[str] | None = None,
    repeatable: Sequence[str] = (),
    hold_outputs: bool = True,
) -> tuple[Any, ...]:
    """Dataclasses from ``--flags`` and an optional ``--config`` YAML (flags win). A list flag named
    in ``repeatable`` may be given several times and its values accumulate (argparse keeps only the
    last ``--auth a:1 --auth b:2``). The output folders named are locked (:func:`hold_output_folders`)
    unless ``hold_outputs`` is False (a command that reads a run's settings without running it)."""
    configure_logging()
    # no prefixes: `--max_step` silently became `--max_steps`, and a prefix that fits today may not tomorrow
    parser = TrlParser(tuple(dataclass_types), allow_abbrev=False)
    words = list(sys.argv[1:] if argv is None else argv)
    if HELP_ALL in words:
        words = [w if w != HELP_ALL else "--help" for w in words]
    elif "-h" in words or "--help" in words:
        shorten_help(parser, dataclass_types)
    refuse_unknown_flags(words, {*parser._option_string_actions, "--config"})  # --config: TrlParser's own
    parsed = tuple(parser.parse_args_and_config(args=merge_repeated(words, repeatable)))
    for settings in parsed:
        check_finite_settings(settings)
    if hold_outputs:
        hold_output_folders(parsed)
    return parsed


#: the flag that lists every setting, transformers' ``TrainingArguments`` included
HELP_ALL = "--help_all"
#: ``TrainingArguments`` fields people set in a run of their own: shown by ``--help`` too
EVERYDAY_TRAINING_FLAGS = frozenset(
    {
        "output_dir", "overwrite_output_dir", "learning_rate", "max_steps", "num_train_epochs",
        "per_device_train_batch_size", "gradient_accumulation_steps", "seed", "bf16", "fp16", "use_cpu",
        "save_steps", "save_strategy", "logging_steps", "resume_from_checkpoint", "report_to",
        "push_to_hub", "hub_model_id", "lr_scheduler_type", "warmup_steps", "weight_decay",
        "activation_checkpointing", "torch_compile",
    }
)  # fmt: skip


def shorten_help(parser: Any, dataclass_types: Sequence[type]) -> None:
    """``--help`` lists the command's own settings and the everyday training ones; the ~150 other
    flags inherited from transformers' ``TrainingArguments`` (``train --help`` was 757 lines) are
    named by count and listed by ``--help_all``. They are all still taken."""
    from transformers import TrainingArguments

    inherited = {f.name: f for f in dataclasses.fields(TrainingArguments)}
    hidden = {
        field_.name
        for config in dataclass_types
        if issubclass(config, TrainingArguments)
        for field_ in dataclasses.fields(config)
        if inherited.get(field_.name) is field_ and field_.name not in EVERYDAY_TRAINING_FLAGS
    }
    for action in parser._actions:
        if action.dest in hidden:
            action.help = argparse.SUPPRESS
    if hidden:
        parser.epilog = (
            f"… and {len(hidden)} more settings of transformers' TrainingArguments (logging, saving, "
            f"distributed, Hub …): {HELP_ALL} lists every one."
        )


def command(main: Callable[..., Any]) -> Callable[..., Any]:
    """A command's ``main``, run so that the output-folder locks its parse takes
    (:func:`hold_output_folders`) are given back when it ends — however it is entered: ``baton-tta``,
    ``python -m baton_tta.scripts.<command>``, ``accelerate launch``, or a call from Python."""

    @functools.wraps(main)
    def run(*args: Any, **kwargs: Any) -> Any:
        with released_when_done():
            return main(*args, **kwargs)

    return run


def hold_output_folders(parsed: Sequence[Any]) -> None:
    """Take the lock of each ``output_dir`` the parsed settings name, before the command writes
    anything (the main process only; :func:`command` gives it back when the command ends)."""
    if not is_main_process():
        return
    for settings in parsed:
        folder = getattr(settings, "output_dir", None)
        if isinstance(folder, str) and folder:
            acquire(folder)


def merge_repeated(words: list[str], flags: Sequence[str]) -> list[str]:
    """``--auth a --x 1 --auth b c`` → ``--x 1 --auth a b c`` for each flag in ``flags`` (``--f=v`` too)."""
    for flag in flags:
        values: list[str] = []
        rest: list[str] = []
        taking = False
        for word in words:
            if word == flag:
                taking = True
            elif word.startswith(f"{flag}="):
                values.append(word.split("=", 1)[1])
                taking = False
            elif taking and not word.startswith("--"):
                values.append(word)
            else:
                taking = False
                rest.append(word)
        words = [*rest, flag, *values] if values or flag in words else rest
    return words


def train_save_and_push(trainer: Any, args: Any) -> str:
    """Train (resuming if asked), save the pipeline to ``output_dir`` and push it if asked; returns
    where it loads from: the Hub id after a push (the user's namespace included), else the folder."""
    trainer.train(resume_from_checkpoint=args.resume_from_checkpoint)
    trainer.save_model(args.output_dir)
    if args.push_to_hub:
        return RepoUrl(trainer.push_to_hub().split("/commit/")[0]).repo_id
    return str(Path(args.output_dir).resolve())


def load_hint(location: str) -> str:
    """The lines that tell a user how to load what a training command wrote (:func:`train_save_and_push`)."""
    return (
        "Load it with:\n  from diffusers import DiffusionPipeline\n"
        f'  pipe = DiffusionPipeline.from_pretrained("{location}", trust_remote_code=True)'
    )


def default_repo_id(explicit: str | None, output_dir: str | Path) -> str:
    """``--hub_*_id`` if given, else the output folder's name (as ``Trainer`` does)."""
    return explicit or Path(output_dir).absolute().name


#: the ``help`` of every command's pipeline argument
PIPELINE_HELP = (
    "Pipeline of any supported family (TANGO, AudioLDM 2, Stable Audio Open, Stable Audio 3): a folder, "
    "a Hub id or a built-in tiny name."
)


def pipeline_field(default: str) -> Any:
    """The ``--pipeline_name_or_path`` argument (alias ``--pipeline``) of the generating commands."""
    return field(default=default, metadata={"help": PIPELINE_HELP, "aliases": ["--pipeline"]})


def mixed_precision_field() -> Any:
    """The ``--mixed_precision`` argument of the generating commands (accelerate's names)."""
    return field(
        default=None,
        metadata={
            "help": "'no', 'fp16' or 'bf16' (accelerate's names): the denoiser's precision; the VAE decode and "
            "vocoder stay fp32 (and the text encoders under fp16). Default: bf16 on a GPU that has it, else no.",
        },
    )

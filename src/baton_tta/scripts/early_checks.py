"""The checks a command's words get before its heavy imports: torch, transformers and diffusers take
10-15 s to import on a laptop, and a mistyped flag, a recipe key nobody reads or a data file that is
not there should not cost that wait (nor a traceback). This module imports nothing heavy; it reads the
flags each command takes from ``scripts/flags.json``, which ``cli.write_flag_index`` builds from
every command's own ``--help_all`` (``make flag-index``; a test keeps the two equal). The command's parser stays the final
authority: what passes here is parsed again, with types, after the imports.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

FLAG_INDEX = Path(__file__).parent / "flags.json"

#: flags whose value names something to read: a missing local file or folder there is refused early
INPUT_FLAG = re.compile(
    r"--(config|dataset|sources?|eval_set|reward_model|prompts|captions_csv|audio_dir|reference_audio_dir"
    r"|\w*dataset_name|\w+_name_or_path|\w+_files?|\w+_json|\w*checkpoint|\w+_config)$"
)

#: how a value announces a local file or folder (a Hub id has none of these)
LOCAL_LOOKING = re.compile(r"^(\.{1,2}/|/|~)|\.(csv|jsonl?|parquet|arrow|ya?ml|txt|tsv|sqlite)$")


def known_flags(command: str) -> set[str]:
    """The flags ``command`` takes (its dataclasses' fields and aliases, ``--config``, ``--help``,
    ``--help_all``)."""
    index = json.loads(FLAG_INDEX.read_text(encoding="utf-8"))
    return {*index[command], "--config", "--help_all"}


def refuse_unknown_flags(words: Sequence[str], known: set[str], where: str = "") -> None:
    """Every ``--flag`` in ``words`` is one the command takes; the others are named together, each
    with the closest known flag (transformers' "arguments are not used" came after the imports and
    suggested nothing). ``where`` names the recipe file when the words are its keys."""
    unknown = [
        word.split("=", 1)[0]
        for word in words
        if word.startswith("--") and word.split("=", 1)[0] not in known
    ]
    if not unknown:
        return
    prefix = "" if where else "--"  # a recipe's keys are named without the dashes of their flags
    hints = []
    for flag in unknown:
        close = difflib.get_close_matches(flag, sorted(known), n=1, cutoff=0.6)
        name = flag.removeprefix("--")
        hints.append(f"{prefix}{name} (did you mean {prefix}{close[0][2:]}?)" if close else f"{prefix}{name}")
    plural = "s" if len(unknown) > 1 else ""
    if where:
        raise SystemExit(f"{where}: unknown key{plural}: {', '.join(hints)}; --help lists the settings")
    raise SystemExit(f"unknown flag{plural}: {', '.join(hints)}; --help_all lists them all")


def check_before_imports(command: str, words: Sequence[str], also_known: Iterable[str] = ()) -> None:
    """Refuse, in the first second, unknown flags, a missing recipe, a recipe's unknown keys and a
    named local input that does not exist — each in one line naming what to fix. ``also_known``: flags
    a command wrapping ``command`` adds (``estimate``'s own)."""
    if any(word in ("-h", "--help", "--help_all") for word in words):
        return
    known = known_flags(command) | set(also_known)
    refuse_unknown_flags(words, known)
    for flag, value in _flag_values(words):
        if INPUT_FLAG.match(flag) and LOCAL_LOOKING.search(value) and not Path(value).expanduser().exists():
            what = "recipe" if flag == "--config" else "file or folder"
            raise SystemExit(f"{flag} {value}: no such {what} (from {Path.cwd()})")
        if flag == "--config":
            check_recipe_keys(Path(value), known)


def _flag_values(words: Sequence[str]) -> Iterable[tuple[str, str]]:
    """(flag, value) for each value after a ``--flag`` and each ``--flag=value`` among ``words``."""
    flag = None
    for word in words:
        if word.startswith("--") and "=" in word:
            flag, value = word.split("=", 1)
            yield flag, value
        elif word.startswith("--"):
            flag = word
        elif flag is not None:  # each value of a list flag (`--sources a b`)
            yield flag, word


def check_recipe_keys(recipe: Path, known: set[str]) -> None:
    """A recipe's keys are the command's settings (``env`` is TRL's own key); yaml is light to import."""
    import yaml

    try:
        settings = yaml.safe_load(recipe.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise SystemExit(f"{recipe}: not valid YAML ({str(error).splitlines()[0]})") from error
    if not isinstance(settings, dict):
        raise SystemExit(f"{recipe}: a recipe is a YAML mapping of settings, got {type(settings).__name__}")
    refuse_unknown_flags([f"--{key}" for key in settings if key != "env"], known, where=str(recipe))


def flags_in_help(text: str) -> list[str]:
    """The option strings of an argparse ``--help`` text (its option lines, aliases included)."""
    flags = []
    for line in text.splitlines():
        if line.startswith("  -"):
            options = re.split(r"\s{2,}", line.strip())[0]  # the description starts after two spaces
            for option in options.split(", "):
                flags.append(option.split(" ", 1)[0])
    return sorted(set(flags))

"""Every command in the README and in ``docs/`` stays true. The offline ones run in their own tests
(the blocks marked ``offline-sequence``, ``family-commands``, ``hub-labelling``, ``data-guide: …``,
``guide-offline``); the rest need GPUs, weights or the Hub, so here each is checked as far as a
machine without them can: a ``baton-tta`` command (or its ``trainers/`` / ``datasets_scripts/`` /
``-m baton_tta.scripts`` form) exists and takes every flag it is given, a ``--config`` recipe exists
and holds only that command's settings, a script named by path exists, a ``make`` target is in the
Makefile. A renamed flag, recipe or script fails here, naming the page and the line."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from baton_tta.cli import COMMANDS, GLOBAL_FLAGS
from baton_tta.scripts.early_checks import check_recipe_keys, known_flags, refuse_unknown_flags

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
WRAPPED = re.compile(r'main\(\["([\w-]+)", \*sys\.argv')


def wrapper_commands() -> dict[str, str]:
    """``trainers/x.py`` / ``datasets_scripts/x.py`` → the command it runs."""
    found = {}
    for script in [*ROOT.glob("trainers/*.py"), *ROOT.glob("datasets_scripts/*.py")]:
        match = WRAPPED.search(script.read_text(encoding="utf-8"))
        if match:
            found[str(script.relative_to(ROOT))] = match.group(1)
    return found


def command_lines() -> list[tuple[str, str]]:
    """(``page:line``, command) for every line of every ``bash`` block, continuations joined."""
    lines = []
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for block in re.finditer(r"```bash\n(.*?)```", text, flags=re.S):
            first = text[: block.start()].count("\n") + 2
            joined = re.sub(r"\\\n\s*", " ", block.group(1))
            for offset, line in enumerate(joined.splitlines()):
                line = re.sub(r"(^|\s)#.*", "", line).strip()
                if line:
                    lines.append((f"{page.relative_to(ROOT)}:{first + offset}", line))
    return lines


def check(line: str, wrappers: dict[str, str], targets: set[str]) -> str:
    """What the line is, after refusing it where it no longer holds."""
    words = [w for w in shlex.split(line) if w not in GLOBAL_FLAGS]
    if words[0] == "make":
        assert all(w in targets for w in words[1:] if "=" not in w), f"no such make target: {line}"
        return "make"
    command, rest = None, []
    for index, word in enumerate(words):
        if word.endswith("baton-tta") and index + 1 < len(words):
            command, rest = words[index + 1], words[index + 2 :]
        elif word in wrappers:
            command, rest = wrappers[word], words[index + 1 :]
        elif word == "-m" and words[index + 1] == "baton_tta.cli":
            command, rest = words[index + 2], words[index + 3 :]
        elif word == "-m" and words[index + 1].startswith("baton_tta.scripts."):
            module = words[index + 1].rsplit(".", 1)[1]
            command = next(c for c, (m, _) in COMMANDS.items() if m == module)
            rest = words[index + 2 :]
        elif word.endswith(".py") and not (ROOT / word).is_file():
            pytest.fail(f"no such script: {word} in {line}")
        if command:
            break
    if command is None:
        return "other"
    if command in ("-h", "--help"):
        return "baton-tta"
    assert command in COMMANDS, f"no such command {command!r}: {line}"
    flags = known_flags(command)
    if command == "estimate" and rest and rest[0] in COMMANDS:  # the estimated command's flags, and its own
        command, rest, flags = rest[0], rest[1:], flags | known_flags(rest[0])
    refuse_unknown_flags(rest, flags)
    if "--config" in rest:
        recipe = rest[rest.index("--config") + 1]
        if recipe.startswith("recipes/"):
            assert (ROOT / recipe).is_file(), f"no such recipe: {recipe}"
            check_recipe_keys(ROOT / recipe, flags)
    return "baton-tta"


def test_every_documented_command_names_a_command_flags_and_recipes_that_exist():
    wrappers = wrapper_commands()
    targets = set(re.findall(r"^([\w-]+):", (ROOT / "Makefile").read_text(encoding="utf-8"), flags=re.M))
    kinds: dict[str, int] = {}
    for where, line in command_lines():
        try:
            kind = check(line, wrappers, targets)
        except (AssertionError, SystemExit) as error:
            pytest.fail(f"{where}: {error}")
        kinds[kind] = kinds.get(kind, 0) + 1
    assert kinds["baton-tta"] > 60 and kinds["make"] >= 3, kinds


def test_a_drifted_command_is_caught():
    """The check itself fails on a renamed flag, a missing recipe, a recipe key and a missing script."""
    wrappers, targets = wrapper_commands(), {"test"}
    with pytest.raises(SystemExit, match="did you mean --learning_rate"):
        check(".venv/bin/baton-tta train --learnig_rate 1", wrappers, targets)
    with pytest.raises(AssertionError, match="no such recipe"):
        check("accelerate launch trainers/train.py --config recipes/gone.yaml", wrappers, targets)
    with pytest.raises(SystemExit, match=r"unknown keys: .*beta \(did you mean dpo_beta\?\)"):
        check("accelerate launch trainers/train_dpo.py --config recipes/toy.yaml", wrappers, targets)
    with pytest.raises(pytest.fail.Exception, match=r"no such script: benchmarks/gone\.py"):
        check(".venv/bin/python benchmarks/gone.py", wrappers, targets)
    with pytest.raises(AssertionError, match="no such make target"):
        check("make tset", wrappers, targets)

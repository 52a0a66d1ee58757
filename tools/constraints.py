"""The pinned environment: what ``constraints.txt`` holds and whether the installed packages match it.

``make setup`` installs with ``-c constraints.txt`` so the suite, the demo and CI run on the exact
versions the suite last passed on; ``make upgrade-constraints`` re-resolves to the newest releases in a
separate venv, runs the suite there and, if it passes, runs this file to write the new pins::

    python tools/constraints.py > constraints.txt

torch is left out (``make TORCH_SPEC=…`` chooses the build for the hardware), and so are the
installers (pip, setuptools, wheel) and baton-tta itself.
"""

from __future__ import annotations

import re
import sys
from importlib import metadata
from pathlib import Path

#: chosen elsewhere (torch: TORCH_SPEC) or not part of what the suite runs on
UNPINNED = {"baton-tta", "torch", "pip", "setuptools", "wheel"}
HEADER = (
    "# The exact versions the test suite passed on (make setup installs with them; pyproject.toml keeps\n"
    "# the ranges library users get). Written by `make upgrade-constraints`; do not edit by hand.\n"
)


def canonical(name: str) -> str:
    """A distribution name as pip compares names (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def installed() -> dict[str, str]:
    """Every installed distribution's version by canonical name, the unpinned ones left out."""
    found = {canonical(d.metadata["Name"]): d.version for d in metadata.distributions()}
    return {name: version for name, version in found.items() if name not in UNPINNED}


def read(path: str | Path) -> dict[str, str]:
    """``name==version`` lines of a constraints file by canonical name (comments and blanks skipped)."""
    pins = {}
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        name, sep, version = line.partition("==")
        if not sep or not version:
            raise ValueError(f"{path}, line {number}: expected 'name==version', got {line!r}")
        pins[canonical(name)] = version.strip()
    return pins


def mismatches(pins: dict[str, str], found: dict[str, str]) -> list[str]:
    """What differs between the pins and the environment, one line each (empty when they agree)."""
    lines = [
        f"{name}: pinned {version}, installed {found.get(name, 'nothing')}"
        for name, version in sorted(pins.items())
        if found.get(name) != version
    ]
    lines += [f"{name}: installed {found[name]}, not pinned" for name in sorted(found.keys() - pins.keys())]
    return lines


def render(found: dict[str, str]) -> str:
    return HEADER + "".join(f"{name}=={found[name]}\n" for name in sorted(found))


if __name__ == "__main__":
    sys.stdout.write(render(installed()))

"""The pinned environment: ``make setup`` installed exactly what ``constraints.txt`` pins, and every
floor in ``pyproject.toml`` is a version the suite passed on (the pinned one)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import tomllib
from tools.constraints import canonical, installed, mismatches, read, render

ROOT = Path(__file__).resolve().parents[1]
CONSTRAINTS = ROOT / "constraints.txt"


def test_the_installed_packages_are_the_pinned_ones():
    """What CI and `make test` run on is what constraints.txt says (an upstream release cannot slip in)."""
    assert mismatches(read(CONSTRAINTS), installed()) == []


#: extras the dev set-up cannot install, so no suite run pins them: audiobox-aesthetics needs
#: torchaudio, which a plain pip resolves to another torch build than the one chosen
OUTSIDE_THE_DEV_SET_UP = {"aesthetics"}


def test_every_floor_in_pyproject_is_the_pinned_version():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = list(project["dependencies"])
    extras = project["optional-dependencies"]
    for name, extra in extras.items():
        if name not in OUTSIDE_THE_DEV_SET_UP:
            requirements += extra
    unpinnable = {
        canonical(re.split(r"[<>=\[]", r)[0]) for name in OUTSIDE_THE_DEV_SET_UP for r in extras[name]
    }
    assert not unpinnable & {canonical(re.split(r"[<>=\[]", r)[0]) for r in extras["dev"]}
    pins = read(CONSTRAINTS)
    floors = {}
    for requirement in requirements:
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)(?:\[[^\]]+\])?(>=|==)([^,;]+).*", requirement)
        assert match, f"pyproject.toml: {requirement!r} has no floor"
        floors[canonical(match.group(1))] = match.group(3)
    floors.pop("torch")  # chosen by TORCH_SPEC, checked below
    assert {name: pins.get(name) for name in floors} == floors
    torch_spec = re.search(r"TORCH_SPEC \?= torch==(\S+)", (ROOT / "Makefile").read_text()).group(1)
    assert project["dependencies"][0] == f"torch>={torch_spec}"


def test_mismatches_name_every_difference_and_render_reads_back(tmp_path):
    pins = {"diffusers": "0.42.1", "trl": "1.16.0"}
    found = {"diffusers": "0.43.0", "peft": "0.21.2"}
    assert mismatches(pins, found) == [
        "diffusers: pinned 0.42.1, installed 0.43.0",
        "trl: pinned 1.16.0, installed nothing",
        "peft: installed 0.21.2, not pinned",
    ]
    path = tmp_path / "constraints.txt"
    path.write_text(render(found))
    assert read(path) == found


def test_a_malformed_pin_is_refused_with_file_and_line(tmp_path):
    path = tmp_path / "constraints.txt"
    path.write_text("# header\ndiffusers==0.42.1\ntransformers>=5\n")
    with pytest.raises(ValueError, match=r"constraints\.txt, line 3: expected 'name==version'"):
        read(path)


def test_upgrade_constraints_writes_pins_only_after_the_suite_passes_unconstrained():
    """`make upgrade-constraints` (dry run): install without the pins, run the suite, then write them."""
    import subprocess

    plan = subprocess.run(
        ["make", "-n", "upgrade-constraints"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    install = next(i for i, line in enumerate(plan) if 'pip install -q -e ".[dev]"' in line)
    suite = next(i for i, line in enumerate(plan) if "-m pytest" in line)
    write = next(i for i, line in enumerate(plan) if "tools/constraints.py > constraints.txt" in line)
    assert install < suite < write and "-c constraints.txt" not in plan[install]

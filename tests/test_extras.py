"""A missing optional dependency is named with the extra that installs it (as diffusers' and TRL's are)."""

from __future__ import annotations

import subprocess
import sys

import pytest

CASES = {
    "gradio": ("import baton_tta.annotate.app", "the annotation app", "annotate"),
    "evaluate": ("import baton_tta.metrics.evaluate_metric", "the evaluate metrics", "evaluate"),
    "tensorboard": (
        "from baton_tta.trainer import RewardWeightedDiffusionConfig as C; "
        "C(output_dir='out', report_to=['tensorboard'], use_cpu=True)",
        "report_to tensorboard",
        "tensorboard",
    ),
    "audiobox_aesthetics": (
        "from baton_tta.scorers import load_scorer; load_scorer('aesthetics:PQ')",
        "the aesthetics scorer",
        "aesthetics",
    ),
}


@pytest.mark.parametrize("module", sorted(CASES))
def test_a_missing_extra_is_named_with_its_install_command(module, tmp_path):
    statement, purpose, extra = CASES[module]
    hide = f"import sys; sys.modules[{module!r}] = None; "  # what an environment without it imports
    result = subprocess.run(
        [sys.executable, "-c", hide + statement], capture_output=True, text=True, cwd=tmp_path, timeout=300
    )
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"ImportError: {purpose}")
    assert last.endswith(f"needs {module}, an optional dependency: pip install 'baton-tta[{extra}]'")


def test_the_extras_named_are_the_projects():
    from pathlib import Path

    import tomllib

    from baton_tta.extras import EXTRAS

    project = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())
    declared = project["project"]["optional-dependencies"]
    for module, extra in EXTRAS.items():
        assert any(requirement.replace("-", "_").startswith(module) for requirement in declared[extra]), (
            module,
            extra,
        )

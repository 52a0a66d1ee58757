"""``benchmarks/gpu.py`` at tiny size on CPU: the GPU run's code, so it cannot fail there on a typo. The
tables must hold every configuration with finite, positive measurements and the precision checks."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def _tables(output: str) -> dict[str, list[list[str]]]:
    """Markdown tables by the ``## `` heading above each (separator rows dropped)."""
    tables: dict[str, list[list[str]]] = {}
    heading = None
    for line in output.splitlines():
        if line.startswith("## "):
            heading = line[3:].strip()
        elif line.startswith("|") and heading and not set(line) <= set("|-: "):
            tables.setdefault(heading, []).append([cell.strip() for cell in line.strip("|").split("|")])
    return tables


DISPLAY = {
    "TangoPipeline": "TANGO",
    "StableAudioPipeline": "Stable Audio Open",
    "StableAudio3Pipeline": "Stable Audio 3",
}


@pytest.fixture(autouse=True)
def _benchmarks_importable(monkeypatch):
    """``gpu.py`` imports its neighbours (``published_pipelines``) as its own folder's modules."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))


def _printed(tmp_path, *words: str) -> str:
    """``gpu.py --size tiny`` in this process (its ``main``, from its folder's copy of the file), with
    the working directory a fresh folder; what it prints."""
    import contextlib
    import io
    import runpy

    benchmark = runpy.run_path(str(BENCHMARKS / "gpu.py"), run_name="gpu_benchmark")
    printed = io.StringIO()
    with contextlib.chdir(tmp_path), contextlib.redirect_stdout(printed):
        benchmark["main"](["--size", "tiny", *words])
    output = printed.getvalue()
    assert re.search(r"dense matmul [\d.]+ TFLOP/s", output)
    return output


def _run(tmp_path, family_name: str, phase: str, *extra: str) -> dict[str, list[list[str]]]:
    """One family's phase: its tables, read back."""
    return _tables(_printed(tmp_path, "--families", family_name, "--phases", phase, *extra))


def test_the_plan_gives_each_phases_minutes_before_it_starts_and_plan_alone_stops_there(tmp_path):
    """Minutes from the FLOPs ``baton-tta estimate`` counts at the given rate; GRPO runs on TANGO
    only; ``--plan`` prints no measurement."""
    output = _printed(
        tmp_path, "--families", "TangoPipeline", "StableAudio3Pipeline", "--phases", "train", "generate",
        "grpo", "--tflops", "0.001", "--plan",
    )  # fmt: skip
    rows = {line.split("|")[1].strip(): line.split("|")[2:-1] for line in output.splitlines()
            if line.startswith("| ") and "Pipeline" in line}  # fmt: skip
    assert sorted(rows) == ["StableAudio3Pipeline", "TangoPipeline"]
    assert all(float(cell) > 0 for cell in rows["TangoPipeline"])
    assert rows["StableAudio3Pipeline"][2].strip() == "—"
    total = float(re.search(r"Total ≈ ([\d.]+) min", output).group(1))
    shown = sum(float(cell) for cells in rows.values() for cell in cells if cell.strip() != "—")
    assert total == pytest.approx(shown, abs=0.1 * len(rows) * 3)
    assert "## " not in output  # nothing measured


@pytest.mark.slow
@pytest.mark.parametrize("family_name", sorted(DISPLAY))
def test_the_gpu_benchmarks_training_table_at_tiny_size(tmp_path, family_name):
    """One family and phase per test (``--families``, ``--phases``): they run side by side. TANGO's
    runs with ``--check``: each row's estimated peak (``baton-tta estimate``, the same settings) and
    the ratio to the measured one — on a CPU there is no measured peak, so the ratio is a dash."""
    check = family_name == "TangoPipeline"
    tables = _run(tmp_path, family_name, "train", *(["--check"] if check else []))
    family = DISPLAY[family_name]
    assert list(tables) == [f"{family}: training"]
    header, *rows = tables[f"{family}: training"]
    assert header[:3] == ["mode", "checkpointing", "compile"]
    configurations = {tuple(row[:3]) for row in rows}
    assert configurations == {
        (mode, checkpointing, compiled)
        for mode in ("full", "LoRA")
        for checkpointing, compiled in (("off", "off"), ("off", "on"), ("on", "off"))
    }
    for row in rows:
        trainer, bare, ratio, alone = (float(cell) for cell in row[3:7])
        assert trainer > 0 and bare > 0 and alone > 0
        half = 0.0005  # the seconds are printed to three decimals
        assert (trainer - half) / (bare + half) - 0.005 <= ratio <= (trainer + half) / (bare - half) + 0.005
        assert float(row[8].rstrip(" %")) > 0  # MFU (timings on a busy CPU bound nothing more)
    if check:
        assert header[-2:] == ["estimated GiB", "measured ÷ estimated"]
        estimated = {(row[0], row[1]): float(row[-2]) for row in rows if row[2] == "off"}
        assert all(value > 0 for value in estimated.values())
        assert estimated[("LoRA", "on")] < estimated[("full", "off")]  # what each setting is for
        assert {row[-1] for row in rows} == {"—"}
    else:
        assert len(header) == 9  # no estimate without --check


@pytest.mark.slow
@pytest.mark.parametrize("family_name", sorted(DISPLAY))
def test_the_gpu_benchmarks_generation_table_at_tiny_size(tmp_path, family_name):
    tables = _run(tmp_path, family_name, "generate")
    family = DISPLAY[family_name]
    assert list(tables) == [f"{family}: generation"]
    _, *rows = tables[f"{family}: generation"]
    assert [(row[0], row[1]) for row in rows] == [
        (precision, batch) for precision in ("no", "bf16", "fp16") for batch in ("1", "2")
    ]
    differences = {row[0]: float(row[4]) for row in rows}
    assert differences["no"] == 0.0 and 0 < differences["bf16"] < 0.1 and 0 < differences["fp16"] < 0.1
    assert all(math.isfinite(float(row[2])) for row in rows)  # a difference of two timings: any sign


@pytest.mark.slow
def test_the_gpu_benchmarks_grpo_row_at_tiny_size(tmp_path):
    tables = _run(tmp_path, "TangoPipeline", "grpo")
    (grpo,) = list(tables)
    assert grpo.startswith("TANGO: GRPO") and float(tables[grpo][1][0]) > 0

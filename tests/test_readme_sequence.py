"""The README's offline commands, run in the order the README gives them, each reading what the
previous ones wrote. Two simulated annotators stand in for the browser between generating clips and
exporting labels; everything else is the README's text, parsed from the blocks marked
``<!-- offline-sequence -->``."""

from __future__ import annotations

import itertools
import json
import re
import shlex
import shutil
from pathlib import Path

import pytest

from baton_tta.annotate import ClipSet, LabelStore
from baton_tta.cli import main
from baton_tta.data import load_preference_dataset

ROOT = Path(__file__).resolve().parents[1]
MARKER = "<!-- offline-sequence -->"
OUTPUT_FLAGS = {"--output_dir"}


def readme_sequence(marker: str = MARKER, page: Path = ROOT / "README.md") -> list[list[str]]:
    """The ``baton-tta`` commands of the blocks marked ``marker`` in ``page`` (the README unless
    another page is named), in their order, as argument lists."""
    text = page.read_text(encoding="utf-8")
    commands = []
    for block in re.findall(re.escape(marker) + r"\s*```bash\n(.*?)```", text, flags=re.S):
        joined = re.sub(r"\\\n\s*", " ", block)
        for line in joined.splitlines():
            line = line.split("#", 1)[0].strip()
            if line:
                words = shlex.split(line)
                assert words[0] == ".venv/bin/baton-tta", f"marked README command is not baton-tta: {line}"
                commands.append(words[1:])
    return commands


def _annotate_as_two_people(store_path: Path, clips_dir: Path) -> None:
    """What people do in the browser: two annotators agree on the first 16 clips (alternating
    aligned / not aligned); the rest stay unlabelled for the reward model."""
    clips = ClipSet.load(str(clips_dir))
    store = LabelStore(store_path, app_version="test")
    for index, clip_id in enumerate(sorted(clips.clip_ids)[:16]):
        for annotator in ("alice", "bob"):
            store.add(clip_id, annotator, index % 2)


def _inputs(argv: list[str]) -> list[str]:
    """Paths under outputs/ that a command reads (every outputs/ value not given to --output_dir)."""
    values = [(flag, value) for flag, value in itertools.pairwise(argv) if flag.startswith("--")]
    paths = [v.split("=", 1)[-1] for flag, v in values if flag not in OUTPUT_FLAGS]
    return [p for p in paths if p.startswith("outputs/")]


@pytest.mark.slow
def test_readme_offline_commands_compose(tmp_path, monkeypatch):
    commands = readme_sequence()
    names = [c[0] for c in commands]
    assert names == [
        "make-prompts",
        "generate-audio",
        "build-eval-sets",
        "export-labels",
        "train-reward-model",
        "label-with-reward-model",
        "train",
        "label-with-reward-model",
        "evaluate",
    ]
    for folder in ("examples", "recipes"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    monkeypatch.chdir(tmp_path)
    written: set[str] = set()
    for argv in commands:
        if argv[0] == "export-labels":  # the README's `annotate` step, done by two simulated people
            _annotate_as_two_people(Path("outputs/labels.sqlite"), Path("outputs/clips/dataset"))
        for path in _inputs(argv):
            assert Path(path).exists(), f"{argv[0]} reads {path}, which no earlier command wrote"
        assert main(argv) == 0
        output = argv[argv.index("--output_dir") + 1]
        assert Path(output).exists() and output not in written, f"{argv[0]} must write its own folder"
        written.add(output)

    assert len(labels := load_preference_dataset("outputs/labels")) == 24  # 8 prompts x 3 clips
    assert labels["label"].count(-1) == 8  # 16 of 24 clips labelled by both people
    labelled = load_preference_dataset("outputs/labelled/dataset")
    assert set(labelled["source"]) == {"human", "reward_model"}
    assert Path("outputs/reward-model/model.safetensors").is_file()
    assert "baton" in Path("outputs/baton-tango/README.md").read_text()
    report = json.loads(Path("outputs/evaluation/results.json").read_text())
    results = report["results"]
    assert set(results) == {"base", "baton"} and results["base"]["CLAP"] != results["baton"]["CLAP"]
    assert all(0 < row["judge:tiny-random"] < 1 for row in results.values())  # the judge's column
    assert (
        report["caption_set"]["source"] == "outputs/eval_sets/integrity"
        and report["scorers"][0]["scorer"] == "judge"
    )
    judged = load_preference_dataset("outputs/judged/dataset")
    assert judged["source"] == labelled["source"]
    scored = [r for r, s in zip(judged["reward"], judged["source"], strict=True) if s == "reward_model"]
    assert scored and scored != [
        r for r, s in zip(labelled["reward"], labelled["source"], strict=True) if s == "reward_model"
    ]
    assert [d["scorer"] for d in json.loads(Path("outputs/judged/scorers.json").read_text())] == [
        "judge",
        "reward-model",
    ]

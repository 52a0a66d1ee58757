"""docs/reproduce_baton.md's offline commands, run as written on a miniature BATON release with the
real release's layout, file shapes (JSON Lines, JSON arrays, grouped ratings) and keys, including its
quirks: 3-label RA rows naming the 2-label RD folder and grouped ratings repeating the HA labels."""

from __future__ import annotations

import csv
import json
import re
import shlex
from importlib import resources
from pathlib import Path

import soundfile as sf
from datasets import load_from_disk

from baton_tta.cli import main
from helpers import sine

ROOT = Path(__file__).resolve().parents[1]
MARKER = "<!-- guide-offline -->"


def guide_commands() -> list[list[str]]:
    text = (ROOT / "docs" / "reproduce_baton.md").read_text(encoding="utf-8")
    commands = []
    for block in re.findall(re.escape(MARKER) + r"\s*```bash\n(.*?)```", text, flags=re.S):
        for line in re.sub(r"\\\n\s*", " ", block).splitlines():
            if line.strip():
                words = shlex.split(line)
                assert words[0] == "baton-tta", line
                commands.append(words[1:])
    return commands


def _jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))


def _clip(folder: Path, name: str, index: int) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    sf.write(folder / name, sine(16000, 0.2, 200 + 37 * index), 16000)
    return name


def _miniature_release(root: Path) -> None:
    data, audio = root / "Baton" / "data", root / "Baton" / "data" / "Audio"
    for task, labels, folder in (("2", 2, "Integrity"), ("3", 3, "Temporal")):
        hd, rd = audio / f"{task}label_{folder}_HD_Audio", audio / f"{task}label_{folder}_RD_Audio"
        ha, grouped, ra = [], {}, []
        for caption_index in range(3):
            caption = f"Caption {caption_index} of the {labels}-label task, then more"
            for clip in range(5):
                name = _clip(hd, f"{caption_index:04d}_{caption}_{clip}.wav", caption_index * 5 + clip)
                label = (caption_index + clip) % 2
                ha.append(
                    {
                        "dataset": f"{task}label_HA",
                        "location": f"Baton/data/Audio/{hd.name}/{name}",
                        "captions": caption,
                        "feedback": label,
                    }
                )
                grouped.setdefault(caption, {})[name] = float(label)
            name = _clip(rd, f"{caption_index + 10:04d}_{caption} again_0.wav", 40 + caption_index)
            ra.append(
                {
                    "dataset": f"{task}label_RA",
                    # the release's 3-label RA rows name the 2-label folder
                    "location": f"Baton/data/Audio/2label_Integrity_RD_Audio/{name}",
                    "captions": f"{caption} again",
                    "SED": round(0.2 + 0.3 * caption_index, 3),
                }
            )
        _jsonl(data / "HA" / f"{task}label_HA.json", ha)
        _jsonl(data / "RM" / f"{task}label_RA.json", ra)
        (data / "RM" / f"grouped_ratings_{task}label.json").write_text(
            json.dumps({"grouped_ratings": grouped}, indent=4)
        )
    train = [
        {
            "dataset": "audiocaps",
            "location": f"Baton/data/audiocaps/train/{_clip(root / 'audiocaps' / 'train', f'yt{i}_30.wav', 60 + i)}",
            "captions": f"A dog barks {i} times",
        }
        for i in range(4)
    ]
    _jsonl(data / "Audiocaps" / "train_audiocaps.json", train)
    for name, size in (("test_audiocaps_2label.json", 3), ("test_audiocaps_3label.json", 2)):
        rows = [
            {
                "dataset": "audiocaps",
                "location": f"/data/deep/audioset/data/clip{size}{i}_{10 * i}.wav",
                "captions": f"A man speaks as birds chirp {i}",
            }
            for i in range(size)
        ]
        (data / "Audiocaps" / name).write_text(json.dumps(rows, indent=4))
    counts = (
        resources.files("baton_tta.prompts").joinpath("data", "audiocaps_label_counts.csv").read_text("utf-8")
    )
    classes = sorted(csv.DictReader(counts.splitlines()), key=lambda row: int(row["index"]))
    with open(root / "class_labels_indices.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["index", "mid", "display_name"])
        writer.writerows([row["index"], row["mid"], row["display_name"]] for row in classes)


def test_guide_offline_commands_run_on_a_miniature_release(tmp_path, monkeypatch, capsys):
    commands = guide_commands()
    assert [c[0] for c in commands] == [
        "make-prompts",
        "convert-baton-official",
        "convert-baton-official",
        "convert-baton-audiocaps",
        "build-eval-sets",
    ]
    _miniature_release(tmp_path)
    monkeypatch.chdir(tmp_path)
    for argv in commands:
        assert main(argv) == 0, argv
    printed = capsys.readouterr().out
    assert "962 prompts written" in printed
    prompts = load_from_disk("baton-prompts")
    assert prompts["task"].count("integrity") == 481 and set(prompts["caption_source"]) == {"template"}
    assert (
        "integrity human: 15 (7 aligned, 8 not, 0 skip); integrity reward_model: 3 (mean reward 0.500)"
        in printed
    )
    temporal = load_from_disk("baton-labels/temporal")
    assert len(temporal) == 18 and set(temporal["task"]) == {
        "temporal"
    }  # 15 HA (grouped repeats dropped) + 3 RA
    assert len(load_from_disk("baton-pretrain")) == 4
    eval_integrity = load_from_disk("baton-eval-sets/integrity")
    assert eval_integrity["clip_id"] == ["clip30_0", "clip31_10", "clip32_20"]
    assert len(load_from_disk("baton-eval-sets/temporal")) == 2

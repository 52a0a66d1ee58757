"""The README's "will it fit" table: every GPU recipe's estimated peak at its family's published size
(``baton-tta estimate``; fake tensors on the CPU), and the smallest common card it fits.

    .venv/bin/python benchmarks/estimate_recipes.py [recipe ...]     # ~45 s a recipe on 2 cores
"""

from __future__ import annotations

import contextlib
import io
import sys
import time
from pathlib import Path

from baton_tta.cli import main as cli
from baton_tta.estimate.report import CARDS

ROOT = Path(__file__).resolve().parents[1]
#: recipe → (command, family): the GPU recipes (the toy and tiny ones are estimated in the suite; the
#: reward model trains on the CPU)
GPU_RECIPES = {
    "baton_tango_integrity.yaml": ("train", "TangoPipeline"),
    "baton_tango_temporal.yaml": ("train", "TangoPipeline"),
    "baton_tango_official.yaml": ("train", "TangoPipeline"),
    "baton_tango_lora_24gb.yaml": ("train", "TangoPipeline"),
    "kto_tango_temporal.yaml": ("train-kto", "TangoPipeline"),
    "crpo_tango.yaml": ("train-crpo", "TangoPipeline"),
    "baton_stable_audio_open_lora.yaml": ("train", "StableAudioPipeline"),
    "baton_stable_audio_3_lora.yaml": ("train", "StableAudio3Pipeline"),
    "baton_audioldm2.yaml": ("train", "AudioLDM2Pipeline"),
}


def estimated(recipe: str) -> tuple[float, float]:
    """(peak GiB, GiB a card needs) as ``baton-tta estimate`` prints them for the recipe."""
    command, family = GPU_RECIPES[recipe]
    shown = io.StringIO()
    with contextlib.redirect_stdout(shown):
        # a card no recipe misses: the peak alone, no changes tried
        cli(
            [
                "estimate",
                command,
                "--config",
                str(ROOT / "recipes" / recipe),
                "--family",
                family,
                "--card_gib",
                "1000",
            ]
        )
    lines = shown.getvalue().splitlines()
    peak = next(line for line in lines if line.startswith("| **peak**"))
    needs = next(line for line in lines if line.startswith("| a card needs"))
    return float(peak.split("**")[3]), float(needs.rsplit("|", 2)[1])


def row(recipe: str) -> str:
    peak, needs = estimated(recipe)
    smallest = next((card for card, gib in CARDS.items() if needs <= gib), "none of the common cards")
    return f"| `{recipe}` | {peak:.1f} | {needs:.1f} | {smallest} |"


def main(recipes: list[str] | None = None) -> None:
    print("| recipe | estimated peak (GiB) | a card needs (GiB) | smallest card it fits |")
    print("|---|---:|---:|---|")
    start = time.perf_counter()
    for recipe in recipes or GPU_RECIPES:
        print(row(recipe), flush=True)
    print(f"\n({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main(sys.argv[1:])

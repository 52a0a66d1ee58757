"""How long ``baton-tta --help``, ``import baton_tta`` and a refused mistake (a mistyped flag, a
missing recipe or input: checked before the heavy imports) take in a fresh process (median of 5),
beside ``import torch``, ``import diffusers`` and a command's full ``--help`` for scale.

    .venv/bin/python benchmarks/cli_startup.py
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

CLI = Path(sys.executable).with_name("baton-tta")
COMMANDS = {
    "baton-tta --help": [str(CLI), "--help"],
    "import baton_tta": [sys.executable, "-c", "import baton_tta"],
    "import torch": [sys.executable, "-c", "import torch"],
    "import diffusers": [sys.executable, "-c", "import diffusers"],
    "baton-tta train --learnign_rate 1 (refused)": [str(CLI), "train", "--learnign_rate", "1"],
    "baton-tta train --config gone.yaml (refused)": [str(CLI), "train", "--config", "gone.yaml"],
    "baton-tta evaluate --eval_set gone.csv (refused)": [str(CLI), "evaluate", "--eval_set", "gone.csv"],
    "baton-tta train --help (every import)": [str(CLI), "train", "--help"],
}


def seconds(command: list[str], runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, check=False, capture_output=True)  # the refused ones exit 1
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    print("| command | median seconds (5 runs) |\n|---|---:|")
    for name, command in COMMANDS.items():
        print(f"| `{name}` | {seconds(command):.2f} |")


if __name__ == "__main__":
    main()

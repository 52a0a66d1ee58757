"""How long ``baton-tta --help`` and ``import baton_tta`` take in a fresh process (median of 5),
beside ``import torch`` and ``import diffusers`` for scale.

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
}


def seconds(command: list[str], runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    print("| command | median seconds (5 runs) |\n|---|---:|")
    for name, command in COMMANDS.items():
        print(f"| `{name}` | {seconds(command):.2f} |")


if __name__ == "__main__":
    main()

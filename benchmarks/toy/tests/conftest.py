"""The lab's tests import its package (``toy``) from ``benchmarks/``, as its scripts do."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

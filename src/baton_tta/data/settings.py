"""Settings refused when a config is built (:class:`SettingsError`); numeric ones must be finite.

A NaN setting does not fail loudly: every comparison with it is false, so ``beta > 0`` switched GRPO's
KL penalty off and ``guidance_scale > 1`` switched guidance off while the run exited 0 (third trust
pass). Every config and every command's arguments pass through :func:`check_finite_settings`.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any


class SettingsError(ValueError):
    """A setting the user gave is refused: the message says which and what to pass instead (at the
    command line it is one line, no traceback: :func:`baton_tta.cli.user_errors`)."""


def non_finite_settings(settings: Any) -> dict[str, Any]:
    """The dataclass fields of ``settings`` holding a NaN or infinite float (or a list with one)."""
    found = {}
    for item in dataclasses.fields(settings):
        value = getattr(settings, item.name, None)
        values = value if isinstance(value, list | tuple) else [value]
        if any(isinstance(v, float) and not math.isfinite(v) for v in values):
            found[item.name] = value
    return found


def check_finite_settings(settings: Any) -> None:
    """Raise naming every NaN or infinite numeric setting of ``settings`` (a dataclass)."""
    found = non_finite_settings(settings)
    if found:
        listed = ", ".join(f"{name}={value!r}" for name, value in found.items())
        raise SettingsError(
            f"{type(settings).__name__}: numeric settings must be finite numbers, got {listed} "
            "(a NaN compares false with everything and an infinity saturates whatever it scales: either "
            "would silently change what the run does)"
        )

"""Settings refused when a config is built (:class:`SettingsError`); numeric ones must be finite.

A NaN setting does not fail loudly: every comparison with it is false, so ``beta > 0`` switched GRPO's
KL penalty off and ``guidance_scale > 1`` switched guidance off while the run exited 0 (third trust
pass). Every config and every command's arguments pass through :func:`check_finite_settings`.
"""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from collections.abc import Mapping
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


#: names of settings that hold credentials: refused inside any mapping of settings (a mapping is
#: written whole into run records and cards), whatever its case or prefix
SECRET_NAME = re.compile(r"token|secret|password|api_key|credential", re.IGNORECASE)

_TRUE, _FALSE = {"true", "yes", "1", "on"}, {"false", "no", "0", "off"}


def typed_settings(settings: Mapping[str, Any], config_class: type, where: str) -> dict[str, Any]:
    """A mapping of settings (``objective_args``, a JSON or YAML object) checked against
    ``config_class``'s field types as a flag would be: ``"false"`` for a bool is False (never truthy),
    ``"3"`` for an int is 3, a number is finite, a value of the wrong kind is refused naming the
    setting, and credentials are refused (they would be written with the mapping). ``where`` names
    the mapping in messages."""
    hints = typing.get_type_hints(config_class)
    fields = {f.name for f in dataclasses.fields(config_class) if f.init}
    typed = {}
    for name, value in settings.items():
        if SECRET_NAME.search(name):
            raise SettingsError(
                f"{where}: {name} is a credential and is never taken from a mapping of settings (it would be "
                "written into run.json and the card): log in with `hf auth login` or set HF_TOKEN"
            )
        if name not in fields:
            continue  # the caller names the unknown ones with the fields it knows
        try:
            typed[name] = _as_type(value, hints.get(name, Any))
        except (TypeError, ValueError) as error:
            raise SettingsError(f"{where}: {name}={value!r}: {error}") from None
    return typed


def _as_type(value: Any, hint: Any) -> Any:
    """``value`` as ``hint`` (bool, int, float, str, a union or optional of them; other hints as given)."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in (o for o in options if o is not type(None)):
            try:
                return _as_type(value, option)
            except (TypeError, ValueError) as error:
                errors.append(str(error))
        raise ValueError(" or ".join(errors))
    if hint is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        raise ValueError("expected true or false")
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise ValueError("expected a whole number")
        return int(value)
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise ValueError("expected a number")
        try:
            number = float(value)
        except ValueError:
            raise ValueError("expected a number") from None
        if not math.isfinite(number):
            raise ValueError("expected a finite number")
        return number
    if hint is str:
        if not isinstance(value, str):
            raise ValueError("expected text")
        return value
    return value

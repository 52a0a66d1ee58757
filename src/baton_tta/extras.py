"""Optional dependencies, imported with a message that names the extra to install.

As diffusers' ``requires_backends`` and TRL's ``import_utils`` do: a user who runs the annotation app
without gradio should read ``pip install 'baton-tta[annotate]'``, not a bare ``ModuleNotFoundError``.
"""

from __future__ import annotations

import importlib
from types import ModuleType

#: importable module → the extra of ``pyproject.toml`` that installs it
EXTRAS = {
    "gradio": "annotate",
    "evaluate": "evaluate",
    "tensorboard": "tensorboard",
    "playwright": "browser",
    "audiobox_aesthetics": "aesthetics",
}


def require(module: str, purpose: str) -> ModuleType:
    """Import ``module`` (a key of :data:`EXTRAS`) or fail saying what needed it and how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise ImportError(
            f"{purpose} needs {module}, an optional dependency: pip install 'baton-tta[{EXTRAS[module]}]'"
        ) from error

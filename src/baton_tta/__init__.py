"""baton-tta: BATON (arXiv 2402.00744) preference alignment for text-to-audio diffusion models.

The top level is lazy, as diffusers' and TRL's are: ``import baton_tta`` (and so ``baton-tta
--help``) loads no torch or diffusers until ``TangoPipeline`` is asked for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0.dev0"

__all__ = ["TangoPipeline", "__version__"]

if TYPE_CHECKING:
    from baton_tta.pipelines.pipeline_tango import TangoPipeline


def __getattr__(name: str) -> Any:
    if name == "TangoPipeline":
        from baton_tta.pipelines.pipeline_tango import TangoPipeline

        return TangoPipeline
    raise AttributeError(f"module 'baton_tta' has no attribute {name!r}")

"""baton-tta: BATON (arXiv 2402.00744) preference alignment for TANGO text-to-audio diffusion."""

from baton_tta.pipelines.pipeline_tango import TangoPipeline

__version__ = "0.1.0.dev0"

__all__ = ["TangoPipeline", "__version__"]

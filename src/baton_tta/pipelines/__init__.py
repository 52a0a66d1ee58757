"""TANGO as a diffusers pipeline, and the converter from TANGO's original checkpoints."""

from baton_tta.pipelines.pipeline_tango import TangoPipeline

__all__ = ["TangoPipeline"]

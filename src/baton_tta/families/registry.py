"""Families registered by pipeline class name, and loading any supported pipeline by folder or Hub id."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from diffusers import DiffusionPipeline

if TYPE_CHECKING:
    from baton_tta.families.base import AudioFamily

FAMILIES: dict[str, type[AudioFamily]] = {}


def register_family(cls: type[AudioFamily]) -> type[AudioFamily]:
    """Class decorator: make ``cls`` the adapter of pipelines whose class is ``cls.pipeline_class_name``."""
    FAMILIES[cls.pipeline_class_name] = cls
    return cls


def family_class(pipeline_class_name: str) -> type[AudioFamily]:
    if pipeline_class_name not in FAMILIES:
        raise ValueError(
            f"no baton-tta family for pipeline class {pipeline_class_name!r}; supported: {sorted(FAMILIES)} "
            "(docs/architecture.md, 'Adding a family')"
        )
    return FAMILIES[pipeline_class_name]


def family_of(pipeline: DiffusionPipeline) -> AudioFamily:
    """The adapter of a loaded pipeline (by its class name, so subclasses need their own entry)."""
    return family_class(type(pipeline).__name__)(pipeline)


def pipeline_class_of(name_or_path: str | os.PathLike) -> str:
    """``_class_name`` of a pipeline folder or Hub id, read from its ``model_index.json`` (a pipeline
    that ships its own code records ``[module, class]``)."""
    name = DiffusionPipeline.load_config(str(name_or_path))["_class_name"]
    return str(name[-1] if isinstance(name, list) else name)


def load_pipeline(name_or_path: str | os.PathLike, **kwargs) -> DiffusionPipeline:
    """Any supported pipeline, through its own class's ``from_pretrained`` (no remote code for the
    diffusers-native families; TANGO's class is this package's)."""
    cls = family_class(pipeline_class_of(name_or_path)).pipeline_class()
    return cls.from_pretrained(str(name_or_path), **kwargs)

"""The model seam: one adapter per diffusers text-to-audio pipeline class, and the noise processes
that train them (docs/architecture.md, "The model seam")."""

from baton_tta.families.audioldm2 import AudioLDM2Family
from baton_tta.families.base import AudioFamily, Conditioning
from baton_tta.families.noise import (
    CosineVProcess,
    DDPMProcess,
    NoiseProcess,
    RectifiedFlowProcess,
    TimestepSettings,
    noise_process_for,
)
from baton_tta.families.registry import FAMILIES, family_class, family_of, load_pipeline, register_family
from baton_tta.families.stable_audio import StableAudioFamily
from baton_tta.families.stable_audio_3 import StableAudio3Family
from baton_tta.families.tango import TangoFamily

__all__ = [
    "FAMILIES",
    "AudioFamily",
    "AudioLDM2Family",
    "Conditioning",
    "CosineVProcess",
    "DDPMProcess",
    "NoiseProcess",
    "RectifiedFlowProcess",
    "StableAudio3Family",
    "StableAudioFamily",
    "TangoFamily",
    "TimestepSettings",
    "family_class",
    "family_of",
    "load_pipeline",
    "noise_process_for",
    "register_family",
]

"""The pretrained toy TANGO and toy CLAP that ship with the package, and how to load them.

Pretraining the toy pipeline takes about five minutes on two CPU cores, too long for the main job's
three-minute budget, so its result ships as safetensors (about 5 MB): the pipeline that the toy
toy world's stage 0 produces with seed 0 (:func:`baton_tta.toy.stages.pretrain_toy_tango`) and the
toy CLAP of :func:`~baton_tta.toy.stages.fit_toy_clap`. Rebuild both, bit for bit on the same machine and thread count, with::

    python -m baton_tta.toy.build_pretrained --output_dir src/baton_tta/toy/pretrained

Nothing here is downloaded; a folder loads with ``TangoPipeline.from_pretrained`` /
``ClapModel.from_pretrained`` like any other.
"""

from __future__ import annotations

from pathlib import Path

from transformers import ClapFeatureExtractor, ClapModel, ClapProcessor

from baton_tta.pipelines.pipeline_tango import TangoPipeline
from baton_tta.tiny import tiny_tokenizer
from baton_tta.toy import vocoder  # noqa: F401  (diffusers resolves the toy-tango vocoder from it)

PRETRAINED_DIR = Path(__file__).resolve().parent / "pretrained"
TANGO_DIR = "toy-tango"
CLAP_DIR = "toy-clap"


def toy_tango_path(root: str | Path = PRETRAINED_DIR) -> Path:
    return Path(root) / TANGO_DIR


def load_toy_tango(root: str | Path = PRETRAINED_DIR) -> TangoPipeline:
    """The pretrained toy TangoPipeline: it renders the toy world's events from captions."""
    return TangoPipeline.from_pretrained(toy_tango_path(root))


def load_toy_clap(root: str | Path = PRETRAINED_DIR) -> tuple[ClapModel, ClapFeatureExtractor]:
    """The toy CLAP (frozen backbone of the toy reward model, and the CLAP-score judge)."""
    path = Path(root) / CLAP_DIR
    return ClapModel.from_pretrained(path).eval(), ClapFeatureExtractor.from_pretrained(path)


def save_toy_clap(clap: ClapModel, extractor: ClapFeatureExtractor, output_dir: str | Path) -> Path:
    path = Path(output_dir) / CLAP_DIR
    clap.save_pretrained(path)
    ClapProcessor(feature_extractor=extractor, tokenizer=tiny_tokenizer()).save_pretrained(path)
    return path

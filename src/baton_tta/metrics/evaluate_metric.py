"""Table 4's metrics as Hugging Face ``evaluate`` metrics, for people who already evaluate that way.

``evaluate.load("evaluate_metrics/frechet_distance")`` (one folder per metric in the repository)
gives a metric whose ``compute(predictions=…, references=…)`` returns the same number as
:mod:`baton_tta.metrics` on the same clips and backbones, because it runs the same code: clips are
embedded by :func:`~baton_tta.metrics.evaluation.embed_clips` and scored by
:func:`~baton_tta.metrics.evaluation.compute_metrics`. ``trainers/evaluate.py`` stays the fast path
(clips generated once, each embedded once for all five metrics).

Inputs: ``predictions`` are generated clips, ``references`` the reference clips (FD, FAD, KL; paired
by position, as ``evaluate`` pairs them) or the captions (CLAP score); IS takes no references. A clip
is a waveform (a list of floats at ``sampling_rate``, default 16 kHz) or an audio file path. Backbones
come from ``backbones=`` (a :class:`~baton_tta.metrics.evaluation.Backbones`) or from the public files
(``cnn14_checkpoint=``, ``vggish_checkpoint=``, ``clap_model=``); nothing is downloaded.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import datasets
import numpy as np

from baton_tta.data.audio import SAMPLING_RATE, decode_audio
from baton_tta.extras import require
from baton_tta.hub.cards import BATON_CITATION
from baton_tta.metrics.evaluation import Backbones, compute_metrics, embed_clips, load_backbones

require("evaluate", "the evaluate metrics (evaluate.load('…/baton-tta-fad'))")  # names the extra
import evaluate  # noqa: E402

# A clip is given as a waveform or as a file path.
_AUDIO_KINDS = (datasets.Sequence(datasets.Value("float32")), datasets.Value("string"))
#: The one backbone each metric runs on: the others are not run (no CLAP pass for FD).
BACKBONE_OF = {"FD": "cnn14", "KL": "cnn14", "IS": "cnn14", "FAD": "vggish", "CLAP": "clap"}


def _waveforms(clips: Sequence[Any], sampling_rate: int, what: str) -> list[np.ndarray]:
    """Each clip (waveform or file path) as float32 mono at 16 kHz; errors name the clip."""
    waves = []
    for index, clip in enumerate(clips):
        value = (
            clip
            if isinstance(clip, str)
            else {"array": np.asarray(clip, np.float32), "sampling_rate": sampling_rate}
        )
        waves.append(decode_audio(value, SAMPLING_RATE, where=f"{what}[{index}]", allow_silent=True))
    return waves


class BatonAudioMetric(evaluate.Metric):
    """One Table 4 metric; subclasses name it (``METRIC``), say what it is and what references are."""

    METRIC: ClassVar[str]
    DESCRIPTION: ClassVar[str]
    CITATION: ClassVar[str] = BATON_CITATION
    REFERENCES: ClassVar[str | None] = "audio"  # "audio", "text" or None (no references)

    def _info(self) -> evaluate.MetricInfo:
        features = []
        for kind in _AUDIO_KINDS:
            inputs = {"predictions": kind}
            if self.REFERENCES == "audio":
                inputs["references"] = kind
            elif self.REFERENCES == "text":
                inputs["references"] = datasets.Value("string")
            features.append(datasets.Features(inputs))
        return evaluate.MetricInfo(
            description=self.DESCRIPTION,
            citation=self.CITATION,
            inputs_description=__doc__ or "",
            features=features,
            reference_urls=["https://arxiv.org/abs/2402.00744", "https://github.com/haoheliu/audioldm_eval"],
        )

    def _compute(
        self,
        predictions: Sequence[Any],
        references: Sequence[Any] | None = None,
        sampling_rate: int = SAMPLING_RATE,
        backbones: Backbones | None = None,
        cnn14_checkpoint: str | None = None,
        vggish_checkpoint: str | None = None,
        clap_model: str | None = None,
    ) -> dict[str, float]:
        given = backbones or load_backbones(cnn14_checkpoint, vggish_checkpoint, clap_model)
        needed = BACKBONE_OF[self.METRIC]
        backbones = Backbones(**{needed: getattr(given, needed)})
        ids = [str(i) for i in range(len(predictions))]
        generated = embed_clips(ids, _waveforms(predictions, sampling_rate, "predictions"), backbones)
        reference = None
        prompts: list[str] = [""] * len(ids)
        if self.REFERENCES == "audio" and references is not None:
            reference = embed_clips(ids, _waveforms(references, sampling_rate, "references"), backbones)
        elif self.REFERENCES == "text" and references is not None:
            prompts = list(references)
        result = compute_metrics(generated, prompts, backbones, reference)
        value = result[self.METRIC]
        if value is None:
            raise ValueError(f"{self.METRIC} needs backbones that were not given (see the metric card)")
        scores = {self.METRIC: value}
        if self.METRIC == "IS" and result.get("IS_std") is not None:
            scores["IS_std"] = result["IS_std"]  # type: ignore[assignment]
        return scores

"""The oracle annotator: hears which toy events a clip holds, and when, from its log-mel spectrogram.

It stands in for BATON's human annotators (paper §3.1) in the toy world: a (caption, clip) pair is
*aligned* when, for an integrity caption, every named event is present, and for a temporal caption,
every named event is present in the stated order — and, in both, no event the caption does not name
is heard (at most ``max_extra_events``). Without that last rule a clip of loud broadband noise, which
lights up every band, would "contain" every caption's events; a person would call it not aligned. ``noise`` flips a label with that probability and
``skip`` answers "skip" (-1) with that probability, as people disagree and pass.

Detection uses only the mel front end the model is trained on (:func:`log_mel_spectrogram`): each
event's band energy per frame, lightly smoothed, compared with a threshold calibrated once on rendered
scenes whose truth is known; an event is present when it stays above threshold for ``min_duration_s``.
Temporal order is the order of the events' activity centroids, which survives the overlaps and smears
of generated audio better than onsets do.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from baton_tta.pipelines.pipeline_tango import _mel_basis, log_mel_spectrogram, prepare_waveform
from baton_tta.toy.events import TOY_EVENTS, ToyEvent, get_event
from baton_tta.toy.synth import SAMPLING_RATE, random_caption_scene, render_scene

HOP_LENGTH = 160
N_MELS = 64
N_FFT = 1024
SMOOTHING_FRAMES = 3
ALIGNED, NOT_ALIGNED, SKIP = 1, 0, -1


@functools.lru_cache(maxsize=1)
def mel_band_centres() -> np.ndarray:
    """Centre frequency (Hz) of each of the 64 mel filters: the filter-weighted mean frequency."""
    basis = _mel_basis(SAMPLING_RATE, N_FFT, N_MELS, 0.0, SAMPLING_RATE / 2).numpy()
    freqs = np.fft.rfftfreq(N_FFT, 1.0 / SAMPLING_RATE)
    return (basis * freqs).sum(axis=1) / basis.sum(axis=1)


@functools.cache
def event_bins(event: ToyEvent) -> np.ndarray:
    """Mel bins whose centre lies in the event's band (the nearest one when none does)."""
    centres = mel_band_centres()
    low, high = event.band_hz
    bins = np.where((centres >= low - 30.0) & (centres <= high + 30.0))[0]
    if len(bins) == 0:
        bins = np.array([int(np.argmin(np.abs(centres - (low + high) / 2)))])
    return bins


def clip_log_mel(waveform: np.ndarray) -> np.ndarray:
    """(frames, 64) log-mel of a 16 kHz clip after TANGO's level normalisation (peak at 0.5)."""
    batch = torch.as_tensor(np.asarray(waveform, dtype=np.float32))[None]
    return log_mel_spectrogram(prepare_waveform(batch, batch.shape[1]))[0].numpy()


def event_activity(mel: np.ndarray) -> np.ndarray:
    """(events, frames) mean log-mel in each event's band, smoothed over a few frames."""
    kernel = np.ones(SMOOTHING_FRAMES) / SMOOTHING_FRAMES
    rows = [np.convolve(mel[:, event_bins(event)].mean(axis=1), kernel, mode="same") for event in TOY_EVENTS]
    return np.stack(rows)


@functools.lru_cache(maxsize=1)
def calibrated_thresholds(num_scenes: int = 240, seed: int = 1234) -> np.ndarray:
    """Per-event activity threshold, set between the event's quiet and loud frames on rendered scenes.

    For each event it takes the 99th percentile of the frames where it is silent and the 5th
    percentile of the frames well inside its placements, and puts the threshold halfway."""
    rng = np.random.default_rng(seed)
    on: list[list[float]] = [[] for _ in TOY_EVENTS]
    off: list[list[float]] = [[] for _ in TOY_EVENTS]
    for index in range(num_scenes):
        _, _, placements = random_caption_scene(index, rng)
        activity = event_activity(clip_log_mel(render_scene(placements, seed=index)))
        frames_s = np.arange(activity.shape[1]) * HOP_LENGTH / SAMPLING_RATE
        for row, event in enumerate(TOY_EVENTS):
            mine = [p for p in placements if get_event(p.event) == event]
            inside = np.zeros_like(frames_s, dtype=bool)
            near = np.zeros_like(frames_s, dtype=bool)
            for p in mine:
                inside |= (frames_s > p.start_s + 0.05) & (frames_s < p.end_s - 0.05)
                near |= (frames_s > p.start_s - 0.08) & (frames_s < p.end_s + 0.08)
            on[row].extend(activity[row, inside])
            off[row].extend(activity[row, ~near])
    return np.array(
        [(np.percentile(off[i], 99) + np.percentile(on[i], 5)) / 2 for i in range(len(TOY_EVENTS))]
    )


@dataclass(frozen=True)
class Detection:
    """What the oracle heard of one event: whether it is there, and when (seconds)."""

    present: bool
    active_s: float
    centroid_s: float | None


def _longest_run(mask: np.ndarray) -> int:
    best = run = 0
    for value in mask:
        run = run + 1 if value else 0
        best = max(best, run)
    return best


class OracleAnnotator:
    """Labels (caption events, task, clip) as aligned (1), not aligned (0) or skipped (-1).

    Args:
        noise: probability of flipping the true label, as a careless or disagreeing person would.
        skip: probability of answering "skip" instead.
        seed: seeds the noise and skips, so a run is reproducible.
        min_duration_s: how long an event must sound, continuously, to count as present.
        max_extra_events: how many events the caption does not name may also be heard.
    """

    def __init__(
        self,
        noise: float = 0.0,
        skip: float = 0.0,
        seed: int = 0,
        min_duration_s: float = 0.08,
        max_extra_events: int = 0,
    ):
        for name, value in (("noise", noise), ("skip", skip)):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be a probability in [0, 1], got {value}")
        self.noise = noise
        self.skip = skip
        self.max_extra_events = max_extra_events
        self.min_frames = max(1, round(min_duration_s * SAMPLING_RATE / HOP_LENGTH))
        self.thresholds = calibrated_thresholds()
        self._rng = np.random.default_rng(seed)

    def detect(self, waveform: np.ndarray) -> dict[str, Detection]:
        """Every toy event's :class:`Detection` in a 16 kHz clip."""
        activity = event_activity(clip_log_mel(waveform))
        frame_s = HOP_LENGTH / SAMPLING_RATE
        detections = {}
        for row, event in enumerate(TOY_EVENTS):
            active = activity[row] > self.thresholds[row]
            present = _longest_run(active) >= self.min_frames
            centroid = float(np.flatnonzero(active).mean() * frame_s) if active.any() else None
            detections[event.name] = Detection(present, float(active.sum() * frame_s), centroid)
        return detections

    def is_aligned(self, events: Sequence[str], task: str, waveform: np.ndarray) -> bool:
        """The noiseless judgement: all named events present (for ``temporal`` in caption order) and
        no more than ``max_extra_events`` others."""
        return self.verdict(events, task, waveform)[0]

    def verdict(self, events: Sequence[str], task: str, waveform: np.ndarray) -> tuple[bool, int]:
        """:meth:`is_aligned`'s judgement and how many events the caption does not name are heard
        (a model that collapses to noise or to every event fills clips with those)."""
        if task not in ("integrity", "temporal"):
            raise ValueError(f"task must be 'integrity' or 'temporal', got {task!r}")
        detections = self.detect(waveform)
        names = [get_event(event).name for event in events]
        named = [detections[name] for name in names]
        extra = sum(1 for name, d in detections.items() if d.present and name not in names)
        if not all(d.present for d in named) or extra > self.max_extra_events:
            return False, extra
        if task == "integrity":
            return True, extra
        centroids = [d.centroid_s for d in named]  # all set: every named event is present here
        ordered = all(a is not None and b is not None and a < b for a, b in itertools.pairwise(centroids))
        return ordered, extra

    def annotate(self, events: Sequence[str], task: str, waveform: np.ndarray) -> int:
        """A person-like label: the true one, flipped with probability ``noise``, or -1 with ``skip``."""
        return self.person_label(self.is_aligned(events, task, waveform))

    def person_label(self, aligned: bool) -> int:
        """The label a person gives a clip whose true judgement is ``aligned`` (noise and skips
        applied), for callers that already judged the clip."""
        label = int(aligned)
        if self._rng.random() < self.skip:
            return SKIP
        if self._rng.random() < self.noise:
            return 1 - label
        return label

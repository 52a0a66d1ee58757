"""Seeded scenes and their waveforms: which events sound, when, how loud, over quiet background noise.

A scene is a list of :class:`Placement`. :func:`scene_for_caption` lays out the events a caption names
the way the caption says (integrity: heard together; temporal: one after another in the stated order);
:func:`misaligned_scene` makes the mistakes text-to-audio models make (an event left out, swapped for
another, or the order broken), which the toy preference data needs as "not aligned" clips.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from baton_tta.data.audio import SAMPLING_RATE
from baton_tta.toy.events import TOY_EVENTS, band_noise, get_event, toy_labels

DEFAULT_DURATION_S = 1.0
BACKGROUND_LEVEL = 0.01  # −40 dB below a full-gain event


@dataclass(frozen=True)
class Placement:
    """One event in a scene: ``start_s`` and ``duration_s`` in seconds, ``gain`` in (0, 1]."""

    event: str
    start_s: float
    duration_s: float
    gain: float = 1.0

    @property
    def end_s(self) -> float:
        return self.start_s + self.duration_s


def render_scene(
    placements: Sequence[Placement],
    seed: int,
    duration_s: float = DEFAULT_DURATION_S,
    sampling_rate: int = SAMPLING_RATE,
    background_level: float = BACKGROUND_LEVEL,
) -> np.ndarray:
    """The scene as a float32 waveform peaking at 0.9; the same seed always gives the same samples."""
    rng = np.random.default_rng(seed)
    num_samples = round(duration_s * sampling_rate)
    t = np.arange(num_samples) / sampling_rate
    noise = band_noise(t, rng, 20.0, sampling_rate / 2)
    waveform = background_level * noise / (noise.std() + 1e-12)
    for placement in placements:
        start = round(placement.start_s * sampling_rate)
        stop = min(num_samples, round(placement.end_s * sampling_rate))
        if not 0 <= start < stop:
            raise ValueError(f"{placement} lies outside a {duration_s} s clip")
        waveform[start:stop] += placement.gain * get_event(placement.event).render(
            stop - start, sampling_rate, rng
        )
    return (0.9 * waveform / (np.abs(waveform).max() + 1e-12)).astype(np.float32)


def scene_for_caption(
    events: Sequence[str], task: str, rng: np.random.Generator, duration_s: float = DEFAULT_DURATION_S
) -> list[Placement]:
    """Placements that match a caption: for ``integrity`` every event overlapping the others; for
    ``temporal`` each event in its own slot, in order, with a small gap."""
    if task == "integrity":
        placements = []
        for event in events:
            length = rng.uniform(0.5, 0.9) * duration_s
            start = rng.uniform(0.0, duration_s - length)
            placements.append(Placement(event, start, length, rng.uniform(0.6, 1.0)))
        return placements
    if task == "temporal":
        slot = duration_s / len(events)
        placements = []
        for index, event in enumerate(events):
            length = rng.uniform(0.65, 0.85) * slot
            start = index * slot + rng.uniform(0.0, slot - length)
            placements.append(Placement(event, start, length, rng.uniform(0.6, 1.0)))
        return placements
    raise ValueError(f"task must be 'integrity' or 'temporal', got {task!r}")


def random_caption_scene(
    index: int, rng: np.random.Generator, duration_s: float = DEFAULT_DURATION_S
) -> tuple[str, list[str], list[Placement]]:
    """The ``index``-th scene of a random stream that matches its caption: tasks alternate (even
    indices integrity, 2 events; odd temporal, 3 events), events are distinct display names."""
    task = "integrity" if index % 2 == 0 else "temporal"
    events = [str(e) for e in rng.choice(toy_labels(), size=2 if task == "integrity" else 3, replace=False)]
    return task, events, scene_for_caption(events, task, rng, duration_s)


MISTAKES = ("drop", "replace", "reorder")


def misaligned_scene(
    events: Sequence[str], task: str, rng: np.random.Generator, duration_s: float = DEFAULT_DURATION_S
) -> tuple[list[Placement], str]:
    """A scene that does *not* match the caption, and which mistake it makes: ``drop`` (an event is
    missing), ``replace`` (one is swapped for an event the caption does not name) or, for temporal
    captions, ``reorder`` (all events present, order wrong)."""
    events = list(events)
    mistakes = MISTAKES if task == "temporal" else MISTAKES[:2]
    mistake = str(rng.choice(mistakes))
    if mistake == "drop":
        del events[int(rng.integers(len(events)))]
    elif mistake == "replace":
        others = [event.name for event in TOY_EVENTS if event.name not in events]
        events[int(rng.integers(len(events)))] = str(rng.choice(others))
    else:
        original = list(events)
        while events == original:
            events = list(rng.permutation(original))
    return scene_for_caption(events, task, rng, duration_s), mistake

"""The toy world's sound events: ten signatures a log-mel spectrogram tells apart at a glance.

Each event lives in its own frequency band of TANGO's 64-bin Slaney mel front end (16 kHz, 0–8 kHz)
and has its own texture in time (steady, gated, decaying, sweeping, noisy), so that a program can
say which events a clip holds and when, and a small text-to-audio model has something real to learn.
Display names are AudioSet-like, so the real caption builder turns them into phrases.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

SynthFn = Callable[[np.ndarray, np.random.Generator], np.ndarray]


@dataclass(frozen=True)
class ToyEvent:
    """A sound event: its label (``name``), its AudioSet-like ``display_name``, the band (Hz) its
    energy lies in, which the oracle listens to, and how to render it."""

    name: str
    display_name: str
    band_hz: tuple[float, float]
    synthesise: SynthFn

    def render(self, num_samples: int, sampling_rate: int, rng: np.random.Generator) -> np.ndarray:
        """``num_samples`` of this event at unit peak, with a 10 ms fade in and out (no clicks)."""
        t = np.arange(num_samples) / sampling_rate
        signal = self.synthesise(t, rng)
        fade = min(num_samples // 2, int(0.01 * sampling_rate))
        if fade > 0:
            ramp = np.linspace(0.0, 1.0, fade)
            signal[:fade] *= ramp
            signal[-fade:] *= ramp[::-1]
        return signal / (np.abs(signal).max() + 1e-12)


def _tone(freq: float) -> SynthFn:
    return lambda t, rng: np.sin(2 * np.pi * freq * t + rng.uniform(0, 2 * np.pi))


def band_noise(t: np.ndarray, rng: np.random.Generator, low: float, high: float) -> np.ndarray:
    """White noise kept between ``low`` and ``high`` Hz by zeroing the rest of its spectrum."""
    sampling_rate = 1.0 / (t[1] - t[0]) if len(t) > 1 else 16000.0
    spectrum = np.fft.rfft(rng.standard_normal(len(t)))
    freqs = np.fft.rfftfreq(len(t), 1.0 / sampling_rate)
    spectrum[(freqs < low) | (freqs > high)] = 0.0
    return np.fft.irfft(spectrum, n=len(t))


def _noise(low: float, high: float) -> SynthFn:
    return lambda t, rng: band_noise(t, rng, low, high)


def _pulsed(freq: float, rate: float) -> SynthFn:
    def synth(t: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        gate = np.sin(np.pi * rate * t) ** 4  # smooth pulses: hard gates would splash into other bands
        return np.sin(2 * np.pi * freq * t) * gate

    return synth


def _bell(freq: float, decay_s: float) -> SynthFn:
    def synth(t: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        envelope = np.exp(-((t % 0.5) / decay_s))  # struck again every half second
        return (np.sin(2 * np.pi * freq * t) + 0.4 * np.sin(2 * np.pi * 1.06 * freq * t)) * envelope

    return synth


def _vibrato(freq: float, depth: float, rate: float) -> SynthFn:
    def synth(t: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        phase = 2 * np.pi * freq * t - depth / rate * np.cos(2 * np.pi * rate * t)
        return np.sin(phase + rng.uniform(0, 2 * np.pi))

    return synth


def _chirps(low: float, high: float, period_s: float) -> SynthFn:
    def synth(t: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        local = t % period_s
        # instantaneous frequency rises linearly from low to high within each period
        phase = 2 * np.pi * (low * local + (high - low) * local**2 / (2 * period_s))
        return np.sin(phase) * np.sin(np.pi * local / period_s)

    return synth


def _clicks(low: float, high: float, rate: float) -> SynthFn:
    def synth(t: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        decay = np.exp(-((t * rate) % 1.0) / (rate * 0.02))  # 20 ms ticks
        return band_noise(t, rng, low, high) * decay

    return synth


def _crackle(low: float, high: float) -> SynthFn:
    def synth(t: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        flicker = np.repeat(rng.uniform(0.3, 1.0, len(t) // 400 + 1), 400)[: len(t)]
        return band_noise(t, rng, low, high) * flicker

    return synth


#: The vocabulary, low to high: bands never overlap, so detection does not depend on the others.
TOY_EVENTS: tuple[ToyEvent, ...] = (
    ToyEvent("rumble", "Rumble", (40.0, 160.0), _noise(40.0, 160.0)),
    ToyEvent("hum", "Hum", (230.0, 270.0), _tone(250.0)),
    ToyEvent("beep", "Beep, bleep", (480.0, 520.0), _pulsed(500.0, rate=8.0)),
    ToyEvent("bell", "Bell", (830.0, 930.0), _bell(850.0, decay_s=0.15)),
    ToyEvent("siren", "Siren", (1250.0, 1550.0), _vibrato(1400.0, depth=120.0, rate=4.0)),
    ToyEvent("chirp", "Chirp tone", (1900.0, 2500.0), _chirps(1900.0, 2500.0, period_s=0.125)),
    ToyEvent("whistle", "Whistle", (3100.0, 3300.0), _vibrato(3200.0, depth=40.0, rate=6.0)),
    ToyEvent("tick", "Tick", (4000.0, 4800.0), _clicks(4000.0, 4800.0, rate=16.0)),
    ToyEvent("hiss", "Hiss", (5600.0, 6400.0), _noise(5600.0, 6400.0)),
    ToyEvent("sizzle", "Sizzle", (7100.0, 7800.0), _crackle(7100.0, 7800.0)),
)
EVENTS_BY_NAME: dict[str, ToyEvent] = {event.name: event for event in TOY_EVENTS}


def toy_labels() -> list[str]:
    """The vocabulary as AudioSet-like display names, the labels captions are built from."""
    return [event.display_name for event in TOY_EVENTS]


def get_event(name: str) -> ToyEvent:
    """The event called ``name`` (its label or display name), with the list of valid names if none."""
    for event in TOY_EVENTS:
        if name in (event.name, event.display_name):
            return event
    raise KeyError(f"unknown toy event {name!r}; the toy world has {[e.name for e in TOY_EVENTS]}")

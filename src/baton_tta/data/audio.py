"""Audio in and out of datasets without torchcodec or FFmpeg.

``datasets`` 5.x decodes ``Audio`` columns only through torchcodec, whose current wheels do not load
next to a CPU torch. The library therefore keeps audio columns as ``Audio(decode=False)`` (encoded
bytes and/or a path), decodes them itself with soundfile and resamples with soxr, and writes clips as
encoded WAV/FLAC bytes. Values decoded by ``datasets`` (``{"array", "sampling_rate"}``) or by
torchcodec (an ``AudioDecoder``) are accepted too, so users who have torchcodec lose nothing.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import soundfile as sf
import soxr

#: TANGO's audio rate (its mel front end, VAE and vocoder), the rate of tiny and toy data and of
#: datasets pushed without one; training decodes clips at each family's own rate.
SAMPLING_RATE = 16000
#: CLAP's audio rate (LAION-CLAP and transformers' ``ClapFeatureExtractor``).
CLAP_SAMPLING_RATE = 48000
#: The default tolerance of a clip's length, as a share of the expected length (training, labelling):
#: a 0.3 s clip no longer pads silently into a 1 s run, as the old 1 s tolerance let it.
LENGTH_TOLERANCE = 0.03
#: A clip whose peak stays below this is treated as silent (about -120 dBFS).
SILENCE_PEAK = 1e-6


class AudioDecodeError(ValueError):
    """Raised for audio that cannot be used; the message names where it came from."""


def _to_mono(samples: np.ndarray) -> np.ndarray:
    """(samples,) or (samples, channels) from soundfile → (samples,), channels averaged."""
    if samples.ndim == 1:
        return samples
    if samples.ndim == 2:
        return samples.mean(axis=1)
    raise AudioDecodeError(f"expected 1-D or 2-D audio, got shape {samples.shape}")


def _to_channels(samples: np.ndarray, channels: int) -> np.ndarray:
    """(samples,) or (samples, c) → (samples, channels): mono is copied to every channel, a clip with
    the asked channel count is kept, any other count is mixed to mono first."""
    if samples.ndim == 2 and samples.shape[1] == channels:
        return samples
    if samples.ndim > 2:
        raise AudioDecodeError(f"expected 1-D or 2-D audio, got shape {samples.shape}")
    return np.repeat(_to_mono(samples)[:, None], channels, axis=1)


def resample(samples: np.ndarray, rate: int, target_rate: int) -> np.ndarray:
    """Band-limited resampling (soxr "HQ") along the first axis; a no-op at equal rates."""
    if rate == target_rate:
        return samples
    return soxr.resample(samples, rate, target_rate, quality="HQ").astype(np.float32, copy=False)


def to_mono(wave: np.ndarray) -> np.ndarray:
    """A clip as one channel: a 2-D clip, (channels, samples) or (samples, channels), averaged over its
    shorter axis (the channels); a 1-D clip as it is."""
    wave = np.asarray(wave, dtype=np.float32)
    if wave.ndim == 2:
        return wave.mean(axis=0 if wave.shape[0] < wave.shape[1] else 1)
    if wave.ndim != 1:
        raise ValueError(
            f"a clip is (samples,), (channels, samples) or (samples, channels); got {wave.shape}"
        )
    return wave


def score_as_heard(
    scorer: Any, prompts: Sequence[str], audios: Sequence[np.ndarray], sampling_rate: int
) -> list[float]:
    """The one way every command hands clips to a scorer (reward model, judge, oracle, CLAP, any
    ``score(prompts, audios, sampling_rate)``): each clip mono and at the rate the scorer declares in
    its ``sampling_rate`` attribute (resampled here; a scorer without one gets the clips' own rate and is
    told it). Online judges once got the pipeline's 22,050 Hz stereo clips labelled 16 kHz; the toy
    oracle refused every 48 kHz clip. One score per clip, finite, or the scorer is named."""
    target = getattr(scorer, "sampling_rate", None) or sampling_rate
    clips = [resample(to_mono(a), sampling_rate, target) for a in audios]
    scores = [float(s) for s in scorer.score(list(prompts), clips, target)]
    if len(scores) != len(clips) or not all(np.isfinite(scores)):
        raise ValueError(
            f"{type(scorer).__name__}.score gave {len(scores)} scores (finite: {all(np.isfinite(scores))}) "
            f"for {len(clips)} clips"
        )
    return scores


def check_wav_complete(data: bytes, name: str = "the WAV") -> None:
    """A WAV whose ``data`` chunk holds fewer bytes than its header declares was cut short (a partial
    download or copy); libsndfile decodes what is there without a word, so it is an error here.
    Anything that is not a RIFF/WAVE file passes untouched."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        return
    position, rate, block = 12, 0, 0
    while position + 8 <= len(data):
        chunk, size = (
            data[position : position + 4],
            int.from_bytes(data[position + 4 : position + 8], "little"),
        )
        body = position + 8
        if chunk == b"fmt " and body + 16 <= len(data):
            rate = int.from_bytes(data[body + 4 : body + 8], "little")
            block = int.from_bytes(data[body + 12 : body + 14], "little")
        if chunk == b"data":
            held = len(data) - body
            if held < size and size != 0xFFFFFFFF:  # 0xFFFFFFFF: a streamed WAV of unknown length
                raise AudioDecodeError(
                    f"{name} is truncated: its header declares {_duration(size, rate, block)} of audio, "
                    f"the file holds {_duration(held, rate, block)}"
                )
            return
        position = body + size + (size % 2)
    raise AudioDecodeError(f"{name} has no audio data (no 'data' chunk in {len(data)} bytes)")


def _duration(size: int, rate: int, block: int) -> str:
    return f"{size / (rate * block):.2f} s" if rate and block else f"{size} bytes"


def _decode_value(value: Any) -> tuple[np.ndarray, int]:
    if isinstance(value, dict):
        if value.get("array") is not None:
            return np.asarray(value["array"], dtype=np.float32), int(value["sampling_rate"])
        if value.get("bytes") is not None and len(value["bytes"]) == 0:
            raise AudioDecodeError("the audio bytes are empty (0 bytes)")
        if value.get("bytes"):
            check_wav_complete(value["bytes"])
            samples, rate = sf.read(io.BytesIO(value["bytes"]), dtype="float32", always_2d=False)
            return samples, rate
        if value.get("path"):
            return _decode_value(value["path"])
        raise AudioDecodeError("audio value has neither 'array', 'bytes' nor 'path'")
    if isinstance(value, str | os.PathLike):
        if not os.path.isfile(value):
            raise AudioDecodeError(f"audio file not found: {value}")
        with open(value, "rb") as handle:
            check_wav_complete(handle.read(), str(value))
        samples, rate = sf.read(value, dtype="float32", always_2d=False)
        return samples, rate
    if hasattr(value, "get_all_samples"):  # torchcodec AudioDecoder, as datasets returns with torchcodec
        decoded = value.get_all_samples()
        return decoded.data.numpy().T.astype(np.float32), int(decoded.sample_rate)
    raise AudioDecodeError(f"unsupported audio value of type {type(value).__name__}")


def decode_audio(
    value: Any, sampling_rate: int, where: str = "audio", allow_silent: bool = False, channels: int = 1
) -> np.ndarray:
    """Any audio value → float32 waveform at ``sampling_rate``: ``(samples,)`` mono (the default) or,
    for ``channels > 1``, ``(channels, samples)`` (up- or down-mixed, see :func:`_to_channels`).

    Accepts ``{"bytes", "path"}`` (``Audio(decode=False)``), ``{"array", "sampling_rate"}``, a file
    path, or a torchcodec decoder. Raises :class:`AudioDecodeError` naming ``where`` (e.g. "row 12,
    column 'audio'") for unreadable, empty, non-finite or (unless allowed) silent audio.
    """
    try:
        samples, rate = _decode_value(value)
    except AudioDecodeError as error:
        raise AudioDecodeError(f"{where}: {error}") from error
    except (sf.LibsndfileError, RuntimeError) as error:
        raise AudioDecodeError(f"{where}: could not decode audio ({error})") from error
    samples = np.asarray(samples, dtype=np.float32)
    if channels == 1:
        samples = _to_mono(samples)
        check_waveform(samples, where, allow_silent=allow_silent)
        return resample(samples, rate, sampling_rate)
    samples = _to_channels(samples, channels)
    check_waveform(samples, where, allow_silent=allow_silent)
    return np.ascontiguousarray(resample(samples, rate, sampling_rate).T)


def check_waveform(samples: np.ndarray, where: str = "audio", allow_silent: bool = False) -> None:
    """Reject empty, NaN/inf and silent waveforms with a message that says where they came from."""
    if samples.size == 0:
        raise AudioDecodeError(f"{where}: audio is empty (0 samples)")
    if not np.isfinite(samples).all():
        bad = int((~np.isfinite(samples)).sum())
        raise AudioDecodeError(f"{where}: audio has {bad} NaN/inf samples")
    if not allow_silent and float(np.abs(samples).max()) < SILENCE_PEAK:
        raise AudioDecodeError(f"{where}: audio is silent (peak below {SILENCE_PEAK:g})")


def encode_audio(
    samples: np.ndarray, sampling_rate: int, path: str, audio_format: str = "wav"
) -> dict[str, Any]:
    """Waveform → ``{"bytes", "path"}`` as an ``Audio`` column stores it (WAV 16-bit PCM or FLAC).

    ``path`` is the file name recorded with the bytes; its extension is set to the format.
    """
    audio_format = audio_format.lower()
    if audio_format not in ("wav", "flac"):
        raise ValueError(f"audio_format must be 'wav' or 'flac', got {audio_format!r}")
    samples = np.asarray(samples, dtype=np.float32)
    check_waveform(samples, path, allow_silent=True)
    buffer = io.BytesIO()
    sf.write(
        buffer, np.clip(samples, -1.0, 1.0), sampling_rate, format=audio_format.upper(), subtype="PCM_16"
    )
    stem, _ = os.path.splitext(path)
    return {"bytes": buffer.getvalue(), "path": f"{stem}.{audio_format}"}


def clip_seconds(value: Any) -> float:
    """A clip's length from its header alone (no decoding): ``{"bytes"}``, ``{"path"}``, a path or an
    ``{"array", "sampling_rate"}`` value."""
    if isinstance(value, dict) and value.get("array") is not None:
        return len(value["array"]) / float(value["sampling_rate"])
    if isinstance(value, dict) and value.get("bytes"):
        info = sf.info(io.BytesIO(value["bytes"]))
    elif isinstance(value, dict) and value.get("path"):
        info = sf.info(value["path"])
    elif isinstance(value, str | os.PathLike):
        info = sf.info(value)
    else:
        raise AudioDecodeError(f"cannot measure an audio value of type {type(value).__name__}")
    return info.frames / float(info.samplerate)

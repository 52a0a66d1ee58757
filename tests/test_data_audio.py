"""Audio decoding/encoding without torchcodec: rates, channels, formats, errors."""

from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile as sf
import torch

from baton_tta.data.audio import AudioDecodeError, decode_audio, encode_audio
from helpers import sine, wav_bytes


@pytest.mark.parametrize("rate", [16000, 22050, 44100, 48000])
@pytest.mark.parametrize("target", [16000, 48000])
@pytest.mark.parametrize("channels", [1, 2])
def test_decode_any_rate_and_channel_count(rate, target, channels):
    mono = sine(rate)
    samples = mono if channels == 1 else np.stack([mono, mono], axis=1)
    value = {"bytes": wav_bytes(samples, rate, subtype="FLOAT"), "path": "x.wav"}
    out = decode_audio(value, target)
    expected = sine(target)
    assert out.dtype == np.float32 and out.ndim == 1
    assert abs(len(out) - len(expected)) <= 1
    n = min(len(out), len(expected))
    # the resampled tone equals the tone rendered at the target rate, away from the filter edges
    np.testing.assert_allclose(out[200 : n - 200], expected[200 : n - 200], atol=2e-3)


def test_stereo_channels_are_averaged():
    left, right = sine(16000), np.zeros(8000, dtype=np.float32)
    out = decode_audio({"bytes": wav_bytes(np.stack([left, right], 1), 16000, subtype="FLOAT")}, 16000)
    np.testing.assert_allclose(out, left / 2, atol=1e-6)


def test_other_value_kinds(tmp_path):
    tone = sine(22050)
    sf.write(tmp_path / "t.flac", tone, 22050)
    from_path = decode_audio(str(tmp_path / "t.flac"), 16000)
    from_dict_path = decode_audio({"bytes": None, "path": str(tmp_path / "t.flac")}, 16000)
    from_array = decode_audio({"array": tone, "sampling_rate": 22050}, 16000)
    np.testing.assert_allclose(from_path, from_dict_path)
    np.testing.assert_allclose(from_path, from_array, atol=1e-4)

    class FakeDecoder:  # what datasets returns when torchcodec is installed
        def get_all_samples(self):
            class Samples:
                data = torch.from_numpy(np.stack([tone, tone]))
                sample_rate = 22050

            return Samples()

    np.testing.assert_allclose(decode_audio(FakeDecoder(), 16000), from_array, atol=1e-6)


@pytest.mark.parametrize("audio_format", ["wav", "flac"])
def test_encode_round_trip(audio_format):
    tone = sine(16000, 0.25)
    encoded = encode_audio(tone, 16000, "clips/0001_a.wav", audio_format)
    assert encoded["path"] == f"clips/0001_a.{audio_format}"
    info = sf.info(io.BytesIO(encoded["bytes"]))
    assert info.format == audio_format.upper() and info.samplerate == 16000 and info.channels == 1
    np.testing.assert_allclose(decode_audio(encoded, 16000), tone, atol=1.0 / 32768 + 1e-6)


def test_encode_rejects_bad_input():
    with pytest.raises(ValueError, match="'mp3'"):
        encode_audio(sine(16000), 16000, "a.wav", "mp3")
    with pytest.raises(AudioDecodeError, match="NaN"):
        encode_audio(np.array([0.1, np.nan], dtype=np.float32), 16000, "a.wav")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"bytes": wav_bytes(np.zeros(0, dtype=np.float32), 16000)}, "empty"),
        (
            {"bytes": wav_bytes(np.array([0.1, np.nan, 0.2], dtype=np.float32), 16000, subtype="FLOAT")},
            "1 NaN/inf",
        ),
        ({"bytes": wav_bytes(np.zeros(1600, dtype=np.float32), 16000)}, "silent"),
        ({"bytes": b"not audio at all"}, "could not decode"),
        ({"path": "/nonexistent/x.wav"}, "not found"),
        ({"foo": 1}, "neither"),
        (42, "unsupported"),
    ],
)
def test_decode_errors_name_the_place(value, message):
    with pytest.raises(AudioDecodeError, match=message) as error:
        decode_audio(value, 16000, where="row 7, column 'audio'")
    assert str(error.value).startswith("row 7, column 'audio'")


def test_silent_allowed_when_asked():
    out = decode_audio(
        {"bytes": wav_bytes(np.zeros(1600, dtype=np.float32), 16000)}, 16000, allow_silent=True
    )
    assert out.shape == (1600,) and not out.any()

"""Golden files: audio reduced to a small spectral summary, stored once, compared within a tolerance.

Shared by the golden-render tests (``render_grid`` on the factory samples; the VST3 output of
each preset). ``LATENTMORPH_GOLDEN=1`` rewrites the goldens instead of comparing (then the test
is skipped, saying which file it wrote); commit the new files together with the change that
explains them.

The summary of a signal is its power in :data:`BANDS` log-spaced bands (40 Hz to Nyquist) per
non-overlapping Hann frame of :data:`FRAME` samples, in dB re full scale, floored at
:data:`FLOOR_DB`, plus its RMS level in dB: a few KiB per second of audio instead of the PCM,
and insensitive to float rounding that a different CPU or ONNX Runtime build may bring.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from latentmorph import settings

GOLDEN_DIR = Path(__file__).resolve().parent / "goldens"
#: Samples per summary frame (46 ms at 44.1 kHz) and number of bands per frame.
FRAME, BANDS = 2048, 24
#: Band levels below this (dB re full scale) are clamped: there float noise dominates.
FLOOR_DB = -80.0


def band_levels_db(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """Band power of ``audio`` float ``[..., samples]`` at ``sample_rate`` Hz: float32
    ``[..., BANDS, samples // FRAME]`` in dB re a full-scale sine, at least :data:`FLOOR_DB`
    (a trailing part frame is dropped)."""
    audio = np.asarray(audio, np.float64)
    frames = audio.shape[-1] // FRAME
    windowed = audio[..., : frames * FRAME].reshape(*audio.shape[:-1], frames, FRAME) * np.hanning(FRAME)
    power = np.abs(np.fft.rfft(windowed, axis=-1)) ** 2 / (FRAME / 4) ** 2  # full-scale sine: ~0 dB
    freqs = np.fft.rfftfreq(FRAME, 1 / sample_rate)
    edges = np.geomspace(40.0, sample_rate / 2, BANDS + 1)
    bands = np.stack(
        [power[..., (freqs >= lo) & (freqs < hi)].sum(-1) for lo, hi in zip(edges[:-1], edges[1:])], axis=-2
    )
    return np.maximum(10 * np.log10(bands + 1e-30), FLOOR_DB).astype(np.float32)


def rms_db(audio: np.ndarray) -> np.ndarray:
    """RMS level of ``audio [..., samples]`` in dB re full scale: float32 ``[...]``."""
    audio = np.asarray(audio, np.float64)
    return (10 * np.log10(np.mean(audio**2, axis=-1) + 1e-30)).astype(np.float32)


def check_golden(name: str, audio: np.ndarray, sample_rate: int, band_tol_db: float, rms_tol_db: float) -> None:
    """Compare ``audio`` float ``[..., samples]`` with the golden ``GOLDEN_DIR/<name>.npz``: the same
    shape, every band level within ``band_tol_db`` and every RMS level within ``rms_tol_db`` dB.
    Under ``LATENTMORPH_GOLDEN=1`` writes the golden instead and skips the test.

    Raises:
        AssertionError: a shape or level differs beyond its tolerance, naming the largest difference.
        pytest.fail.Exception: the golden file is missing (the message says how to write it).
    """
    path = GOLDEN_DIR / f"{name}.npz"
    summary = {
        "shape": np.array(audio.shape),
        "sample_rate": np.array(sample_rate),
        "bands_db": band_levels_db(audio, sample_rate),
        "rms_db": rms_db(audio),
    }
    if settings.regenerate_goldens():
        GOLDEN_DIR.mkdir(exist_ok=True)
        np.savez_compressed(path, **summary)
        pytest.skip(f"wrote golden {path}")
    if not path.exists():
        pytest.fail(f"no golden {path}: run the test with LATENTMORPH_GOLDEN=1 once and commit it")
    with np.load(path) as golden:
        assert tuple(golden["shape"]) == audio.shape and int(golden["sample_rate"]) == sample_rate, (
            f"{name}: shape {audio.shape} at {sample_rate} Hz, golden {tuple(golden['shape'])} "
            f"at {int(golden['sample_rate'])} Hz"
        )
        for field, tol in (("bands_db", band_tol_db), ("rms_db", rms_tol_db)):
            error = np.abs(summary[field] - golden[field])
            worst = np.unravel_index(np.argmax(error), error.shape)
            assert error.max() <= tol, (
                f"{name}: {field} differs by {error.max():.3f} dB at index {worst} "
                f"(tolerance {tol} dB; LATENTMORPH_GOLDEN=1 rewrites the golden)"
            )

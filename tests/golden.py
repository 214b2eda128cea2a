"""Golden renders: compact fingerprints of rendered audio, stored in ``tests/golden/`` and compared
within a stated tolerance. ``LATENTMORPH_GOLDEN=1`` rewrites them from the current renders (then
review the diff and commit it).

A fingerprint is small (a few KB per render) and catches what a listener would notice: a level,
envelope, pitch or timbre change. It is the audio's level in dB in log-spaced frequency bands over
short frames (:func:`band_levels_db`), floored at :data:`FLOOR_DB` so that the noise floor does not
count.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

GOLDEN_DIR = Path(__file__).resolve().parent / "golden"
#: Levels below this (dBFS) are clamped to it: differences in near-silence are not compared.
FLOOR_DB = -80.0
FRAME_SAMPLES = 4096
HOP_SAMPLES = 2048
NUM_BANDS = 20
LOWEST_BAND_HZ = 40.0


def regenerating() -> bool:
    """True when the goldens are to be rewritten (``LATENTMORPH_GOLDEN=1``)."""
    return os.environ.get("LATENTMORPH_GOLDEN") == "1"


def band_levels_db(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """Level of mono ``audio`` in dBFS per frame and band, float ``[frames, NUM_BANDS]``: Hann frames of
    FRAME_SAMPLES every HOP_SAMPLES, power summed over NUM_BANDS bands with log-spaced edges from
    LOWEST_BAND_HZ to Nyquist, scaled so a full-scale sine reads about 0 dB, floored at FLOOR_DB."""
    audio = np.asarray(audio, dtype=np.float64)
    padded = np.concatenate([audio, np.zeros(FRAME_SAMPLES)])
    starts = np.arange(0, len(audio), HOP_SAMPLES)
    window = np.hanning(FRAME_SAMPLES)
    frames = np.stack([padded[s: s + FRAME_SAMPLES] * window for s in starts])
    power = np.abs(np.fft.rfft(frames, axis=1)) ** 2 / (window.sum() / 2) ** 2
    frequencies_hz = np.fft.rfftfreq(FRAME_SAMPLES, 1 / sample_rate)
    edges_hz = np.geomspace(LOWEST_BAND_HZ, sample_rate / 2, NUM_BANDS + 1)
    band = np.clip(np.searchsorted(edges_hz, frequencies_hz, side="right") - 1, 0, NUM_BANDS - 1)
    band_power = np.zeros((len(starts), NUM_BANDS))
    np.add.at(band_power.T, band, power.T)
    return np.maximum(10 * np.log10(np.maximum(band_power, 1e-30)), FLOOR_DB)


def check_golden(name: str, fingerprints: dict[str, np.ndarray], tolerance_db: float) -> None:
    """Compare ``fingerprints`` (key → dB array) with ``tests/golden/<name>.json`` within
    ``tolerance_db`` (largest absolute difference), or write that file when regenerating. Fails naming
    the key, the frame and band of the largest difference, and how to regenerate."""
    path = GOLDEN_DIR / f"{name}.json"
    current = {key: np.round(np.asarray(value, dtype=np.float64), 2) for key, value in fingerprints.items()}
    if regenerating():
        GOLDEN_DIR.mkdir(exist_ok=True)
        path.write_text(json.dumps({key: value.tolist() for key, value in current.items()}, separators=(",", ":")) + "\n")
        return
    if not path.exists():
        raise AssertionError(f"no golden {path}: record it with LATENTMORPH_GOLDEN=1")
    stored = {key: np.asarray(value) for key, value in json.loads(path.read_text()).items()}
    assert sorted(stored) == sorted(current), f"{name}: golden keys {sorted(stored)}, rendered {sorted(current)}"
    for key, expected in stored.items():
        actual = current[key]
        assert actual.shape == expected.shape, f"{name}/{key}: shape {actual.shape}, golden {expected.shape}"
        difference = np.abs(actual - expected)
        worst = np.unravel_index(int(np.argmax(difference)), difference.shape)
        assert difference[worst] <= tolerance_db, (
            f"{name}/{key}: {difference[worst]:.2f} dB off the golden at {tuple(map(int, worst))} "
            f"({actual[worst]:.2f} vs {expected[worst]:.2f} dB; tolerance {tolerance_db} dB). "
            f"If the change is intended, regenerate with LATENTMORPH_GOLDEN=1 and review the diff.")

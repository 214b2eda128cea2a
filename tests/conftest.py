"""Shared fixtures: paths, the built VST3, an isolated grid cache, render helpers."""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

from latentmorph.plugin_state import plugin_state

REPO_ROOT = Path(__file__).resolve().parent.parent
VST3_PATH = REPO_ROOT / "build/plugin/LatentMorph_artefacts/Release/VST3/LatentMorph.vst3"
PRESETS_DIR = REPO_ROOT / "presets"
SAMPLES_DIR = PRESETS_DIR / "samples"
SAMPLE_RATE = 44100
#: Where the CMake build puts the engine's Python module `latentmorph_engine` (plugin/engine/python_bindings.cpp).
ENGINE_MODULE_DIR = REPO_ROOT / "build/python"
sys.path.insert(0, str(ENGINE_MODULE_DIR))

# The backend the plugin starts inherits this process's environment: keep its grid cache out of
# the user's cache and out of the source tree, fresh for every test session.
_TEST_CACHE_DIR = tempfile.mkdtemp(prefix="latentmorph-test-cache-")
os.environ["LATENTMORPH_CACHE_DIR"] = _TEST_CACHE_DIR
atexit.register(shutil.rmtree, _TEST_CACHE_DIR, ignore_errors=True)


@pytest.fixture(scope="session")
def vst3_path() -> Path:
    if not VST3_PATH.exists():
        pytest.fail(f"VST3 not built at {VST3_PATH}: run `make build` (make test does it)")
    return VST3_PATH


@pytest.fixture
def plugin(vst3_path):
    """A fresh LatentMorph instance in pedalboard."""
    import pedalboard

    return pedalboard.load_plugin(str(vst3_path), initialization_timeout=0.1)


def note_messages(notes: list[tuple[int, float, float]], velocity: int = 100) -> list[tuple[bytes, float]]:
    """(note, on_s, off_s) triples → pedalboard MIDI tuples with absolute times."""
    messages = []
    for note, on_s, off_s in notes:
        messages += [(bytes([0x90, note, velocity]), on_s), (bytes([0x80, note, 0]), off_s)]
    return sorted(messages, key=lambda m: m[1])


def render(plugin, notes: list[tuple[int, float, float]], duration_s: float, buffer_size: int = 512,
           velocity: int = 100) -> np.ndarray:
    """Render MIDI notes offline; returns the mono mix, float32 ``[duration_s * 44100]``."""
    audio = plugin(note_messages(notes, velocity), duration=duration_s, sample_rate=SAMPLE_RATE,
                   num_channels=2, buffer_size=buffer_size, reset=True)
    return audio.mean(axis=0)


def status_of(plugin) -> dict[str, str]:
    """``state`` and ``message`` of the plugin's Status."""
    return plugin_state(plugin).status


def peak_hz(audio: np.ndarray) -> float:
    """Frequency of the strongest spectral peak of `audio` at 44.1 kHz (Hann window, zero-padded 8x,
    parabolic interpolation on the log magnitude: well under 0.1 cent for a 1 s tone at 440 Hz)."""
    size = 8 * len(audio)
    spectrum = np.log(np.abs(np.fft.rfft(audio * np.hanning(len(audio)), size)) + 1e-12)
    k = int(np.argmax(spectrum))
    a, b, c = spectrum[k - 1 : k + 2]
    return float((k + 0.5 * (a - c) / (a - 2 * b + c)) * SAMPLE_RATE / size)

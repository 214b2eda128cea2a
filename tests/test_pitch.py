"""Root-note detection (issue 13, item 3): the note and fine tuning of pitched samples, the C4
fallback with a reason for drums, noise and glides."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from latentmorph.pitch import FALLBACK_ROOT_NOTE, detect_root_note, midi_note_hz, note_name

from .conftest import SAMPLE_RATE, SAMPLES_DIR


def harmonic_tone(f0_hz: np.ndarray | float, seconds: float = 1.5, partials: int = 8) -> np.ndarray:
    """Decaying additive tone, 1/k partials; ``f0_hz`` a constant or a per-sample track."""
    n = int(seconds * SAMPLE_RATE)
    phase = 2 * np.pi * np.cumsum(np.broadcast_to(f0_hz, (n,))) / SAMPLE_RATE
    tone = sum(np.sin(k * phase) / k for k in range(1, partials + 1))
    return (0.5 * tone / np.abs(tone).max() * np.exp(-np.arange(n) / SAMPLE_RATE / 1.5)).astype(np.float32)


def test_note_names_and_frequencies():
    assert [note_name(n) for n in (21, 60, 61, 69, 127)] == ["A0", "C4", "C#4", "A4", "G9"]
    assert midi_note_hz(69) == 440.0 and midi_note_hz(60) == pytest.approx(261.626, abs=1e-3)


@pytest.mark.parametrize("note, detune_cents", [(28, 0.0), (45, -30.0), (69, 20.0), (84, 0.0)])
def test_a_tone_gets_its_note_and_fine_tuning(note, detune_cents):
    """E1 (41 Hz) to C6, detuned by up to 30 cents: the nearest note, the detune within 5 cents."""
    root = detect_root_note(harmonic_tone(midi_note_hz(note + detune_cents / 100.0)), SAMPLE_RATE)
    assert root.pitched and root.midi_note == note, root
    assert root.fine_tune_cents == pytest.approx(detune_cents, abs=5.0), root
    assert note_name(note) in root.message


@pytest.mark.parametrize("name", ["bass_c4", "bell_c4"])
def test_factory_pitched_samples_are_c4(name):
    audio, rate = sf.read(SAMPLES_DIR / f"{name}.wav", dtype="float32")
    root = detect_root_note(audio, rate)
    assert root.pitched and root.midi_note == 60 and abs(root.fine_tune_cents) <= 15, root


@pytest.mark.parametrize("name", ["kick", "snare", "noise", "glide"])
def test_unsteady_sounds_fall_back_to_c4_and_say_why(name):
    if name == "noise":
        audio = np.random.default_rng(0).standard_normal(SAMPLE_RATE).astype(np.float32) * 0.3
    elif name == "glide":  # an octave up over the sample: no single root
        audio = harmonic_tone(np.geomspace(200.0, 400.0, int(1.5 * SAMPLE_RATE)))
    else:
        audio = sf.read(SAMPLES_DIR / f"{name}.wav", dtype="float32")[0]
    root = detect_root_note(audio, SAMPLE_RATE)
    assert not root.pitched and root.midi_note == FALLBACK_ROOT_NOTE and root.fine_tune_cents == 0.0, root
    assert root.message.startswith("no ") and "C4" in root.message


def test_silent_input_is_refused():
    with pytest.raises(ValueError, match="non-silent"):
        detect_root_note(np.zeros(4096, np.float32), SAMPLE_RATE)


def test_cli_prints_each_root_note_and_fails_on_a_missing_file(tmp_path):
    from typer.testing import CliRunner

    from latentmorph.cli import app

    result = CliRunner().invoke(app, ["pitch", "--json", str(SAMPLES_DIR / "bass_c4.wav"), str(tmp_path / "missing.wav")])
    assert result.exit_code == 1
    first = json.loads(result.stdout.splitlines()[0])
    assert first["root_note"] == 60 and first["pitched"] and "C4" in first["message"]
    assert "missing.wav" in result.output

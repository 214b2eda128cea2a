"""Expressive MIDI, tuning and playback of the real VST3 in pedalboard (issue 13, items 2–4): pitch
bend, mod wheel → morph, velocity → level curve and morph offset, per-slot root notes and fine
tune (value text as note names), one-shot length, all sound off / all notes off, sample start."""

from __future__ import annotations

import os
import subprocess

import numpy as np
import pytest
import soundfile as sf

from latentmorph.plugin_state import make_state, plugin_state, read_state, set_parameter, set_plugin_state

from .conftest import PRESETS_DIR, REPO_ROOT, SAMPLE_RATE, SAMPLES_DIR, note_messages, status_of
from .conftest import peak_hz as spectral_peak_hz

TONE_HZ = 440.0  # A4 = MIDI 69
TONE_S = 2.0


def tone_file(path, hz=TONE_HZ, seconds=TONE_S):
    """A sine at `hz`, 0.5 peak, with 10 ms fades at both ends (so its last sample is ~0)."""
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    fade = np.minimum(1.0, np.minimum(t, seconds - t) / 0.01)
    sf.write(path, (0.5 * np.sin(2 * np.pi * hz * t) * fade).astype(np.float32), SAMPLE_RATE, subtype="FLOAT")
    return path


def peak_hz(audio, start_s=0.2, length_s=1.0):
    """The spectral peak (conftest.peak_hz) of `length_s` from `start_s`."""
    return spectral_peak_hz(audio[int(start_s * SAMPLE_RATE) : int((start_s + length_s) * SAMPLE_RATE)])


def cents(f, reference):
    return 1200 * np.log2(f / reference)


def play(plugin, messages, duration_s, buffer_size=512):
    """Render raw (bytes, time_s) MIDI messages offline; returns the mono mix."""
    audio = plugin(
        sorted(messages, key=lambda m: m[1]),
        duration=duration_s,
        sample_rate=SAMPLE_RATE,
        num_channels=2,
        buffer_size=buffer_size,
        reset=True,
    )
    return audio.mean(axis=0)


def bend(value, time_s=0.0):
    """A pitch-bend message: value -8192 … +8191 around the centre."""
    raw = value + 8192
    return bytes([0xE0, raw & 0x7F, raw >> 7]), time_s


def cc(controller, value, time_s):
    return bytes([0xB0, controller, value]), time_s


@pytest.fixture
def tone_plugin(plugin, tmp_path):
    """The plugin with a 440 Hz sine in both slots, both roots A4 (69): morph 0 plays the file itself."""
    tone = tone_file(tmp_path / "a4.wav")
    set_plugin_state(plugin, make_state(tone, tone, {"root_note": 69, "root_note_b": 69}))
    play(plugin, [], 0.1)  # offline: waits for the grid
    assert status_of(plugin).get("state") == "ready", status_of(plugin)
    return plugin


@pytest.mark.parametrize(("value", "semitones"), [(8191, 2.0), (-8192, -2.0), (4096, 4096 / 8191 * 2)])
def test_pitch_bend_with_range_2_bends_by_its_share_of_two_semitones(tone_plugin, value, semitones):
    assert tone_plugin.bend_range_semitones == 2.0, "default range"
    audio = play(tone_plugin, [bend(value), *note_messages([(69, 0.0, 1.5)])], 1.5)
    error = cents(peak_hz(audio), TONE_HZ) - 100 * semitones
    print(f"bend {value:+d}: {error:+.3f} cents off {semitones:+.3f} semitones")
    assert abs(error) <= 10, f"bend {value} is {error:+.2f} cents off"
    assert abs(error) <= 1, "the bend is exact: only the measurement's error should remain"


def test_pitch_bend_range_12_bends_an_octave_and_applies_from_its_event(tone_plugin):
    tone_plugin.bend_range_semitones = 12
    audio = play(tone_plugin, [bend(8191, 0.8), *note_messages([(69, 0.0, 1.8)])], 1.8)
    assert abs(cents(peak_hz(audio, 0.1, 0.6), TONE_HZ)) <= 1, "before the bend event"
    assert abs(cents(peak_hz(audio, 1.0, 0.6), 2 * TONE_HZ)) <= 1, "after it: an octave up"


def test_slot_b_plays_in_tune_on_its_own_root_note_and_fine_tune(tone_plugin):
    """root_note_b and fine_tune_b_cents tune the last row; at morph 1 note 69 with B's root at 57.5
    (A3 + 50 cents) plays 11.5 semitones above the file; slot A's tuning no longer counts there."""
    tone_plugin.morph = 1.0
    tone_plugin.parameters["root_note_b"].raw_value = 57 / 127
    tone_plugin.fine_tune_b_cents = 50.0
    tone_plugin.fine_tune_a_cents = -30.0
    audio = play(tone_plugin, note_messages([(69, 0.0, 1.5)]), 1.5)
    assert abs(cents(peak_hz(audio), TONE_HZ) - 1150) <= 1
    tone_plugin.morph = 0.0
    audio = play(tone_plugin, note_messages([(69, 0.0, 1.5)]), 1.5)
    assert abs(cents(peak_hz(audio), TONE_HZ) - 30) <= 1, "at morph 0, slot A's fine tune"


def test_root_note_text_is_a_note_name_and_hosts_set_it_by_number(plugin):
    parameter = plugin.parameters["root_note"]
    assert parameter.string_value == "C4", "default 60"
    parameter.raw_value = 62 / 127  # a host's automation: the normalised value
    assert parameter.string_value == "D4"
    assert plugin_state(plugin).params["root_note"] == 62
    parameter.raw_value = parameter.get_raw_value_for_text("65")  # a number typed in
    assert parameter.string_value == "F4" and plugin_state(plugin).params["root_note"] == 65
    plugin.root_note_b = "C#5"  # pedalboard sets it by its value text
    assert plugin_state(plugin).params["root_note_b"] == 73
    assert plugin.parameters["root_note_b"].get_raw_value_for_text("Eb2") == pytest.approx(39 / 127)
    assert plugin.parameters["root_note_b"].get_raw_value_for_text("C-1") == 0.0
    assert {"C-1", "G9"} <= set(parameter.valid_values) and len(parameter.valid_values) == 128


def test_a_state_without_root_note_b_plays_slot_b_on_root_note(plugin):
    """Old projects: before slot B had its own root note, root_note tuned the whole grid."""
    set_plugin_state(plugin, make_state(SAMPLES_DIR / "kick.wav", SAMPLES_DIR / "snare.wav", {"root_note": 62}))
    params = plugin_state(plugin).params
    assert params["root_note"] == 62 and params["root_note_b"] == 62
    set_plugin_state(
        plugin, make_state(SAMPLES_DIR / "kick.wav", SAMPLES_DIR / "snare.wav", {"root_note": 62, "root_note_b": 50})
    )
    assert plugin_state(plugin).params["root_note_b"] == 50


@pytest.fixture
def bass_bell(plugin):
    plugin.load_preset(str(PRESETS_DIR / "pitched_bass_to_bell.vstpreset"))
    plugin.gain_db = -6.0
    return plugin


def test_mod_wheel_127_with_amount_1_plays_like_morph_1(bass_bell):
    notes = note_messages([(60, 0.3, 1.0)])
    bass_bell.morph = 1.0
    at_one = play(bass_bell, notes, 1.3)
    bass_bell.morph = 0.0
    at_zero = play(bass_bell, notes, 1.3)
    bass_bell.mod_wheel_morph = 1.0
    wheel = play(bass_bell, [cc(1, 127, 0.0), *notes], 1.3)  # the 20 ms smoother has settled by 0.3 s
    assert np.max(np.abs(at_one - at_zero)) > 0.05
    np.testing.assert_allclose(wheel, at_one, rtol=0, atol=1e-4)
    np.testing.assert_allclose(play(bass_bell, [cc(1, 0, 0.0), *notes], 1.3), at_zero, rtol=0, atol=1e-6)
    bass_bell.mod_wheel_morph = 0.0
    np.testing.assert_allclose(play(bass_bell, [cc(1, 127, 0.0), *notes], 1.3), at_zero, rtol=0, atol=1e-6)
    bass_bell.morph, bass_bell.mod_wheel_morph = 1.0, -1.0  # signed: the wheel pulls towards A
    np.testing.assert_allclose(play(bass_bell, [cc(1, 127, 0.0), *notes], 1.3), at_zero, rtol=0, atol=1e-4)


def test_velocity_curve_shapes_the_level(bass_bell):
    notes = [(60, 0.0, 0.8)]
    linear = play(bass_bell, note_messages(notes, velocity=64), 1.0)
    assert bass_bell.velocity_curve == 1.0, "default: linear, as before"
    full = play(bass_bell, note_messages(notes, velocity=127), 1.0)
    np.testing.assert_allclose(linear, full * 64 / 127, rtol=0, atol=1e-6)
    bass_bell.velocity_curve = 2.0
    squared = play(bass_bell, note_messages(notes, velocity=64), 1.0)
    np.testing.assert_allclose(squared, full * (64 / 127) ** 2, rtol=0, atol=1e-6)
    bass_bell.velocity_curve = 0.0
    np.testing.assert_allclose(play(bass_bell, note_messages(notes, velocity=1), 1.0), full, rtol=0, atol=1e-6)


def test_velocity_morph_offsets_each_note_by_its_velocity(bass_bell):
    notes = [(60, 0.0, 0.8)]
    bass_bell.morph = 1.0
    at_one = play(bass_bell, note_messages(notes, velocity=127), 1.0)
    bass_bell.morph = 0.5
    at_half = play(bass_bell, note_messages(notes, velocity=127), 1.0)
    bass_bell.morph, bass_bell.velocity_morph = 0.0, 1.0
    np.testing.assert_array_equal(play(bass_bell, note_messages(notes, velocity=127), 1.0), at_one)
    bass_bell.velocity_morph = 0.5
    np.testing.assert_allclose(play(bass_bell, note_messages(notes, velocity=127), 1.0), at_half, rtol=0, atol=1e-5)


def test_a_one_shot_plays_to_the_end_of_its_sample_at_any_pitch(tone_plugin):
    """An octave up a 2 s one-shot lasts 1 s, however long the key is held (issue 13: the C5 that 'fell
    silent early' was its sample ending); nothing else cuts it before then."""
    audio = play(tone_plugin, note_messages([(81, 0.0, 2.5)]), 2.5)
    sounding = np.flatnonzero(np.abs(audio) > 1e-4)
    end_s = (sounding[-1] + 1) / SAMPLE_RATE
    assert abs(end_s - TONE_S / 2) < 0.01, f"note 81 ended at {end_s:.3f} s"
    assert np.max(np.abs(audio[int(0.95 * SAMPLE_RATE) : int(0.98 * SAMPLE_RATE)])) > 0.3, "full level until its fade"
    assert abs(cents(peak_hz(audio, 0.2, 0.7), 2 * TONE_HZ)) <= 1


def test_all_sound_off_cuts_in_3_ms_and_all_notes_off_releases(tone_plugin):
    tone_plugin.release_ms = 500.0
    notes = note_messages([(69, 0.0, 1.9), (76, 0.0, 1.9)])
    tone_plugin.gain_db = -6.0
    released = play(tone_plugin, [*notes, cc(123, 0, 0.5)], 1.5)
    cut = play(tone_plugin, [*notes, cc(120, 0, 0.5)], 1.5)
    start = int(0.5 * SAMPLE_RATE)
    assert np.max(np.abs(cut[start + round(0.003 * SAMPLE_RATE) + 1 :])) == 0.0, "silent 3 ms after CC 120"
    assert np.max(np.abs(cut[start : start + 64])) > 0.1, "a fade, not a click"
    assert np.max(np.abs(released[start + int(0.2 * SAMPLE_RATE) : start + int(0.3 * SAMPLE_RATE)])) > 0.1, "releasing"
    assert np.max(np.abs(released[start + int(0.51 * SAMPLE_RATE) :])) == 0.0, "the 500 ms release has ended"


def test_start_ms_starts_notes_into_the_sample(tone_plugin, tmp_path):
    click = np.zeros(SAMPLE_RATE, np.float32)
    click[int(0.25 * SAMPLE_RATE)] = 0.9
    path = tmp_path / "click.wav"
    sf.write(path, click, SAMPLE_RATE, subtype="FLOAT")
    set_plugin_state(tone_plugin, make_state(path, path, {"root_note": 60, "attack_ms": 0.0}))
    plain = play(tone_plugin, note_messages([(60, 0.0, 0.9)]), 0.5)
    tone_plugin.start_ms = 100.0
    started = play(tone_plugin, note_messages([(60, 0.0, 0.9)]), 0.5)
    assert int(np.argmax(np.abs(plain))) == int(0.25 * SAMPLE_RATE)
    assert int(np.argmax(np.abs(started))) == int(0.15 * SAMPLE_RATE)


SNAPSHOT = REPO_ROOT / "build/plugin/LatentMorphEditorSnapshot_artefacts/Release/LatentMorphEditorSnapshot"


def snapshot_state(tmp_path, *arguments):
    """Runs the editor snapshot tool (the plugin's own processor) with `arguments` and returns the
    processor's state afterwards."""
    if not SNAPSHOT.exists():
        pytest.fail(f"editor snapshot tool not built at {SNAPSHOT}: run `make build`")
    out = tmp_path / "state_out.xml"
    result = subprocess.run(
        [str(SNAPSHOT), str(tmp_path / "editor.png"), *map(str, arguments), "--state-out", str(out)],
        capture_output=True,
        text=True,
        timeout=180,
        env={k: v for k, v in os.environ.items() if k != "DISPLAY"},
    )
    assert result.returncode == 0, result.stderr
    return read_state(out.read_bytes())


def test_a_drop_sets_the_slots_root_note_and_fine_tune_from_the_detected_pitch(tmp_path):
    """A D4 tone 10 cents sharp dropped on A: root_note 62 (+10 cents); a kick dropped on B has no
    steady pitch: root_note_b 60 (C4), and the status says so. A restored state keeps its saved roots."""
    d4 = tone_file(tmp_path / "d4.wav", hz=440.0 * 2 ** ((62.1 - 69) / 12))
    state = snapshot_state(tmp_path, "--drop", "A", d4, "--drop", "B", SAMPLES_DIR / "kick.wav")
    assert state.params["root_note"] == 62 and state.params["fine_tune_a_cents"] == pytest.approx(10, abs=3)
    assert state.params["root_note_b"] == 60 and state.params["fine_tune_b_cents"] == 0
    message = state.status["message"]
    assert state.status["state"] == "ready" and "A: root note D4" in message, message
    assert "B: no" in message and "root note C4" in message, message
    saved = tmp_path / "saved.xml"
    saved.write_bytes(make_state(d4, SAMPLES_DIR / "kick.wav", {"root_note": 50, "root_note_b": 70}))
    restored = snapshot_state(tmp_path, saved)
    assert restored.params["root_note"] == 50 and restored.params["root_note_b"] == 70
    assert "root note" not in restored.status["message"], restored.status


def test_voice_mode_shows_its_name_and_legato_glides_to_the_new_key(tone_plugin):
    assert tone_plugin.voice_mode == "Poly"
    tone_plugin.voice_mode = "Legato"
    assert plugin_state(tone_plugin).params["voice_mode"] == 2
    tone_plugin.glide_ms = 100.0
    audio = play(tone_plugin, note_messages([(69, 0.0, 1.8), (81, 0.5, 1.8)]), 1.8)
    assert abs(cents(peak_hz(audio, 0.1, 0.35), TONE_HZ)) <= 1
    assert abs(cents(peak_hz(audio, 0.7, 0.5), 2 * TONE_HZ)) <= 1, "one voice, now an octave up"


def test_sustain_loop_holds_the_note_until_its_release(tone_plugin):
    assert tone_plugin.loop_mode == "One-shot"
    tone_plugin.loop_mode = "Sustain loop"
    tone_plugin.release_ms = 100.0
    audio = play(tone_plugin, note_messages([(69, 0.0, 4.0)]), 4.5)
    assert np.max(np.abs(audio[int(3.5 * SAMPLE_RATE) : 4 * SAMPLE_RATE])) > 0.3, "held past the 2 s sample"
    assert np.max(np.abs(audio[int(4.11 * SAMPLE_RATE) :])) == 0.0, "until its release ends"
    assert abs(cents(peak_hz(audio, 2.5, 1.0), TONE_HZ)) <= 5, "the loop keeps the pitch"


def test_set_parameter_sets_named_value_parameters_by_number_as_batch_renders_do(plugin):
    """latentmorph.plugin_state.set_parameter (render jobs' [params]): numbers for the parameters whose
    value text is a name go through the plugin's own text parser."""
    for name, value, text in [("root_note", 62, "D4"), ("root_note_b", 57.0, "A3"), ("voice_mode", 2, "Legato"),
                              ("loop_mode", 1, "Sustain loop"), ("morph", 0.25, None)]:  # fmt: skip
        set_parameter(plugin, name, value)
        assert plugin_state(plugin).params[name] == pytest.approx(value, abs=1e-4), name
        assert text is None or getattr(plugin, name) == text, name


def test_the_sustain_pedal_reaches_the_plugin_through_the_vst3_midi_mapping(tone_plugin):
    """VST3 hosts deliver controllers only through the plugin's MIDI mapping (JUCE's emulated MIDI CC
    parameters): before they were enabled, CC 64 never reached the engine in pedalboard or a DAW."""
    tone_plugin.release_ms = 50.0
    notes = note_messages([(69, 0.0, 0.3)])
    plain = play(tone_plugin, notes, 1.0)
    pedalled = play(tone_plugin, [cc(64, 127, 0.1), *notes, cc(64, 0, 0.7)], 1.0)
    assert np.max(np.abs(plain[int(0.4 * SAMPLE_RATE) :])) == 0.0
    assert np.max(np.abs(pedalled[int(0.4 * SAMPLE_RATE) : int(0.7 * SAMPLE_RATE)])) > 0.3, "held by the pedal"
    assert np.max(np.abs(pedalled[int(0.76 * SAMPLE_RATE) :])) == 0.0, "released when it goes up"

"""The real VST3 in pedalboard: factory presets, pitch, morph behaviour, state, determinism."""

from __future__ import annotations

import latentmorph_engine
import numpy as np
import pytest

from latentmorph.metrics import mrstft_distance
from latentmorph.plugin_state import make_state, plugin_state, set_plugin_state

from .conftest import PRESETS_DIR, SAMPLE_RATE, SAMPLES_DIR, render, status_of

PRESETS = {
    "drums_kick_to_snare": ("kick.wav", "snare.wav"),
    "pitched_bass_to_bell": ("bass_c4.wav", "bell_c4.wav"),
    "xy_drums_and_tones": ("kick.wav", "snare.wav", "bass_c4.wav", "bell_c4.wav"),
}


def db(x: float) -> float:
    return 20 * np.log10(max(x, 1e-12))


def peak(audio: np.ndarray, start_s: float, end_s: float | None = None) -> float:
    segment = audio[int(start_s * SAMPLE_RATE): None if end_s is None else int(end_s * SAMPLE_RATE)]
    return float(np.max(np.abs(segment)))


def f0_hz(audio: np.ndarray) -> float:
    """Median pYIN f0 of the voiced frames (librosa)."""
    import librosa

    f0, voiced, _ = librosa.pyin(audio, fmin=60, fmax=2000, sr=SAMPLE_RATE, frame_length=4096)
    assert np.count_nonzero(voiced) > 5, "no pitched frames found"
    return float(np.median(f0[voiced]))


def test_loads_as_instrument_with_parameters(plugin):
    """Every parameter of the engine's table (plugin/engine/ParameterTable.h) is a host parameter with
    the table's range and default."""
    assert plugin.is_instrument
    for spec in latentmorph_engine.PARAMETERS:
        name = spec["id"]
        assert name in plugin.parameters, f"parameter {name} missing: {list(plugin.parameters)}"
        if plugin.parameters[name].type is str:  # value text: note names ("C4"), voice modes (tests/test_expressive.py)
            assert len(plugin.parameters[name].valid_values) == spec["max"] - spec["min"] + 1, name
            assert plugin_state(plugin).params[name] == spec["default"], name
            continue
        assert plugin.parameters[name].range[:2] == pytest.approx((spec["min"], spec["max"])), name
        assert getattr(plugin, name) == pytest.approx(spec["default"], abs=1e-4), name
    assert len(plugin.parameters) < 40, "JUCE's emulated MIDI CC parameters (16 x 130) leaked into the host"


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_factory_preset_silent_outside_notes_and_loud_inside(plugin, preset):
    plugin.load_preset(str(PRESETS_DIR / f"{preset}.vstpreset"))
    state = plugin_state(plugin)
    assert [s.rsplit("/", 1)[-1] for s in state.slots] == list(PRESETS[preset])
    audio = render(plugin, [(60, 0.5, 1.0)], duration_s=2.5)
    assert status_of(plugin).get("state") == "ready", status_of(plugin)
    release_s = plugin.release_ms / 1000.0
    assert peak(audio, 0.0, 0.5) < 1e-4, "sound before the first note"
    assert peak(audio, 0.5, 1.0) > 0.05, "note is not clearly audible"
    assert peak(audio, 1.0 + release_s + 0.02) < 1e-4, "sound after the release ended"


def test_pitched_preset_plays_in_tune_one_octave_up(plugin):
    plugin.load_preset(str(PRESETS_DIR / "pitched_bass_to_bell.vstpreset"))
    plugin.morph = 0.0
    low = render(plugin, [(60, 0.0, 0.8)], duration_s=0.8)
    high = render(plugin, [(72, 0.0, 0.8)], duration_s=0.8)
    cents = 1200 * np.log2(f0_hz(high[: int(0.4 * SAMPLE_RATE)]) / f0_hz(low[: int(0.8 * SAMPLE_RATE)]))
    assert abs(cents - 1200) <= 25, f"note 72 is {cents:.1f} cents above note 60"


@pytest.fixture(scope="module")
def morph_renders(vst3_path):
    """The pitched preset at morph 0, 0.5, 1 (note 60 held 0.8 s), and each sample's own render:
    the plugin with that sample in both slots (so the model's rendering of the sample alone)."""
    import pedalboard

    plugin = pedalboard.load_plugin(str(vst3_path), initialization_timeout=0.1)
    plugin.load_preset(str(PRESETS_DIR / "pitched_bass_to_bell.vstpreset"))
    renders = {}
    for morph in (0.0, 0.5, 1.0):
        plugin.morph = morph
        renders[morph] = render(plugin, [(60, 0.0, 0.8)], duration_s=0.8)
    sources = []
    for name in PRESETS["pitched_bass_to_bell"]:
        set_plugin_state(plugin, make_state(SAMPLES_DIR / name, SAMPLES_DIR / name))
        sources.append(render(plugin, [(60, 0.0, 0.8)], duration_s=0.8))
        assert status_of(plugin).get("state") == "ready", status_of(plugin)
    return renders, sources


def test_morph_endpoints_sound_like_their_samples(morph_renders):
    renders, (sample_a, sample_b) = morph_renders
    d0a, d0b = mrstft_distance(renders[0.0], sample_a), mrstft_distance(renders[0.0], sample_b)
    d1a, d1b = mrstft_distance(renders[1.0], sample_a), mrstft_distance(renders[1.0], sample_b)
    assert d0a < d0b, f"morph=0 is closer to B's render ({d0b:.3f}) than to A's ({d0a:.3f})"
    assert d1b < d1a, f"morph=1 is closer to A's render ({d1a:.3f}) than to B's ({d1b:.3f})"


def test_morph_midpoint_is_a_new_sound_not_a_crossfade(morph_renders):
    renders, _ = morph_renders
    mid, crossfade = renders[0.5], 0.5 * (renders[0.0] + renders[1.0])
    distances = {"morph 0": mrstft_distance(mid, renders[0.0]), "morph 1": mrstft_distance(mid, renders[1.0]),
                 "50/50 crossfade": mrstft_distance(mid, crossfade)}
    for name, distance in distances.items():
        assert distance > 0.1, f"morph 0.5 is barely different from {name}: {distances}"


def test_polyphony_one_makes_a_second_note_cut_the_first(plugin):
    plugin.load_preset(str(PRESETS_DIR / "pitched_bass_to_bell.vstpreset"))
    assert plugin.polyphony == 16, "default polyphony"
    plugin.gain_db = -6.0  # two overlapping notes stay under the output limiter's ceiling
    first, second = (60, 0.0, 1.0), (67, 0.3, 1.0)
    cut_at = int(0.3 * SAMPLE_RATE) + round(0.003 * SAMPLE_RATE)  # the stolen note's 3 ms fade has ended
    poly = render(plugin, [first, second], duration_s=1.0)
    plugin.polyphony = 1
    mono = render(plugin, [first, second], duration_s=1.0)
    second_alone = render(plugin, [second], duration_s=1.0)
    assert peak(second_alone, 0.3) > 0.05
    np.testing.assert_allclose(mono[cut_at:], second_alone[cut_at:], rtol=0, atol=1e-6)
    assert np.max(np.abs(poly[cut_at:] - second_alone[cut_at:])) > 0.05, "with 16 voices the first note sounds on"


def test_renders_are_deterministic(plugin):
    plugin.load_preset(str(PRESETS_DIR / "drums_kick_to_snare.vstpreset"))
    plugin.morph = 0.37
    first = render(plugin, [(60, 0.1, 0.4), (64, 0.2, 0.5)], duration_s=1.0)
    second = render(plugin, [(60, 0.1, 0.4), (64, 0.2, 0.5)], duration_s=1.0)
    assert np.max(np.abs(first)) > 0.05
    assert np.array_equal(first, second)


def test_output_does_not_depend_on_buffer_size(plugin):
    plugin.load_preset(str(PRESETS_DIR / "pitched_bass_to_bell.vstpreset"))
    plugin.morph = 0.6
    notes = [(55, 0.013, 0.5), (60, 0.2, 0.61), (67, 0.3337, 0.9)]
    renders = {size: render(plugin, notes, duration_s=1.2, buffer_size=size) for size in (32, 512, 4096)}
    assert np.max(np.abs(renders[512])) > 0.05
    np.testing.assert_allclose(renders[32], renders[512], atol=1e-6)
    np.testing.assert_allclose(renders[4096], renders[512], atol=1e-6)


def test_raw_state_round_trip_restores_slots_and_parameters(vst3_path):
    import pedalboard

    first = pedalboard.load_plugin(str(vst3_path), initialization_timeout=0.1)
    set_plugin_state(first, make_state(SAMPLES_DIR / "kick.wav", SAMPLES_DIR / "bell_c4.wav",
                                       {"morph": 0.25, "gain_db": -6.0, "attack_ms": 10.0, "decay_ms": 300.0,
                                        "sustain": 0.5, "release_ms": 400.0, "root_note": 62}))
    saved = first.raw_state
    second = pedalboard.load_plugin(str(vst3_path), initialization_timeout=0.1)
    second.raw_state = saved
    restored = plugin_state(second)
    assert restored.slots == [str(SAMPLES_DIR / "kick.wav"), str(SAMPLES_DIR / "bell_c4.wav")]
    assert second.morph == pytest.approx(0.25, abs=1e-4)
    assert second.gain_db == pytest.approx(-6.0, abs=1e-3)
    assert second.sustain == pytest.approx(0.5, abs=1e-4)
    assert second.release_ms == pytest.approx(400.0, abs=0.1)
    assert second.root_note == "D4" and restored.params["root_note"] == 62  # shown as a note name


def test_corrupt_state_is_refused_and_keeps_the_current_state(plugin):
    plugin.load_preset(str(PRESETS_DIR / "drums_kick_to_snare.vstpreset"))
    plugin.morph = 0.4
    before = plugin_state(plugin)
    for garbage in (b"\x00\xff garbage", b"<LatentMorphState format_version=\"99\"/>", b"<Other/>"):
        set_plugin_state(plugin, garbage)
        after = plugin_state(plugin)
        assert after.slots == before.slots
        assert after.params["morph"] == pytest.approx(0.4, abs=1e-4)
        assert after.status.get("state") == "error"

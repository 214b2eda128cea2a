"""The voice engine's expressive MIDI and tuning (plugin/engine/Engine.h, "Morph", "Tuning",
"Controllers"), through the Python module `latentmorph_engine`: pitch bend, mod wheel, velocity,
per-slot roots, CC 120 / 121 / 123, start offset."""

import numpy as np
import pytest

from .conftest import peak_hz
from .test_engine import SAMPLE_RATE, make_engine, noise_grid

latentmorph_engine = pytest.importorskip("latentmorph_engine")


def sine_rows(*hz, seconds=1.0):
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    return np.stack([0.5 * np.sin(2 * np.pi * f * t) for f in hz]).astype(np.float32)


def bend(offset, value):
    raw = value + 8192
    return (offset, bytes([0xE0, raw & 0x7F, raw >> 7]))


@pytest.mark.parametrize(("value", "semitones"), [(8191, 2.0), (-8192, -2.0), (0, 0.0), (4096, 2 * 4096 / 8191)])
def test_pitch_bend_maps_14_bits_to_the_range(value, semitones):
    engine = make_engine(noise_grid(2, 1000))
    engine.render(100, [bend(0, value)], reset=True)
    assert engine.pitch_bend_semitones == pytest.approx(semitones, abs=1e-6)
    engine.render(100, [(0, bytes([0xB0, 121, 0]))], reset=False)  # reset all controllers
    assert engine.pitch_bend_semitones == 0.0


def test_a_bent_note_reads_the_grid_at_the_bent_ratio():
    engine = make_engine(sine_rows(440.0, 440.0), bend_range_semitones=12.0)
    audio = engine.render(SAMPLE_RATE // 2, [bend(0, 8191), (0, 60, 127, True)])
    assert 1200 * np.log2(peak_hz(audio) / 880.0) == pytest.approx(0.0, abs=0.5)


def test_each_end_plays_in_tune_on_its_own_root_and_fine_tune():
    """Row 0 a sine at 440 Hz (root 60), row 1 at 440 * 2^(4/12) + 30 cents (root 64, +30 cents): note 60
    sounds 440 Hz at both ends."""
    engine = make_engine(sine_rows(440.0, 440.0 * 2 ** (4.3 / 12)), root_note_b=64, fine_tune_b_cents=30.0)
    for morph in (0.0, 1.0):
        engine.morph = morph
        audio = engine.render(SAMPLE_RATE // 2, [(0, 60, 127, True)])
        assert 1200 * np.log2(peak_hz(audio) / 440.0) == pytest.approx(0.0, abs=0.5), morph


def test_mod_wheel_and_velocity_add_to_the_morph():
    renders = noise_grid(5, 4000)
    reference = make_engine(renders, morph=0.75).render(2000, [(0, 60, 127, True)])
    wheel = make_engine(renders, morph=0.25, mod_wheel_morph=1.0)
    wheel.render(1, [(0, bytes([0xB0, 1, 127]))], reset=True)
    wheel.render(SAMPLE_RATE, reset=False)  # the 20 ms smoother settles
    held = wheel.render(2000, [(0, 60, 127, True)], reset=False)
    np.testing.assert_array_equal(held, make_engine(renders, morph=1.0).render(2000, [(0, 60, 127, True)]))
    velocity = make_engine(renders, morph=0.25, velocity_morph=0.5)
    np.testing.assert_array_equal(velocity.render(2000, [(0, 60, 127, True)]), reference)


def test_all_sound_off_fades_in_3_ms_and_all_notes_off_releases():
    engine = make_engine(noise_grid(2, 20000), release_ms=100.0)
    events = [(0, 60, 100, True), (0, 64, 100, True)]
    cut = engine.render(2000, [*events, (1000, bytes([0xB0, 120, 0]))])
    assert np.all(cut[1000 + round(0.003 * SAMPLE_RATE) :] == 0) and engine.active_voice_count == 0
    released = engine.render(2000, [*events, (1000, bytes([0xB0, 123, 0]))])
    assert np.max(np.abs(released[1900:])) > 0.01 and engine.active_voice_count == 2


def test_start_ms_skips_into_the_sample():
    renders = noise_grid(2, 8000)
    plain = make_engine(renders).render(4000, [(0, 60, 127, True)])
    started = make_engine(renders, start_ms=1000 * 441 / SAMPLE_RATE).render(4000, [(0, 60, 127, True)])
    np.testing.assert_array_equal(started[:3000], plain[441:3441])


def cents_between(f, reference):
    return 1200 * np.log2(f / reference)


def test_mono_retriggers_and_returns_to_the_last_key_still_held():
    renders = noise_grid(2, 20000, seed=3)
    events = [(0, 60, 127, True), (1000, 67, 127, True), (3000, 67, 0, False)]  # key 60 stays down
    mono = make_engine(renders, voice_mode=1).render(6000, events)
    fade = round(0.003 * SAMPLE_RATE)
    alone_67 = make_engine(renders).render(6000, [(1000, 67, 127, True)])
    np.testing.assert_allclose(mono[1000 + fade : 3000], alone_67[1000 + fade : 3000], atol=1e-6)
    back_to_60 = make_engine(renders).render(6000, [(3000, 60, 127, True)])  # a new voice: the sample from its start
    np.testing.assert_allclose(mono[3000 + fade :], back_to_60[3000 + fade :], atol=1e-6)


def test_legato_keeps_the_voice_and_moves_its_pitch_and_glide_slides_there():
    engine = make_engine(sine_rows(440.0, 440.0, seconds=3.0), root_note=69, voice_mode=2, attack_ms=800.0)
    events = [(0, 69, 127, True), (22050, 76, 127, True), (44100, 76, 0, False)]
    audio = engine.render(66150, events)
    half = SAMPLE_RATE // 2
    assert cents_between(peak_hz(audio[half + 2000 : 2 * half]), 440.0 * 2 ** (7 / 12)) == pytest.approx(0, abs=1)
    assert cents_between(peak_hz(audio[2 * half + 2000 :]), 440.0) == pytest.approx(0, abs=1), "back to the held key"
    # no new attack: the level keeps rising through the key change (a retrigger would restart it from 0)
    assert np.max(np.abs(audio[half : half + 500])) > 0.9 * np.max(np.abs(audio[half - 500 : half]))
    engine.glide_ms = 200.0
    glided = engine.render(2 * half, [(0, 69, 127, True), (half, 81, 127, True)])
    middle = cents_between(peak_hz(glided[half + 3000 : half + 5820]), 440.0)
    assert 300 < middle < 900, f"halfway through the glide: {middle:.0f} cents"
    assert cents_between(peak_hz(glided[half + 9000 :]), 880.0) == pytest.approx(0, abs=1), "there after 200 ms"


def test_sustain_loop_holds_a_decaying_note_until_its_release_without_clicks():
    t = np.arange(2 * SAMPLE_RATE) / SAMPLE_RATE
    decaying = (0.5 * np.sin(2 * np.pi * 220.0 * t) * np.exp(-t / 0.5)).astype(np.float32)
    engine = make_engine(np.stack([decaying, decaying]), release_ms=100.0)
    start, end = engine.loop
    assert 0.1 * SAMPLE_RATE < start < end <= 2 * SAMPLE_RATE and end - start >= 0.05 * SAMPLE_RATE, (start, end)
    one_shot = engine.render(5 * SAMPLE_RATE, [(0, 60, 127, True), (4 * SAMPLE_RATE, 60, 0, False)])
    assert np.max(np.abs(one_shot[2 * SAMPLE_RATE :])) == 0.0, "one-shot (default): the sample ends at 2 s"
    engine.loop_mode = 1
    looped = engine.render(5 * SAMPLE_RATE, [(0, 60, 127, True), (4 * SAMPLE_RATE, 60, 0, False)])
    level_at_loop_end = np.max(np.abs(decaying[end - 2000 : end]))
    assert np.max(np.abs(looped[int(3.5 * SAMPLE_RATE) : 4 * SAMPLE_RATE])) > 0.5 * level_at_loop_end, "still sounding"
    assert np.max(np.abs(looped[4 * SAMPLE_RATE + round(0.1 * SAMPLE_RATE) + 1 :])) == 0.0, "the release ends it"
    step = 2 * np.pi * 220.0 / SAMPLE_RATE * 0.5  # the largest sample-to-sample step of the sine at full level
    assert np.max(np.abs(np.diff(looped[: 4 * SAMPLE_RATE]))) < 1.5 * step, "no click at the loop's jumps"


def test_a_user_loop_replaces_the_one_found():
    renders = noise_grid(2, SAMPLE_RATE, seed=9)
    engine = make_engine(renders, loop_mode=1, loop_crossfade_ms=1.0)
    found = engine.loop
    engine.set_loop_points_ms(100.0, 200.0)
    assert engine.loop == (4410, 8820) and engine.loop != found
    out = engine.render(3 * 8820, [(0, 60, 127, True)])
    fade = round(0.001 * SAMPLE_RATE)
    # after the jump at 200 ms the voice plays from 100 ms again, exactly (the root note: one grid sample per sample)
    np.testing.assert_array_equal(out[8820 : 8820 + 4410 - fade], out[4410 : 8820 - fade])
    engine.set_loop_points_ms(300.0, 200.0)  # end before start: the loop found again
    assert engine.loop == found

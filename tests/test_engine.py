"""The plugin's C++ voice engine (plugin/engine, Python module `latentmorph_engine`) against numpy references.

Needs the CMake build: cmake -S . -B build -DCMAKE_BUILD_TYPE=Release && cmake --build build -j2
"""

import subprocess

import numpy as np
import pytest

from latentmorph.grid import write_grid

from .conftest import REPO_ROOT

latentmorph_engine = pytest.importorskip(
    "latentmorph_engine",
    reason="engine module not built (cmake -S . -B build && cmake --build build -j2 --target latentmorph_engine_py)",
)

SAMPLE_RATE = 44100
ROOT_NOTE = 60
STEAL_FADE = round(0.003 * SAMPLE_RATE)  # documented 3 ms fade of a stolen voice: 132 samples at 44100 Hz
UNDER_THE_LIMITER_DB = -24.0  # output gain that keeps the 16-voice sums below the limiter's ceiling of 1.0


def ms(milliseconds, sample_rate=SAMPLE_RATE):
    """Milliseconds to whole samples as the engine rounds them (200 ms at 44100 Hz = 8820)."""
    return int(round(milliseconds * sample_rate / 1000))


def pedal(offset, value):
    """A sustain pedal event (MIDI CC 64 on channel 1) in render()'s raw MIDI form; value >= 64 is down."""
    return (offset, bytes([0xB0, 64, value]))


def linear_fade(num_samples, start, length):
    """Gain 1 before `start`, then (length - k) / length for k = 0 .. length - 1, then 0: the engine's
    linear release and steal fade, which reach exactly 0 `length` samples after they start."""
    gain = np.ones(num_samples)
    gain[start : start + length] = 1 - np.arange(min(length, num_samples - start)) / length
    gain[start + length :] = 0.0
    return gain


def make_engine(renders, grid_sample_rate_hz=SAMPLE_RATE, host_sample_rate_hz=SAMPLE_RATE, **parameters):
    """An engine playing `renders` [K, N] with a neutral envelope (instant attack, full sustain, long release)."""
    engine = latentmorph_engine.Engine(polyphony=16)
    engine.prepare(host_sample_rate_hz, 512)
    engine.set_grid(np.asarray(renders, dtype=np.float32), grid_sample_rate_hz)
    settings = dict(attack_ms=0.0, decay_ms=1.0, sustain=1.0, release_ms=1000.0, root_note=ROOT_NOTE, morph=0.0, gain_db=0.0)
    settings.update(parameters)
    for name, value in settings.items():
        setattr(engine, name, value)
    return engine


def noise_grid(steps, num_samples, seed=0):
    """Seeded white-noise renders, float32 [steps, num_samples], peak ~0.5."""
    return (np.random.default_rng(seed).uniform(-0.5, 0.5, (steps, num_samples))).astype(np.float32)


def sine_grid(f0_hz, seconds, steps=2, sample_rate=SAMPLE_RATE):
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    return np.tile(0.5 * np.sin(2 * np.pi * f0_hz * t), (steps, 1)).astype(np.float32)


def estimate_f0_hz(signal, sample_rate):
    """Peak of the Hann-windowed, 8x zero-padded spectrum refined by a parabola through log magnitudes."""
    windowed = signal * np.hanning(len(signal))
    spectrum = np.abs(np.fft.rfft(windowed, 8 * len(signal)))
    k = int(np.argmax(spectrum))
    a, b, c = np.log(spectrum[k - 1 : k + 2])
    offset = 0.5 * (a - c) / (a - 2 * b + c)
    return (k + offset) * sample_rate / (8 * len(signal))


def cents(ratio):
    return 1200 * np.log2(ratio)


@pytest.mark.parametrize(
    ("note", "host_sample_rate_hz", "expected_ratio"),
    [
        (ROOT_NOTE + 12, 44100, 2.0),  # an octave up doubles f0
        (ROOT_NOTE - 7, 44100, 2 ** (-7 / 12)),
        (ROOT_NOTE, 48000, 1.0),  # the grid's own pitch at another host rate: 44100 / 48000 read speed
    ],
)
def test_pitch_follows_note_and_host_sample_rate(note, host_sample_rate_hz, expected_ratio):
    f0_hz = 441.0
    engine = make_engine(sine_grid(f0_hz, seconds=2.0))
    engine.prepare(host_sample_rate_hz, 512)
    out = engine.render(host_sample_rate_hz, [(0, note, 127, True)])
    measured = estimate_f0_hz(out[1000 : 1000 + host_sample_rate_hz // 2], host_sample_rate_hz)
    assert abs(cents(measured / (f0_hz * expected_ratio))) < 5.0


def test_root_note_reproduces_the_render_and_the_voice_ends_with_the_sample():
    renders = noise_grid(2, 5000)
    engine = make_engine(renders)
    out = engine.render(8000, [(0, ROOT_NOTE, 127, True)])
    np.testing.assert_allclose(out[:5000], renders[0], rtol=0, atol=1e-7)
    assert np.all(out[5000:] == 0.0)
    assert engine.active_voice_count == 0


def catmull_rom_reference(render, increment, num_samples):
    """Slow, obvious reference of the engine's resampler: read `render` at positions k * increment
    (k = 0, 1, ...) with 4-point Catmull-Rom interpolation, zeros outside the render."""
    padded = np.concatenate([[0.0], render.astype(np.float64), [0.0, 0.0]])
    out = np.zeros(num_samples)
    for k in range(num_samples):
        position = k * increment
        i = int(np.floor(position))
        if i >= len(render):
            break
        f = position - i
        ym1, y0, y1, y2 = padded[i : i + 4]
        out[k] = y0 + 0.5 * f * (y1 - ym1 + f * (2 * ym1 - 5 * y0 + 4 * y1 - y2 + f * (3 * (y0 - y1) + y2 - ym1)))
    return out


@pytest.mark.parametrize(("note", "host_sample_rate_hz"), [(ROOT_NOTE + 5, 44100), (ROOT_NOTE - 3, 48000), (ROOT_NOTE + 19, 32000)])
def test_resampling_matches_a_catmull_rom_reference(note, host_sample_rate_hz):
    renders = noise_grid(2, 3000, seed=5)
    engine = make_engine(renders)
    engine.prepare(host_sample_rate_hz, 512)
    out = engine.render(6000, [(0, note, 127, True)])
    increment = 2 ** ((note - ROOT_NOTE) / 12) * SAMPLE_RATE / host_sample_rate_hz
    np.testing.assert_allclose(out, catmull_rom_reference(renders[0], increment, 6000), rtol=0, atol=2e-6)


def test_note_on_is_sample_accurate():
    renders = noise_grid(2, 3000)
    out = make_engine(renders).render(4000, [(777, ROOT_NOTE, 127, True)])
    assert np.all(out[:777] == 0.0)
    np.testing.assert_allclose(out[777 : 777 + 3000], renders[0], rtol=0, atol=1e-7)


def test_morph_on_a_step_plays_that_render_exactly():
    renders = noise_grid(5, 4000)
    for step in range(5):
        out = make_engine(renders, morph=step / 4).render(4000, [(0, ROOT_NOTE, 127, True)])
        assert np.array_equal(out, renders[step]), f"morph={step / 4} should play render {step}"


@pytest.mark.parametrize("morph", [0.1, 0.3, 0.5, 0.66, 0.95])
def test_morph_between_steps_is_the_linear_mix_of_the_two_neighbours(morph):
    renders = noise_grid(5, 4000)
    position = morph * 4
    i = int(np.floor(position))
    frac = position - i
    expected = (1 - frac) * renders[i] + frac * renders[i + 1]
    out = make_engine(renders, morph=morph).render(4000, [(0, ROOT_NOTE, 127, True)])
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-6)


def test_morph_knob_moves_glide_with_a_20_ms_one_pole():
    # Render 0 is silence and render 1 is DC 1.0, so the output is the smoothed morph value itself.
    renders = np.stack([np.zeros(SAMPLE_RATE), np.ones(SAMPLE_RATE)])
    engine = make_engine(renders, morph=0.0)
    before = engine.render(1000, [(0, ROOT_NOTE, 127, True)])
    engine.morph = 1.0
    after = engine.render(4000, reset=False)
    coefficient = 1 - np.exp(-1 / (0.020 * SAMPLE_RATE))
    expected = 1 - (1 - coefficient) ** np.arange(1, 4001)
    assert np.all(before == 0.0)
    np.testing.assert_allclose(after, expected, rtol=0, atol=1e-5)
    assert np.max(np.abs(np.diff(after))) < 2 * coefficient  # no jump: one step is at most one smoother increment


def test_adsr_follows_the_linear_reference():
    attack_ms, decay_ms, sustain, release_ms = 10.0, 50.0, 0.5, 100.0
    note_on, note_off = 1000, 20000
    dc = np.ones((2, SAMPLE_RATE), dtype=np.float32)
    engine = make_engine(dc, attack_ms=attack_ms, decay_ms=decay_ms, sustain=sustain, release_ms=release_ms)
    out = engine.render(30000, [(note_on, ROOT_NOTE, 127, True), (note_off, ROOT_NOTE, 0, False)])

    ms = lambda x: int(round(x * SAMPLE_RATE / 1000))  # noqa: E731
    attack, decay, release = ms(attack_ms), ms(decay_ms), ms(release_ms)
    reference = np.zeros(30000)
    held = np.concatenate([np.arange(attack) / attack, 1 - (1 - sustain) * np.arange(decay) / decay])
    reference[note_on : note_on + len(held)] = held
    reference[note_on + len(held) : note_off] = sustain
    reference[note_off : note_off + release] = sustain * (1 - np.arange(release) / release)

    assert np.all(out[:note_on] == 0.0), "silence before note-on"
    np.testing.assert_allclose(out, reference, rtol=0, atol=1e-4)
    assert np.max(np.abs(out[note_off + release :])) < 1e-5, "silent once release_ms has passed"
    assert engine.active_voice_count == 0


def test_velocity_scales_level_linearly():
    renders = noise_grid(2, 3000)
    loud = make_engine(renders).render(3000, [(0, ROOT_NOTE, 127, True)])
    soft = make_engine(renders).render(3000, [(0, ROOT_NOTE, 64, True)])
    # Documented law: level = velocity / 127, so 64 is 64 / 127 = 0.504 (-5.95 dB).
    np.testing.assert_allclose(soft, loud * 64 / 127, rtol=1e-6, atol=1e-9)


def test_gain_db_scales_the_output():
    renders = noise_grid(2, 3000)
    unity = make_engine(renders).render(3000, [(0, ROOT_NOTE, 127, True)])
    quieter = make_engine(renders, gain_db=-12.0).render(3000, [(0, ROOT_NOTE, 127, True)])
    np.testing.assert_allclose(quieter, unity * 10 ** (-12 / 20), rtol=1e-5, atol=1e-9)


def test_sixteen_voices_sum_and_the_seventeenth_steals_the_oldest_which_fades_out():
    renders = noise_grid(3, 20000)
    notes = [ROOT_NOTE - 8 + i for i in range(17)]

    def alone(index, onset):
        return make_engine(renders, morph=0.3, gain_db=UNDER_THE_LIMITER_DB).render(4000, [(onset, notes[index], 100, True)])

    # Sixteen notes started one sample apart: all sound, and the result is the sum of each alone.
    engine = make_engine(renders, morph=0.3, gain_db=UNDER_THE_LIMITER_DB)
    sixteen = engine.render(4000, [(i, notes[i], 100, True) for i in range(16)])
    assert engine.active_voice_count == 16
    np.testing.assert_allclose(sixteen, sum(alone(i, i) for i in range(16)), rtol=0, atol=1e-5)

    # A seventeenth at sample 2000 starts at once; the oldest (note 0, started at sample 0) fades out
    # in 3 ms, so from sample 2000 + 132 on the newest sixteen play, each exactly as alone.
    events = [(i, notes[i], 100, True) for i in range(16)] + [(2000, notes[16], 100, True)]
    engine = make_engine(renders, morph=0.3, gain_db=UNDER_THE_LIMITER_DB)
    seventeen = engine.render(4000, events)
    expected = sum(alone(i, i) for i in range(1, 16)) + alone(16, 2000) + alone(0, 0) * linear_fade(4000, 2000, STEAL_FADE)
    np.testing.assert_allclose(seventeen, expected, rtol=0, atol=1e-5)
    assert engine.active_voice_count == 16


@pytest.mark.parametrize("host_sample_rate_hz", [44100, 48000, 22050])
def test_output_does_not_depend_on_block_size(host_sample_rate_hz):
    """Random notes, sustain pedal presses (values on both sides of 64) and enough overlap to steal voices."""
    rng = np.random.default_rng(1)
    renders = noise_grid(9, 30000, seed=2)
    events = []
    for _ in range(120):
        onset = int(rng.integers(0, 40000))
        note = int(rng.integers(40, 90))
        events.append((onset, note, int(rng.integers(1, 128)), True))
        events.append((min(onset + int(rng.integers(1, 5000)), 47999), note, 0, False))
    for down_at in range(1000, 40000, 8000):
        events.append(pedal(down_at + int(rng.integers(0, 1000)), int(rng.integers(64, 128))))
        events.append(pedal(down_at + int(rng.integers(4000, 6000)), int(rng.integers(0, 64))))

    def render(block_size, polyphony=16):
        engine = latentmorph_engine.Engine(polyphony=polyphony)
        engine.prepare(host_sample_rate_hz, 512)
        engine.set_grid(renders, SAMPLE_RATE)
        for name, value in dict(root_note=ROOT_NOTE, morph=0.37, attack_ms=5.0, decay_ms=80.0, sustain=0.6,
                                release_ms=30.0, gain_db=-3.0).items():
            setattr(engine, name, value)
        return engine.render(48000, events, block_size=block_size)

    outputs = [render(block_size) for block_size in (1, 32, 512, 4096)]
    assert np.max(np.abs(outputs[0])) > 0.1
    for output in outputs[1:]:
        np.testing.assert_allclose(output, outputs[0], rtol=0, atol=1e-7)
    # The pedal piles up more than 16 voices, so some were stolen: 64 voices sound different.
    assert np.max(np.abs(render(512, polyphony=64) - outputs[0])) > 0.01


def test_no_grid_renders_exact_zeros():
    engine = latentmorph_engine.Engine()
    engine.prepare(SAMPLE_RATE, 512)
    assert not engine.has_grid
    assert np.all(engine.render(5000, [(0, 60, 127, True), (100, 64, 127, True)]) == 0.0)

    engine = make_engine(noise_grid(2, 5000))
    engine.clear_grid()
    assert np.all(engine.render(5000, [(0, 60, 127, True)]) == 0.0)


def test_set_grid_rejects_bad_grids():
    engine = latentmorph_engine.Engine()
    with pytest.raises(ValueError, match="at least 2 steps"):
        engine.set_grid(np.zeros((1, 100), np.float32), SAMPLE_RATE)
    with pytest.raises(ValueError, match="non-finite"):
        engine.set_grid(np.full((2, 100), np.nan, np.float32), SAMPLE_RATE)
    with pytest.raises(ValueError, match="2-D"):
        engine.set_grid(np.zeros(100, np.float32), SAMPLE_RATE)


def test_grid_file_reader_round_trips_and_refuses_broken_files(tmp_path):
    renders = noise_grid(9, 1234)
    good = tmp_path / "good.lmgrid"
    write_grid(good, renders, 44100)
    read, sample_rate_hz = latentmorph_engine.read_grid_file(str(good))
    assert read.shape == (9, 1234) and read.dtype == np.float32 and sample_rate_hz == 44100
    assert np.array_equal(read, renders)

    truncated = tmp_path / "truncated.lmgrid"
    truncated.write_bytes(good.read_bytes()[:-4])
    with pytest.raises(ValueError, match="expected 24 \\+ 4"):
        latentmorph_engine.read_grid_file(str(truncated))

    wrong_magic = tmp_path / "wrong_magic.lmgrid"
    wrong_magic.write_bytes(b"RIFFWAVE" + good.read_bytes()[8:])
    with pytest.raises(ValueError, match="bad magic"):
        latentmorph_engine.read_grid_file(str(wrong_magic))

    with pytest.raises(ValueError, match="cannot open"):
        latentmorph_engine.read_grid_file(str(tmp_path / "missing.lmgrid"))


def held_note(renders, num_samples, onset=500, velocity=127, **parameters):
    """The engine's render of one note that is never released (the reference the pedal tests gate)."""
    return make_engine(renders, **parameters).render(num_samples, [(onset, ROOT_NOTE, velocity, True)])


@pytest.mark.parametrize(
    ("pedal_down_at", "down_value", "up_value"),
    [(0, 127, 0), (1000, 64, 63), (1000, 100, 10)],  # pedal before / after the note-on; 64 is the threshold
)
def test_sustain_pedal_holds_a_note_past_its_note_off_until_pedal_up(pedal_down_at, down_value, up_value):
    renders = noise_grid(2, 30000, seed=3)
    note_on, note_off, pedal_up, release = 500, 5000, 12000, ms(50)
    engine = make_engine(renders, release_ms=50.0)
    events = [(note_on, ROOT_NOTE, 127, True), pedal(pedal_down_at, down_value), (note_off, ROOT_NOTE, 0, False), pedal(pedal_up, up_value)]
    out = engine.render(20000, events)

    held = held_note(renders, 20000, onset=note_on, release_ms=50.0)
    assert np.array_equal(out[:pedal_up], held[:pedal_up]), "the note-off under the pedal changed nothing"
    np.testing.assert_allclose(out, held * linear_fade(20000, pedal_up, release), rtol=0, atol=1e-6)
    assert np.max(np.abs(out[pedal_up + release :])) < 1e-5, "silent once release_ms after pedal-up has passed"
    assert engine.active_voice_count == 0 and not engine.sustain_pedal


def test_note_off_without_the_pedal_releases_at_once_and_the_pedal_does_not_latch():
    renders = noise_grid(2, 30000, seed=3)
    note_on, note_off, release = 500, 5000, ms(50)
    notes = [(note_on, ROOT_NOTE, 127, True), (note_off, ROOT_NOTE, 0, False)]
    plain = make_engine(renders, release_ms=50.0).render(20000, notes)
    held = held_note(renders, 20000, onset=note_on, release_ms=50.0)
    np.testing.assert_allclose(plain, held * linear_fade(20000, note_off, release), rtol=0, atol=1e-6)

    # A pedal lifted before the note-off, or pressed after it (during the release), changes nothing.
    for pedal_events in ([pedal(1000, 127), pedal(3000, 0)], [pedal(6000, 127), pedal(15000, 0)], [pedal(6000, 127)]):
        out = make_engine(renders, release_ms=50.0).render(20000, notes + pedal_events)
        assert np.array_equal(out, plain), pedal_events


def test_a_sustained_note_struck_again_starts_a_new_voice_and_both_release_on_pedal_up():
    renders = noise_grid(2, 30000, seed=4)
    release, pedal_up = ms(50), 9000
    events = [(0, ROOT_NOTE, 127, True), pedal(100, 127), (2000, ROOT_NOTE, 0, False),
              (4000, ROOT_NOTE, 64, True), (6000, ROOT_NOTE, 0, False), pedal(pedal_up, 0)]
    engine = make_engine(renders, release_ms=50.0)
    first_half = engine.render(8000, [e for e in events if e[0] < 8000])
    assert engine.active_voice_count == 2, "the re-struck note has a voice of its own"
    second_half = engine.render(8000, [(e[0] - 8000, *e[1:]) for e in events if e[0] >= 8000], reset=False)

    both = held_note(renders, 16000, onset=0, release_ms=50.0) + held_note(renders, 16000, onset=4000, velocity=64, release_ms=50.0)
    expected = both * linear_fade(16000, pedal_up, release)
    np.testing.assert_allclose(np.concatenate([first_half, second_half]), expected, rtol=0, atol=1e-6)
    assert engine.active_voice_count == 0


@pytest.mark.parametrize(("controller", "fade"), [(120, STEAL_FADE), (123, ms(50))])  # all sound off: 3 ms; all notes off: release
def test_all_notes_off_releases_and_all_sound_off_fades_at_once_with_the_pedal_down(controller, fade):
    renders = noise_grid(2, 30000, seed=5)
    release, panic = fade, 5000
    events = [(0, ROOT_NOTE, 127, True), (10, ROOT_NOTE + 7, 90, True), pedal(100, 127),
              (2000, ROOT_NOTE, 0, False),  # sustained by the pedal; ROOT_NOTE + 7 is still held by its key
              (panic, bytes([0xB5, controller, 0]))]  # on channel 6: the engine listens to all channels
    engine = make_engine(renders, release_ms=50.0)
    out = engine.render(12000, events)

    both = held_note(renders, 12000, onset=0, release_ms=50.0)
    both += make_engine(renders, release_ms=50.0).render(12000, [(10, ROOT_NOTE + 7, 90, True)])
    np.testing.assert_allclose(out, both * linear_fade(12000, panic, release), rtol=0, atol=1e-6)
    assert engine.active_voice_count == 0
    assert engine.sustain_pedal, "all notes off leaves the pedal down"


@pytest.mark.parametrize("new_notes", [1, 4, 16])
def test_stealing_fades_the_stolen_voices_out_in_3_ms_without_a_click(new_notes):
    """16 voices held by the pedal, then a chord of `new_notes` at sample 2000 steals the oldest ones.

    DC renders at the root note make every voice exactly velocity / 127 * its envelope, so the whole
    output has a plain numpy reference: a 5 ms linear attack per voice, and the documented 3 ms linear
    fade (132 samples) on each stolen voice. A hard cut instead would step by new_notes * 100 / 127.
    The output gain keeps the sum (up to 16 * 100 / 127 = 12.6 before it) below the limiter's ceiling."""
    num_samples, steal_at, velocity = 6000, 2000, 100
    scale = 10 ** (UNDER_THE_LIMITER_DB / 20)
    engine = make_engine(np.ones((2, 20000), np.float32), attack_ms=5.0, gain_db=UNDER_THE_LIMITER_DB)
    events = ([pedal(0, 127)] + [(i, ROOT_NOTE, velocity, True) for i in range(16)] + [(1000, ROOT_NOTE, 0, False)]
              + [(steal_at, ROOT_NOTE, velocity, True)] * new_notes)
    out = engine.render(num_samples, events)

    t = np.arange(num_samples)
    voice = lambda onset: np.where(t >= onset, np.clip((t - onset) / (0.005 * SAMPLE_RATE), 0, 1), 0) * velocity / 127 * scale  # noqa: E731
    stolen, kept = range(new_notes), range(new_notes, 16)
    new = new_notes * voice(steal_at)
    faded = sum(voice(i) for i in stolen) * linear_fade(num_samples, steal_at, STEAL_FADE)
    hard_cut = sum(voice(i) for i in stolen) * (t < steal_at)
    expected = sum(voice(i) for i in kept) + new + faded
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)  # float32 sum of 16 voices up to 0.8
    assert engine.active_voice_count == 16, "the newest 16 play on, the stolen ones have ended"

    around = slice(steal_at - 100, steal_at + 2 * STEAL_FADE + 300)
    max_step = np.max(np.abs(np.diff(out[around])))
    reference_step = np.max(np.abs(np.diff(expected[around])))
    hard_cut_step = np.max(np.abs(np.diff((sum(voice(i) for i in kept) + new + hard_cut)[around])))
    assert max_step <= reference_step + 1e-5
    assert max_step < hard_cut_step / 50, (max_step, hard_cut_step)


def test_raw_midi_events_match_the_tuple_form():
    renders = noise_grid(2, 8000, seed=6)
    tuples = make_engine(renders).render(8000, [(100, ROOT_NOTE + 2, 90, True), (3000, ROOT_NOTE + 2, 0, False),
                                                (3000, ROOT_NOTE, 127, True), (5000, ROOT_NOTE, 0, True)])
    raw = make_engine(renders).render(8000, [(100, bytes([0x90, ROOT_NOTE + 2, 90])), (3000, bytearray([0x83, ROOT_NOTE + 2, 64])),
                                             (3000, [0x9F, ROOT_NOTE, 127]), (5000, bytes([0x90, ROOT_NOTE, 0])),
                                             (6000, bytes([0xC0, 5])), (6500, bytes([0xE0, 0, 64]))])  # ignored
    assert np.max(np.abs(tuples)) > 0.1
    assert np.array_equal(raw, tuples)


@pytest.mark.parametrize(
    ("event", "error", "match"),
    [
        ((0, b""), ValueError, "1 to 3 bytes"),
        ((0, b"\x40\x40\x40"), ValueError, "status byte"),
        ((0, b"\xb0\xc0\x00"), ValueError, "data bytes"),
        ((0, b"\xb0\x40\x7f\x00"), ValueError, "1 to 3 bytes"),
        ((0, 60, 127), ValueError, "an event is"),
        ((0, 60.5, 127, True), TypeError, "integer"),
        ((9000, 60, 127, True), ValueError, "outside"),
        (60, TypeError, "an event is"),
    ],
)
def test_render_rejects_bad_events(event, error, match):
    with pytest.raises(error, match=match):
        make_engine(noise_grid(2, 100)).render(1000, [event])


def test_limiter_keeps_a_sixteen_voice_chord_within_full_scale_and_recovers_to_unity():
    """16 sines at peak 0.9 sum to far over 1.0: the output never exceeds 1.0 in magnitude, it is the plain
    sum up to the first sample that would go over, and after the 50 ms release a note alone is untouched."""
    renders = sine_grid(110.0, seconds=1.0) * np.float32(1.8)  # peak 0.9
    chord = [(0, ROOT_NOTE - 12 + i, 127, True) for i in range(16)]
    unlimited = sum(make_engine(renders).render(SAMPLE_RATE, [event]) for event in chord)
    assert np.max(np.abs(unlimited)) > 3.0

    engine = make_engine(renders, release_ms=10.0)
    out = engine.render(3 * SAMPLE_RATE, chord + [(SAMPLE_RATE // 2, note, 0, False) for _, note, _, _ in chord])
    assert np.max(np.abs(out)) <= 1.0
    first_over = int(np.argmax(np.abs(unlimited) > 1.0))
    np.testing.assert_allclose(out[:first_over], unlimited[:first_over], rtol=0, atol=1e-6)
    assert np.max(np.abs(out[: SAMPLE_RATE // 2])) > 0.99, "limited to the ceiling, not far below it"

    # 2.5 s after the chord ended (50 release time constants) a note alone plays exactly as in a fresh engine.
    alone = make_engine(renders).render(SAMPLE_RATE, [(0, ROOT_NOTE, 127, True)])
    after = engine.render(SAMPLE_RATE, [(0, ROOT_NOTE, 127, True)], reset=False)
    assert np.array_equal(after, alone), "the limiter's gain is back at exactly 1"


@pytest.mark.parametrize("morph", [0.0, 1.0])
def test_a_single_voice_at_full_scale_passes_the_limiter_bit_for_bit(morph):
    renders = noise_grid(2, 8000, seed=7)
    renders /= np.max(np.abs(renders), axis=1, keepdims=True)  # each render peaks at exactly 1.0
    renders[0, 100], renders[1, 200] = -1.0, 1.0
    out = make_engine(renders, morph=morph).render(8000, [(0, ROOT_NOTE, 127, True)])
    assert np.array_equal(out, renders[int(morph)])


def test_polyphony_limits_the_sounding_voices_and_steals_without_a_click():
    """Polyphony 4, six notes held: the first two are stolen (3 ms fade), so four voices sound, each
    exactly as alone; a DC grid shows that no sample-to-sample step comes near a hard cut."""
    velocity, onsets = 20, [0, 1000, 2000, 3000, 4000, 5000]  # 4 * 20 / 127 = 0.63: under the limiter
    engine = make_engine(np.ones((2, 20000), np.float32), attack_ms=5.0)
    engine.polyphony = 4
    assert engine.polyphony == 4
    out = engine.render(8000, [(onset, ROOT_NOTE + i, velocity, True) for i, onset in enumerate(onsets)])
    assert engine.active_voice_count == 4

    def alone(i):
        return make_engine(np.ones((2, 20000), np.float32), attack_ms=5.0).render(8000, [(onsets[i], ROOT_NOTE + i, velocity, True)])

    expected = sum(alone(i) for i in range(2, 6)) + sum(alone(i) * linear_fade(8000, onsets[i + 4], STEAL_FADE) for i in range(2))
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-6)
    hard_cut_step = velocity / 127
    assert np.max(np.abs(np.diff(out))) < hard_cut_step / 50

    # Lowering the polyphony while six voices play steals the oldest ones the same way.
    engine.polyphony = 16
    engine.render(8000, [(onset, ROOT_NOTE + i, velocity, True) for i, onset in enumerate(onsets)])
    assert engine.active_voice_count == 6
    engine.polyphony = 2
    lowered = engine.render(1000, reset=False)
    assert engine.active_voice_count == 2
    assert np.max(np.abs(np.diff(lowered))) < 4 * hard_cut_step / 50  # four voices fade together
    np.testing.assert_allclose(lowered[STEAL_FADE:], 2 * velocity / 127, rtol=0, atol=1e-6)


@pytest.mark.parametrize(("requested", "polyphony"), [(0, 1), (1, 1), (64, 64), (200, 64)])
def test_polyphony_is_clamped_to_the_preallocated_voices(requested, polyphony):
    engine = latentmorph_engine.Engine(polyphony=requested)
    assert engine.polyphony == polyphony
    engine.polyphony = requested
    assert engine.polyphony == polyphony


RT_CHECK = REPO_ROOT / "build/plugin/engine/latentmorph_engine_rt_check"


def run_rt_check(*arguments):
    if not RT_CHECK.exists():
        pytest.fail(f"{RT_CHECK.name} not built at {RT_CHECK}: run `make build`")
    return subprocess.run([str(RT_CHECK), *arguments], capture_output=True, text=True, timeout=60)


def test_audio_thread_methods_never_allocate_or_lock():
    """plugin/engine/RealtimeCheck.cpp: beginBlock, MIDI, note-ons that steal, the pedal, parameter and
    polyphony changes, render and reset over 400 blocks, grids swapped meanwhile; any malloc, free or
    pthread lock on that thread fails it (Debian's clang has no RealtimeSanitizer)."""
    result = run_rt_check()
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_realtime_check_sees_an_allocation_and_a_lock():
    result = run_rt_check("--self-test")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "malloc" in result.stdout and "pthread_mutex_lock" in result.stdout, result.stdout

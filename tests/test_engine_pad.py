"""The engine's four-corner XY pad (issue 13, item 1): an N x N grid, rows y-major, read bilinearly at
(morph, morph_y); morph_y from channel aftertouch; a two-slot line grid ignores morph_y."""

import numpy as np
import pytest

from .conftest import peak_hz
from .test_engine import SAMPLE_RATE, make_engine, noise_grid
from .test_engine_midi import sine_rows

latentmorph_engine = pytest.importorskip("latentmorph_engine")

NOTE = [(0, 60, 127, True)]


def pad_engine(renders, size, **parameters):
    """make_engine's engine playing `renders` as a size x size pad."""
    engine = make_engine(renders, **parameters)
    engine.set_grid(np.asarray(renders, dtype=np.float32), SAMPLE_RATE, pad_size=size)
    return engine


def test_pad_corners_play_their_rows_and_between_them_the_bilinear_blend():
    renders = noise_grid(9, 3000)
    for (x, y), row in {(0, 0): 0, (1, 0): 2, (0, 1): 6, (1, 1): 8, (0.5, 0.5): 4, (0.5, 0): 1}.items():
        audio = pad_engine(renders, 3, morph=x, morph_y=y).render(3000, NOTE)
        np.testing.assert_array_equal(audio, renders[row], err_msg=str((x, y)))
    # (0.25, 0.75): halfway between columns 0 and 1 and between rows 1 and 2
    audio = pad_engine(renders, 3, morph=0.25, morph_y=0.75).render(3000, NOTE)
    expected = 0.25 * (renders[3] + renders[4] + renders[6] + renders[7])
    np.testing.assert_allclose(audio, expected, atol=1e-6)


def test_a_line_grid_ignores_morph_y_and_aftertouch():
    """Two slots play as before: morph_y and pressure change nothing, sample for sample."""
    renders = noise_grid(17, 3000)
    reference = make_engine(renders, morph=0.3).render(3000, NOTE)
    moved = make_engine(renders, morph=0.3, morph_y=1.0, aftertouch_morph_y=1.0)
    np.testing.assert_array_equal(moved.render(3000, [(0, bytes([0xD0, 127])), *NOTE]), reference)


def test_channel_aftertouch_moves_morph_y_by_its_amount():
    renders = noise_grid(4, 4000)
    pressed = pad_engine(renders, 2, morph=0.0, aftertouch_morph_y=1.0)
    pressed.render(1, [(0, bytes([0xD0, 127]))], reset=True)
    pressed.render(SAMPLE_RATE, reset=False)  # the 20 ms smoother settles
    np.testing.assert_array_equal(pressed.render(4000, NOTE, reset=False), renders[2])  # corner C
    pressed.render(1, [(0, bytes([0xB0, 121, 0]))], reset=False)  # reset all controllers: pressure 0
    pressed.render(SAMPLE_RATE, reset=False)
    np.testing.assert_array_equal(pressed.render(4000, NOTE, reset=False), renders[0])


def test_each_corner_plays_in_tune_on_its_own_root():
    """Corners C and D have their own roots (root_note_c, root_note_d + fine tune): note 60 sounds 440 Hz
    at every corner."""
    hz = [440.0 * 2 ** (semitones / 12) for semitones in (0.0, 4.0, 7.0, 12.25)]
    engine = pad_engine(sine_rows(*hz), 2, root_note_b=64, root_note_c=67, root_note_d=72, fine_tune_d_cents=25.0)
    for x, y in ((0, 0), (1, 0), (0, 1), (1, 1)):
        engine.morph, engine.morph_y = x, y
        audio = engine.render(SAMPLE_RATE // 2, NOTE)
        assert 1200 * np.log2(peak_hz(audio) / 440.0) == pytest.approx(0.0, abs=0.5), (x, y)


def test_a_pad_size_that_does_not_match_the_rows_is_refused():
    with pytest.raises(ValueError, match="3 x 3"):
        make_engine(noise_grid(8, 100)).set_grid(noise_grid(8, 100), SAMPLE_RATE, pad_size=3)

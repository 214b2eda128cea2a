"""A new grid under held notes (plugin/engine/Engine.h, "Grid crossfade"): each sounding voice fades
linearly from the old grid to the new one over 15 ms instead of jumping to it (a click), then plays
the new grid alone, sample for sample; grids arriving faster than fades finish queue behind the fade
(latest wins); voices started after the swap play the new grid alone."""

import numpy as np
import pytest

from .test_engine import ROOT_NOTE, SAMPLE_RATE, make_engine, ms

latentmorph_engine = pytest.importorskip("latentmorph_engine")

GRID_FADE = ms(15)  # documented kGridCrossfadeMs: 662 samples at 44100 Hz
BLOCK = 512  # render()'s default block: a grid queued behind a fade is taken at the next block's start
SWAP_AT = 10_000  # the held note's first sample on the new grid (0.23 s into it)
NOTE = [(0, ROOT_NOTE, 127, True)]


def sines(f0_hz, seconds=1.0, rows=2, sample_rate=SAMPLE_RATE):
    """`rows` renders of a sine at f0_hz, peak 0.5: two grids of different f0 differ by up to 1.0."""
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    return np.tile(0.5 * np.sin(2 * np.pi * f0_hz * t), (rows, 1)).astype(np.float32)


def held_across_swaps(first, swaps, num_samples, events=NOTE, first_pad=0):
    """A note held from 0 on `first`; each (offset, renders, sample_rate, pad_size) of `swaps` is published
    while it sounds, with the engine's blocks restarting at that offset (as a host's next block)."""
    engine = make_engine(first)
    engine.set_grid(first, SAMPLE_RATE, pad_size=first_pad)
    pieces, start = [], 0
    for offset, renders, sample_rate, pad_size in swaps:
        pieces.append(engine.render(offset - start, [(at - start, *rest) for at, *rest in events if start <= at < offset], reset=start == 0))
        engine.set_grid(renders, sample_rate, pad_size=pad_size)
        start = offset
    pieces.append(engine.render(num_samples - start, [(at - start, *rest) for at, *rest in events if at >= start], reset=False))
    return np.concatenate(pieces)


def alone(renders, num_samples, events=NOTE):
    """The same note(s) on `renders` alone, no swap."""
    return make_engine(renders).render(num_samples, events)


def max_step(audio):
    return float(np.max(np.abs(np.diff(audio))))


def assert_no_step(audio, start, end, peak_to_peak=1.0):
    """The largest sample-to-sample difference in [start, end) (the swaps) is no larger than elsewhere in
    the held note plus the fade's own slope: two grids differing by up to peak_to_peak, crossed in
    GRID_FADE samples, add at most peak_to_peak / GRID_FADE = 0.0015 per sample. A jump between two
    0.5-peak sines at different f0 is ~0.1 .. 1.0; the 330 Hz sine's own largest step is 0.0235."""
    elsewhere = max(max_step(audio[1000:start]), max_step(audio[end : end + 20_000]))
    around = max_step(audio[start - 1 : end])
    assert around <= elsewhere + peak_to_peak / GRID_FADE, (around, elsewhere)


@pytest.mark.parametrize(
    ("second", "rate", "first_pad", "pad"),
    [
        (sines(330), SAMPLE_RATE, 0, 0),  # line to line
        (sines(330, rows=81), SAMPLE_RATE, 3, 9),  # the coarse 3 x 3 pad replaced by the full 9 x 9 one
        (sines(330, seconds=0.5, sample_rate=48000), 48000, 0, 0),  # another rate, shorter
    ],
    ids=["line", "pad_3_to_9", "48k_shorter"],
)
def test_a_held_note_crosses_a_grid_swap_without_a_step(second, rate, first_pad, pad):
    first = sines(220, rows=9 if first_pad else 2)
    audio = held_across_swaps(first, [(SWAP_AT, second, rate, pad)], 40_000, first_pad=first_pad)
    assert_no_step(audio, SWAP_AT, SWAP_AT + GRID_FADE)
    # it plays the new grid from the same time in the sample, at its own rate: 330 Hz after the fade
    after = audio[SWAP_AT + GRID_FADE : SWAP_AT + GRID_FADE + 8192]
    spectrum = np.abs(np.fft.rfft(after * np.hanning(after.size)))
    assert abs(np.argmax(spectrum) * SAMPLE_RATE / after.size - 330) < 6


def test_after_the_fade_the_voice_plays_the_new_grid_alone_sample_for_sample():
    first, second = sines(220), sines(330)
    audio = held_across_swaps(first, [(SWAP_AT, second, SAMPLE_RATE, 0)], 30_000)
    reference = alone(second, 30_000)
    last = SWAP_AT + GRID_FADE - 1  # the fade's last sample: the new grid's weight is exactly 1
    np.testing.assert_array_equal(audio[last:], reference[last:])
    np.testing.assert_array_equal(audio[:SWAP_AT], alone(first, SWAP_AT))
    # in between, the linear crossfade of the two: sample k after the swap weighs the new grid (k + 1) / n
    weight = np.arange(1, GRID_FADE + 1) / GRID_FADE
    old = alone(first, 30_000)[SWAP_AT:last + 1]
    np.testing.assert_allclose(audio[SWAP_AT:last + 1], weight * reference[SWAP_AT:last + 1] + (1 - weight) * old, atol=1e-6)


def test_a_note_started_during_the_fade_plays_the_new_grid_alone():
    first, second = sines(220), sines(330)
    later = [(SWAP_AT + 100, ROOT_NOTE + 7, 127, True)]
    held = held_across_swaps(first, [(SWAP_AT, second, SAMPLE_RATE, 0)], 30_000)
    both = held_across_swaps(first, [(SWAP_AT, second, SAMPLE_RATE, 0)], 30_000, events=NOTE + later)
    np.testing.assert_allclose(both - held, alone(second, 30_000, later), atol=1e-6)


@pytest.mark.parametrize("superseded", [0, 1], ids=["one_more", "two_more_latest_wins"])
def test_grids_faster_than_the_fade_queue_behind_it_and_end_on_the_latest(superseded):
    """A second grid 200 samples into the first fade waits for it to end, then fades in at the next block;
    with another grid after it, before it was taken, the latest wins and the one between never sounds."""
    grids = [sines(220), sines(275), sines(300), sines(330)]  # the last the steepest: its steps bound the rest
    swaps = [(SWAP_AT, grids[1], SAMPLE_RATE, 0), (SWAP_AT + 200, grids[2], SAMPLE_RATE, 0)]
    if superseded:
        swaps.append((SWAP_AT + 300, grids[3], SAMPLE_RATE, 0))
    else:
        swaps[1] = (SWAP_AT + 200, grids[3], SAMPLE_RATE, 0)
    audio = held_across_swaps(grids[0], swaps, 40_000)
    last_offset = swaps[-1][0]
    taken = last_offset + BLOCK * -(-(SWAP_AT + GRID_FADE - last_offset) // BLOCK)  # first block after the fade
    assert_no_step(audio, SWAP_AT, taken + GRID_FADE)
    reference = alone(swaps[-1][1], 40_000)
    end = taken + GRID_FADE - 1
    np.testing.assert_array_equal(audio[end:], reference[end:])
    assert not np.array_equal(audio[end - 2 : end], reference[end - 2 : end])  # it was still fading just before
    # until the queued grid is taken, the voice has finished the first fade: the second grid alone
    np.testing.assert_array_equal(audio[SWAP_AT + GRID_FADE - 1 : taken], alone(grids[1], taken)[SWAP_AT + GRID_FADE - 1 :])


def test_a_voice_past_the_new_grids_end_fades_out_of_the_old_one():
    """The new grid is shorter than where the note is: the old grid fades out (no cut), the voice then ends."""
    audio = held_across_swaps(sines(220), [(SWAP_AT, sines(330, seconds=0.1), SAMPLE_RATE, 0)], 20_000)
    assert_no_step(audio, SWAP_AT, SWAP_AT + GRID_FADE, peak_to_peak=0.5)
    assert np.all(audio[SWAP_AT + GRID_FADE - 1 :] == 0.0)

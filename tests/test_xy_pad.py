"""The four-corner XY pad in the real VST3 (pedalboard): slots C and D, morph × morph_y, channel
aftertouch, state (issue 13, item 1)."""

from __future__ import annotations

import pytest

from latentmorph.metrics import mrstft_distance
from latentmorph.plugin_state import make_state, plugin_state, set_plugin_state

from .conftest import SAMPLE_RATE, SAMPLES_DIR, note_messages, render, status_of

CORNERS = {(0.0, 0.0): "kick.wav", (1.0, 0.0): "snare.wav", (0.0, 1.0): "bass_c4.wav", (1.0, 1.0): "bell_c4.wav"}
NOTE = [(60, 0.0, 0.8)]


def four_slot_state(**params: float) -> bytes:
    a, b, c, d = (SAMPLES_DIR / name for name in CORNERS.values())
    return make_state(a, b, params, slot_c=c, slot_d=d)


@pytest.fixture(scope="module")
def pad(vst3_path):
    """The plugin with four slots (a 9 × 9 pad), its renders at the corners and the centre, and each
    sample's plain render (that sample in slots A and B, morph 0)."""
    import pedalboard

    plugin = pedalboard.load_plugin(str(vst3_path), initialization_timeout=0.1)
    plain = {}
    for name in CORNERS.values():
        set_plugin_state(plugin, make_state(SAMPLES_DIR / name, SAMPLES_DIR / name))
        plain[name] = render(plugin, NOTE, duration_s=0.8)
    set_plugin_state(plugin, four_slot_state())
    renders = {}
    for x, y in [*CORNERS, (0.5, 0.5)]:
        plugin.morph, plugin.morph_y = x, y
        renders[x, y] = render(plugin, NOTE, duration_s=0.8)
        assert status_of(plugin).get("state") == "ready", status_of(plugin)
    return plugin, renders, plain


def test_four_slots_make_a_9x9_pad(pad):
    plugin, _, _ = pad
    status = status_of(plugin)
    assert "9 x 9 pad" in status["message"] and "D: bell_c4.wav" in status["message"], status


@pytest.mark.parametrize("corner", list(CORNERS))
def test_each_corner_plays_its_own_sample(pad, corner):
    _, renders, plain = pad
    own = CORNERS[corner]
    distances = {name: mrstft_distance(renders[corner], audio) for name, audio in plain.items()}
    assert distances[own] < 0.05, distances
    assert all(distances[own] < d for name, d in distances.items() if name != own), distances


def test_the_centre_differs_from_every_corner(pad):
    _, renders, _ = pad
    distances = {corner: mrstft_distance(renders[0.5, 0.5], renders[corner]) for corner in CORNERS}
    assert all(d > 0.1 for d in distances.values()), distances


def test_channel_aftertouch_moves_morph_y(pad):
    """aftertouch_morph_y 1 and full pressure before the note: morph (0, 0) plays corner C (slot C's sample)."""
    plugin, renders, _ = pad
    plugin.morph, plugin.morph_y, plugin.aftertouch_morph_y = 0.0, 0.0, 1.0
    try:
        # the note 0.2 s after the pressure, once morph_y's 20 ms smoother has settled
        messages = [(bytes([0xD0, 127]), 0.0), *note_messages([(60, 0.2, 1.0)])]
        audio = plugin(messages, duration=1.0, sample_rate=SAMPLE_RATE, num_channels=2, buffer_size=512, reset=True)
        pressed = audio.mean(axis=0)[int(0.2 * SAMPLE_RATE) :]
        to_c, to_a = mrstft_distance(pressed, renders[0.0, 1.0]), mrstft_distance(pressed, renders[0.0, 0.0])
        assert to_c < 0.05 and to_c < to_a, (to_c, to_a)
    finally:
        plugin.aftertouch_morph_y = 0.0


def test_state_save_and_reload_keeps_slots_c_and_d(pad):
    plugin, _, _ = pad
    state = plugin_state(plugin)
    assert [s.rsplit("/", 1)[-1] for s in state.slots] == list(CORNERS.values()), state.slots
    assert all(len(sha) == 64 for sha in state.slot_sha256), state.slot_sha256


COARSE_FIRST = """
import sys, time
import pedalboard
from latentmorph.plugin_state import make_state, plugin_state, set_plugin_state
plugin = pedalboard.load_plugin(sys.argv[1], initialization_timeout=0.1)
a, b, c, d = sys.argv[2:6]
set_plugin_state(plugin, make_state(a, b, {}, slot_c=c, slot_d=d))
deadline = time.monotonic() + 100
while time.monotonic() < deadline:
    status = plugin_state(plugin).status
    print(status["state"], status["message"], flush=True)
    if status["state"] in ("ready", "error"):
        break
    time.sleep(0.05)
"""


def test_a_coarse_pad_plays_before_the_full_one(vst3_path, tmp_path):
    """With empty caches (a fresh process and backend cache folder) the 3 × 3 pad is published, and the
    status says the 9 × 9 one is rendering, before the 9 × 9 pad is ready."""
    import os
    import subprocess
    import sys

    sources = [str(SAMPLES_DIR / name) for name in CORNERS.values()]
    result = subprocess.run([sys.executable, "-c", COARSE_FIRST, str(vst3_path), *sources], capture_output=True, text=True,
                            timeout=150, env={**os.environ, "LATENTMORPH_CACHE_DIR": str(tmp_path)})
    lines = result.stdout.splitlines()
    assert lines and lines[-1].startswith("ready") and "9 x 9 pad" in lines[-1], (lines[-5:], result.stderr[-2000:])
    coarse = [i for i, line in enumerate(lines) if "3 x 3 pad" in line and "rendering the 9 x 9 pad" in line]
    assert coarse and lines[coarse[0]].startswith("rendering"), lines


def test_three_slots_make_a_pad_with_the_missing_corner_blended(pad):
    """Slot D empty: still a 9 × 9 pad; corner D is the even blend of B and C, so unlike either."""
    plugin, renders, plain = pad
    a, b, c = (SAMPLES_DIR / name for name in list(CORNERS.values())[:3])
    try:
        set_plugin_state(plugin, make_state(a, b, {"morph": 1.0, "morph_y": 1.0}, slot_c=c))
        corner_d = render(plugin, NOTE, duration_s=0.8)
        status = status_of(plugin)
        assert status["state"] == "ready" and "9 x 9 pad" in status["message"] and "D:" not in status["message"], status
        for name in ("snare.wav", "bass_c4.wav"):
            assert mrstft_distance(corner_d, plain[name]) > 0.1, name
    finally:
        set_plugin_state(plugin, four_slot_state())


def test_two_slots_ignore_morph_y_and_aftertouch(plugin):
    """Two slots play exactly as before the pad: morph_y and channel aftertouch change nothing."""
    set_plugin_state(plugin, make_state(SAMPLES_DIR / "bass_c4.wav", SAMPLES_DIR / "bell_c4.wav", {"morph": 0.3}))
    before = render(plugin, NOTE, duration_s=0.8)
    plugin.morph_y, plugin.aftertouch_morph_y = 1.0, 1.0
    messages = [(bytes([0xD0, 127]), 0.0), *note_messages(NOTE)]
    moved = plugin(messages, duration=0.8, sample_rate=SAMPLE_RATE, num_channels=2, buffer_size=512, reset=True)
    assert status_of(plugin)["state"] == "ready"
    assert (moved.mean(axis=0) == before).all()

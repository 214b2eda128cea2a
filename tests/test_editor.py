"""The plugin's editor, rendered off-screen by the LatentMorphEditorSnapshot tool (the plugin's own
processor and editor sources, no host, no display): it builds, paints and shows the state."""

from __future__ import annotations

import os
import subprocess

import numpy as np
import pytest
from PIL import Image

from latentmorph.plugin_state import make_state

from .conftest import REPO_ROOT, SAMPLES_DIR

SNAPSHOT = REPO_ROOT / "build/plugin/LatentMorphEditorSnapshot_artefacts/Release/LatentMorphEditorSnapshot"


def _snapshot(out, state=None) -> np.ndarray:
    if not SNAPSHOT.exists():
        pytest.fail(f"editor snapshot tool not built at {SNAPSHOT}: run `make build` (make test does it)")
    env = {key: value for key, value in os.environ.items() if key != "DISPLAY"}  # no display needed
    args = [str(SNAPSHOT), str(out)] + ([str(state)] if state else [])
    result = subprocess.run(args, capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stderr
    return np.asarray(Image.open(out).convert("RGB"), dtype=np.float32)


def test_editor_paints_and_shows_the_loaded_slots(tmp_path):
    empty = _snapshot(tmp_path / "empty.png")
    assert empty.shape == (500, 720, 3)
    assert empty.std() > 10  # panels, knobs and text, not a blank frame

    state = tmp_path / "state.xml"
    state.write_bytes(make_state(SAMPLES_DIR / "bass_c4.wav", SAMPLES_DIR / "bell_c4.wav", {"morph": 0.5}))
    loaded = _snapshot(tmp_path / "loaded.png", state)
    changed = np.abs(loaded - empty).max(axis=2) > 40
    slots, knobs, status = changed[50:180], changed[230:320], changed[370:]
    assert slots[:, :180].any() and slots[:, 180:360].any()  # slots A and B show their files instead of the hint
    assert not slots[:, 370:560].any()  # C and D stay empty
    assert knobs[:, :110].any() and not knobs[:, 110:].any()  # only the Morph knob moved
    assert status.any()  # the status line changed from "empty" to the ready grid


def test_the_xy_pad_dot_follows_morph_and_morph_y(tmp_path):
    """The pad (right of the slots) draws its dot at (morph, morph_y): moving either moves the dot."""
    frames = {}
    for x, y in ((0.0, 0.0), (1.0, 0.0), (1.0, 1.0)):
        state = tmp_path / f"state_{x}_{y}.xml"
        state.write_bytes(make_state(SAMPLES_DIR / "kick.wav", SAMPLES_DIR / "snare.wav", {"morph": x, "morph_y": y}))
        frames[x, y] = _snapshot(tmp_path / f"pad_{x}_{y}.png", state)[40:190, 570:710]
    left, right, bottom = frames[0.0, 0.0], frames[1.0, 0.0], frames[1.0, 1.0]
    changed_x = np.abs(right - left).max(axis=2) > 40
    changed_y = np.abs(bottom - right).max(axis=2) > 40
    assert changed_x[:, :70].any() and changed_x[:, 70:].any()  # the dot left the left edge for the right
    assert changed_y[:75].any() and changed_y[75:].any()  # and the top for the bottom

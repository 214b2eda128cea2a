"""A reopened project plays at once (issue 13, item 6): the state names the grid files the plugin
played (``<Grid>``, docs/state.md), and a fresh instance reads them before its backend has started,
then still asks the backend. Checked in host processes whose backend cannot start at all
(``LATENTMORPH_PYTHON`` names no interpreter), so any sound there came from the cached files."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from latentmorph.plugin_state import make_state, plugin_state, read_component_state, set_plugin_state

from .conftest import SAMPLE_RATE, SAMPLES_DIR, VST3_PATH, render

NOTES = [(60, 0.0, 0.4)]
DURATION_S = 0.6
#: A cached grid is the backend's file itself: the reopened render is the same, sample for sample.
TOLERANCE = 1e-6


def _tone(path: Path, hz: float) -> Path:
    """A 1-s decaying tone no other test renders (so its grid files are this module's own)."""
    t = np.arange(SAMPLE_RATE) / SAMPLE_RATE
    sf.write(path, 0.5 * np.sin(2 * np.pi * hz * t) * np.exp(-3 * t), SAMPLE_RATE)
    return path


def _grid(state: bytes) -> ET.Element | None:
    return ET.fromstring(state.split(b"\0", 1)[0]).find("Grid")


def _with_grid_files(state: bytes, paths: list[Path]) -> bytes:
    root = ET.fromstring(state.split(b"\0", 1)[0])
    grid = root.find("Grid")
    assert grid is not None
    for element, path in zip(grid.findall("File"), paths, strict=True):
        element.set("path", str(path))
    return ET.tostring(root, encoding="utf-8")


def _with_slots(state: bytes, paths: list[Path]) -> bytes:
    root = ET.fromstring(state.split(b"\0", 1)[0])
    for slot, path in zip(root.findall("Slot"), paths, strict=True):
        slot.set("path", str(path))
    return ET.tostring(root, encoding="utf-8")


def _without_grid(state: bytes) -> bytes:
    root = ET.fromstring(state.split(b"\0", 1)[0])
    root.remove(root.find("Grid"))
    return ET.tostring(root, encoding="utf-8")


_HOST = """
import json, sys, time
import numpy as np, pedalboard
from latentmorph.plugin_state import plugin_state, set_plugin_state
state_file, audio_file, notes, duration_s, sample_rate = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
p = pedalboard.load_plugin(sys.argv[6], initialization_timeout=0.1)
set_plugin_state(p, open(state_file, "rb").read())
messages = sorted([(bytes([0x90, n, 100]), on) for n, on, _ in notes] + [(bytes([0x80, n, 0]), off) for n, _, off in notes], key=lambda m: m[1])
audio = p(messages, duration=duration_s, sample_rate=sample_rate, num_channels=2, reset=False)
np.save(audio_file, audio.mean(axis=0))
first = plugin_state(p).status
deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    status = plugin_state(p).status
    message = status.get("message", "")
    if status.get("state") != "rendering" and ("from the disk cache" not in message or "backend failed" in message):
        break
    time.sleep(0.05)
print(json.dumps({"first": first, "settled": plugin_state(p).status}))
"""


def reopen(state: bytes, tmp_path: Path, backend: bool = False) -> tuple[np.ndarray, dict[str, str], dict[str, str]]:
    """``state`` restored into a fresh instance in a new host process, as a DAW reopening a project:
    the offline render of NOTES right after the restore (mono), the status right after it and the
    status once the backend has answered or failed. Without ``backend`` the plugin's backend
    interpreter does not exist."""
    state_file, audio_file = tmp_path / "reopen_state.xml", tmp_path / "reopen_audio.npy"
    state_file.write_bytes(state)
    env = dict(os.environ)
    if not backend:
        env["LATENTMORPH_PYTHON"] = str(tmp_path / "no-such-python")
    command = [
        sys.executable,
        "-c",
        _HOST,
        str(state_file),
        str(audio_file),
        json.dumps(NOTES),
        str(DURATION_S),
        str(SAMPLE_RATE),
        str(VST3_PATH),
    ]
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    statuses = json.loads(result.stdout.strip().splitlines()[-1])
    return np.load(audio_file), statuses["first"], statuses["settled"]


@pytest.fixture(scope="module")
def saved(tmp_path_factory, vst3_path):
    """A two-slot project of two tones only this module uses, played once with the backend: its sources,
    its state (with <Grid>) and the reference render."""
    import pedalboard

    folder = tmp_path_factory.mktemp("reopen")
    sources = [_tone(folder / "a.wav", 220.0), _tone(folder / "b.wav", 330.0)]
    plugin = pedalboard.load_plugin(str(vst3_path), initialization_timeout=0.1)
    set_plugin_state(plugin, make_state(*sources, {"morph": 0.4}))
    reference = render(plugin, NOTES, DURATION_S)
    assert plugin_state(plugin).status["state"] == "ready", plugin_state(plugin).status
    return sources, read_component_state(plugin), reference


def test_the_state_names_the_grid_files_it_played(saved):
    sources, state, _ = saved
    grid = _grid(state)
    assert grid is not None, state
    assert grid.get("steps") == "17" and grid.get("pad_size") == "0" and grid.get("sample_rate") == str(SAMPLE_RATE)
    (file,) = grid.findall("File")
    assert Path(file.get("path")).is_file() and file.get("path").endswith(".lmgrid")
    stamps = [(int(s.get("size")), int(s.get("modified_ms"))) for s in grid.findall("Source")]
    assert [size for size, _ in stamps] == [p.stat().st_size for p in sources]
    # modification times to the millisecond (the file system clock's own epoch), not juce::File's whole seconds
    assert any(modified % 1000 for _, modified in stamps)


def test_reopened_project_plays_from_the_cache_without_a_backend(saved, tmp_path):
    _, state, reference = saved
    audio, first, settled = reopen(state, tmp_path)
    assert "from the disk cache" in first["message"] and first["state"] == "ready", first
    assert np.max(np.abs(audio)) > 0.05
    np.testing.assert_allclose(audio, reference, atol=TOLERANCE)
    # the backend is still asked; its failure keeps the cached grid playing and is shown
    assert settled["state"] == "ready" and "backend failed" in settled["message"], settled


def test_reopened_project_with_a_backend_is_confirmed_by_it(saved, tmp_path):
    _, state, reference = saved
    audio, first, settled = reopen(state, tmp_path, backend=True)
    assert "from the disk cache" in first["message"], first
    np.testing.assert_allclose(audio, reference, atol=TOLERANCE)
    assert settled["state"] == "ready" and "from the disk cache" not in settled["message"], settled


def test_a_state_without_grid_files_loads_as_before(saved, tmp_path):
    """A state saved before <Grid> existed (or by make_state) loads unchanged and asks the backend."""
    _, state, reference = saved
    old = _without_grid(state)
    audio, first, _ = reopen(old, tmp_path)
    assert first["state"] == "error" and "backend" in first["message"].lower(), first
    assert np.max(np.abs(audio)) < 1e-5
    audio, first, _ = reopen(old, tmp_path, backend=True)
    assert first["state"] == "ready" and "from the disk cache" not in first["message"], first
    np.testing.assert_allclose(audio, reference, atol=TOLERANCE)


def _damaged(saved, tmp_path: Path, damage: str) -> bytes:
    """The saved state with its grid file or its sources copied into ``tmp_path`` and damaged."""
    sources, state, _ = saved
    grid_file = Path(_grid(state).find("File").get("path"))
    copy = tmp_path / "copy.lmgrid"
    shutil.copyfile(grid_file, copy)
    state = _with_grid_files(state, [copy])
    if damage == "removed":
        copy.unlink()
    elif damage == "fifo":  # opening it would block until a writer came: never opened
        copy.unlink()
        os.mkfifo(copy)
    elif damage == "truncated":
        os.truncate(copy, copy.stat().st_size // 2)
    elif damage == "bad-magic":
        with open(copy, "r+b") as f:
            f.write(b"XXXXXXXX")
    elif damage == "other-shape":  # a valid grid file, but not of what the state says (one step less)
        data = bytearray(copy.read_bytes())
        steps, num_samples = int.from_bytes(data[8:12], "little"), int.from_bytes(data[12:16], "little")
        data[8:12] = (steps - 1).to_bytes(4, "little")
        copy.write_bytes(bytes(data[: 24 + 4 * (steps - 1) * num_samples]))
    elif damage in ("source-edited", "source-touched"):
        moved = [tmp_path / p.name for p in sources]
        for source, target in zip(sources, moved):
            shutil.copy2(source, target)  # same size and time: the stamps match
        if damage == "source-edited":  # same size, other content
            _tone(moved[1], 331.0)
            assert moved[1].stat().st_size == sources[1].stat().st_size
        os.utime(moved[1], (time.time() + 60, time.time() + 60))
        state = _with_slots(state, moved)
    else:
        raise ValueError(damage)
    return state


@pytest.mark.parametrize("damage", ["removed", "fifo", "truncated", "bad-magic", "other-shape", "source-edited"])
def test_a_damaged_cache_or_changed_source_is_not_played(saved, tmp_path, damage):
    """Without a backend, silence and the backend's error, as before the cache: never the wrong grid, no crash."""
    audio, first, _ = reopen(_damaged(saved, tmp_path, damage), tmp_path)
    assert first["state"] == "error" and "from the disk cache" not in first["message"], first
    assert np.max(np.abs(audio)) < 1e-5


def test_a_touched_source_with_the_same_content_still_plays_from_the_cache(saved, tmp_path):
    """Another modification time, the same bytes: the SHA-256 saved with the slot vouches for it."""
    audio, first, _ = reopen(_damaged(saved, tmp_path, "source-touched"), tmp_path)
    assert "from the disk cache" in first["message"], first
    np.testing.assert_allclose(audio, saved[2], atol=TOLERANCE)


def test_a_damaged_cache_falls_back_to_the_backend(saved, tmp_path):
    audio, first, _ = reopen(_damaged(saved, tmp_path, "truncated"), tmp_path, backend=True)
    assert first["state"] == "ready" and "from the disk cache" not in first["message"], first
    np.testing.assert_allclose(audio, saved[2], atol=TOLERANCE)


def test_a_different_grid_from_the_backend_replaces_the_cached_one(saved, tmp_path):
    """Stale-while-revalidate: a cached file that is not what the backend now renders (as after a
    model update) plays first, and the backend's grid replaces it."""
    _, state, reference = saved
    grid_file = Path(_grid(state).find("File").get("path"))
    stale = tmp_path / "stale.lmgrid"
    data = np.frombuffer(grid_file.read_bytes()[24:], "<f4") * 0.5
    stale.write_bytes(grid_file.read_bytes()[:24] + data.astype("<f4").tobytes())
    audio, first, settled = reopen(_with_grid_files(state, [stale]), tmp_path, backend=True)
    assert "from the disk cache" in first["message"], first
    np.testing.assert_allclose(audio, 0.5 * reference, atol=TOLERANCE)
    assert settled["state"] == "ready" and "from the disk cache" not in settled["message"], settled


CORNERS = [SAMPLES_DIR / name for name in ("kick.wav", "snare.wav", "bass_c4.wav", "bell_c4.wav")]


@pytest.fixture(scope="module")
def saved_pad(vst3_path):
    """A four-slot project (the factory samples on the corners), played once with the backend: its
    state (with the 9 x 9 pad's <Grid>) and the reference render."""
    import pedalboard

    plugin = pedalboard.load_plugin(str(vst3_path), initialization_timeout=0.1)
    params = {"morph": 0.3, "morph_y": 0.6}
    set_plugin_state(plugin, make_state(CORNERS[0], CORNERS[1], params, slot_c=CORNERS[2], slot_d=CORNERS[3]))
    reference = render(plugin, NOTES, DURATION_S)
    return read_component_state(plugin), reference


def test_reopened_xy_pad_plays_its_full_pad_from_the_cache(saved_pad, tmp_path):
    """Four slots: the 9 x 9 pad, one file per row of it, is found again and played without a backend."""
    state, reference = saved_pad
    grid = _grid(state)
    assert grid is not None and grid.get("pad_size") == "9" and len(grid.findall("File")) == 9, state
    assert len(grid.findall("Source")) == 4
    audio, first, settled = reopen(state, tmp_path)
    assert "from the disk cache" in first["message"] and "9 x 9 pad" in first["message"], first
    assert np.max(np.abs(audio)) > 0.05
    np.testing.assert_allclose(audio, reference, atol=TOLERANCE)
    assert settled["state"] == "ready" and "backend failed" in settled["message"], settled


def test_a_project_saved_with_the_coarse_pad_plays_it_then_gets_the_full_pad(saved_pad, tmp_path):
    """A project saved while only the 3 x 3 pad was ready plays that at once; the backend then
    gives the 9 x 9 pad without the coarse one again."""
    from .test_backend import Backend

    state, reference = saved_pad
    backend = Backend()
    try:
        lattice = [(x / 2, y / 2) for y in range(3) for x in range(3)]
        weights = [[(1 - u) * (1 - v), u * (1 - v), (1 - u) * v, u * v] for u, v in lattice]
        reply = backend.request("render_blend", sources=[{"path": str(c)} for c in CORNERS], weights=weights)
    finally:
        backend.proc.kill()
        backend.proc.wait()
    assert reply["ok"], reply
    root = ET.fromstring(state.split(b"\0", 1)[0])
    grid = root.find("Grid")
    for file in grid.findall("File"):
        grid.remove(file)
    ET.SubElement(grid, "File", path=reply["grid_path"])
    grid.set("steps", "9")
    grid.set("pad_size", "3")
    coarse = ET.tostring(root, encoding="utf-8")
    audio, first, _ = reopen(coarse, tmp_path)
    assert "from the disk cache" in first["message"] and "3 x 3 pad" in first["message"], first
    assert np.max(np.abs(audio)) > 0.05 and np.max(np.abs(audio - reference)) > 1e-3  # the coarse pad, not the full one
    audio, first, settled = reopen(coarse, tmp_path, backend=True)
    assert settled["state"] == "ready" and "9 x 9 pad" in settled["message"], settled
    assert "from the disk cache" not in settled["message"]


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (b'pad_size="0"', b'pad_size="3"'),  # a pad of 3 x 3 is 9 rows, not 17
        (b'steps="17"', b'steps="1"'),
        (b'detail="', b'detail="2'),
        (b'sample_rate="44100"', b'sample_rate="12"'),
        (b'<Source size="', b'<Source size="-'),
        (b".lmgrid", b".wav"),
        (b'path="/', b'path="'),  # relative
        (b"<Source ", b"<Sourze "),
        (b"</Grid>", b'<File path="/tmp/x.lmgrid"/></Grid>'),  # two files for a line
    ],
)
def test_a_malformed_grid_element_refuses_the_state_whole(saved, plugin, old, new):
    sources, state, _ = saved
    text = state.split(b"\0", 1)[0]
    assert old in text
    set_plugin_state(plugin, make_state(*sources, {"morph": 0.7}))
    set_plugin_state(plugin, text.replace(old, new, 1))
    after = plugin_state(plugin)
    assert after.status["state"] == "error" and "state rejected" in after.status["message"], after.status
    assert after.params["morph"] == pytest.approx(0.7, abs=1e-4)

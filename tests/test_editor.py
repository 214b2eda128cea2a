"""The plugin's editor, rendered off-screen by the LatentMorphEditorSnapshot tool (the plugin's own
processor and editor sources, no host, no display): it builds, paints and shows the sound: the slots'
waveforms, the XY pad's dot, the morph view; its layout at two sizes; Export, New and Variation."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from latentmorph import handlers
from latentmorph.grid import read_grid
from latentmorph.plugin_state import make_state, read_state

from .conftest import REPO_ROOT, SAMPLES_DIR
from .test_backend_client import GRID_ANSWER, api

latentmorph_engine = pytest.importorskip("latentmorph_engine")

SNAPSHOT = REPO_ROOT / "build/plugin/LatentMorphEditorSnapshot_artefacts/Release/LatentMorphEditorSnapshot"
DEFAULT_SIZE, LARGE_SIZE = (1000, 800), (1400, 1000)
ACCENT = np.array([0x5F, 0xB3, 0xB3], dtype=np.float32)  # plugin/ui/Colours.h kAccent: the waveforms' colour
SLOT_ROOT_AND_FINE = {
    "root_note",
    "root_note_b",
    "root_note_c",
    "root_note_d",
    "fine_tune_a_cents",
    "fine_tune_b_cents",
    "fine_tune_c_cents",
    "fine_tune_d_cents",
}


def _snapshot(tmp_path: Path, name: str, state: Path | None = None, *options: str) -> tuple[np.ndarray, dict, str]:
    """The editor as RGB float32 [height, width, 3], its layout (describeLayout) and the tool's stdout."""
    if not SNAPSHOT.exists():
        pytest.fail(f"editor snapshot tool not built at {SNAPSHOT}: run `make build` (make test does it)")
    env = {key: value for key, value in os.environ.items() if key != "DISPLAY"}  # no display needed
    out, layout = tmp_path / f"{name}.png", tmp_path / f"{name}.json"
    args = [str(SNAPSHOT), str(out), *([str(state)] if state else []), "--layout", str(layout), *options]
    result = subprocess.run(args, capture_output=True, text=True, timeout=180, env=env)
    assert result.returncode == 0, result.stderr
    return np.asarray(Image.open(out).convert("RGB"), dtype=np.float32), json.loads(layout.read_text()), result.stdout


def _state(tmp_path: Path, a: str, b: str, **parameters: float) -> Path:
    state = tmp_path / f"state_{a}_{b}_{'_'.join(f'{k}{v}' for k, v in parameters.items())}.xml"
    state.write_bytes(make_state(SAMPLES_DIR / f"{a}.wav", SAMPLES_DIR / f"{b}.wav", parameters))
    return state


def _region(image: np.ndarray, bounds: list[int]) -> np.ndarray:
    x, y, w, h = bounds
    return image[y : y + h, x : x + w]


def _waveform_heights(image: np.ndarray, bounds: list[int]) -> np.ndarray:
    """Per pixel column of a waveform view, how many pixels are drawn in the waveform colour."""
    return (np.abs(_region(image, bounds) - ACCENT).max(axis=2) < 30).sum(axis=0).astype(np.float64)


def _expected_heights(samples: np.ndarray, width: int) -> np.ndarray:
    """Per pixel column, the span max - min of the samples under it (the drawn line's length, to scale),
    through WaveformView's 1024 peak columns as it draws them."""
    edges = np.arange(1025) * samples.size // 1024
    lows = np.minimum.reduceat(samples, edges[:-1])
    highs = np.maximum.reduceat(samples, edges[:-1])
    first = np.arange(width) * 1024 // width
    last = np.maximum(first + 1, (np.arange(width) + 1) * 1024 // width)
    return np.array([highs[a:b].max() - lows[a:b].min() for a, b in zip(first, last)])


@pytest.fixture(scope="module")
def kick_bell_grid() -> tuple[np.ndarray, int]:
    """The 17-step grid the plugin plays for kick (A) and bell (B), from the backend's cache (float32 [17, N])."""
    sources = [{"path": str(SAMPLES_DIR / name)} for name in ("kick.wav", "bell_c4.wav")]
    answer = handlers.handle_render_grid({"v": 1, "id": 1, "cmd": "render_grid", "sources": sources, "steps": 17})
    return read_grid(Path(answer["grid_path"]))


def test_the_slots_draw_their_samples_waveforms(tmp_path, kick_bell_grid):
    """Slots A and B draw the waveforms of their samples (the grid's ends), shaped like the samples'
    peaks column by column; the empty slots C and D, and every slot of an empty editor, draw none."""
    renders, _ = kick_bell_grid
    empty, empty_layout, _ = _snapshot(tmp_path, "empty")
    assert empty.shape == (DEFAULT_SIZE[1], DEFAULT_SIZE[0], 3) and empty.std() > 10
    assert all(_waveform_heights(empty, bounds).sum() == 0 for bounds in empty_layout["slot_waveforms"])

    loaded, layout, _ = _snapshot(tmp_path, "loaded", _state(tmp_path, "kick", "bell_c4", morph=0.5))
    slot_a, slot_b, slot_c, slot_d = (_waveform_heights(loaded, bounds) for bounds in layout["slot_waveforms"])
    assert slot_c.sum() == 0 and slot_d.sum() == 0
    for drawn, row in ((slot_a, renders[0]), (slot_b, renders[-1])):
        assert (drawn > 0).mean() > 0.3  # a waveform, not a line or a label
        expected = _expected_heights(row, drawn.size)
        assert np.corrcoef(drawn, expected)[0, 1] > 0.9
    # and each is its own: the kick's decay is not the bell's
    assert np.corrcoef(slot_a, _expected_heights(renders[-1], slot_a.size))[0, 1] < 0.8


def test_the_xy_pad_dot_follows_morph_and_morph_y(tmp_path):
    """The pad draws its dot at (morph, morph_y): moving either moves the dot."""
    frames, pad = {}, None
    for x, y in ((0.0, 0.0), (1.0, 0.0), (1.0, 1.0)):
        image, layout, _ = _snapshot(tmp_path, f"pad_{x}_{y}", _state(tmp_path, "kick", "snare", morph=x, morph_y=y))
        pad = layout["pad"]
        frames[x, y] = _region(image, pad)
    assert pad[2] >= 250 and pad[3] >= 250  # a pad one can aim at
    half_w, half_h = pad[2] // 2, pad[3] // 2
    changed_x = np.abs(frames[1.0, 0.0] - frames[0.0, 0.0]).max(axis=2) > 40
    changed_y = np.abs(frames[1.0, 1.0] - frames[1.0, 0.0]).max(axis=2) > 40
    assert changed_x[:, :half_w].any() and changed_x[:, half_w:].any()  # the dot left the left edge for the right
    assert changed_y[:half_h].any() and changed_y[half_h:].any()  # and the top for the bottom


def test_the_pad_names_its_corners(tmp_path):
    """The pad writes each loaded slot's file name beside its corner letter: loading A and B adds text
    at the top of the pad only."""
    empty, layout, _ = _snapshot(tmp_path, "pad_empty")
    loaded, _, _ = _snapshot(tmp_path, "pad_named", _state(tmp_path, "kick", "snare"))
    x, y, w, h = layout["pad"]
    changed = np.abs(_region(loaded, layout["pad"]) - _region(empty, layout["pad"])).max(axis=2) > 40
    top, bottom = changed[:26], changed[h - 26 :]
    assert top[:, 30 : w // 2].any() and top[:, w // 2 : w - 30].any()  # "A  kick.wav", "B  snare.wav"
    assert not bottom.any()  # C and D stay letters


def test_the_morph_view_shows_the_sound_at_morph(tmp_path, kick_bell_grid):
    """The morph view draws the grid's point at morph: slot A's sound at 0, slot B's at 1, something
    between in the middle, changing with the parameter."""
    renders, _ = kick_bell_grid
    heights = {}
    for morph in (0.0, 0.5, 1.0):
        image, layout, _ = _snapshot(tmp_path, f"morph_{morph}", _state(tmp_path, "kick", "bell_c4", morph=morph))
        heights[morph] = _waveform_heights(image, layout["morph_view"])
    width = heights[0.0].size
    assert np.corrcoef(heights[0.0], _expected_heights(renders[0], width))[0, 1] > 0.9
    assert np.corrcoef(heights[1.0], _expected_heights(renders[-1], width))[0, 1] > 0.9
    assert np.corrcoef(heights[0.5], _expected_heights(renders[8], width))[0, 1] > 0.9
    assert np.abs(heights[0.5] - heights[0.0]).sum() > 0.1 * heights[0.0].sum()
    assert np.abs(heights[0.5] - heights[1.0]).sum() > 0.1 * heights[1.0].sum()


def test_export_writes_the_sound_at_the_morph_position(tmp_path, kick_bell_grid):
    """Export's code writes the grid's point at (morph, morph_y) as a mono float WAV at the grid's rate:
    the blend of the two nearest steps, exactly what a voice plays at the root note."""
    renders, sample_rate = kick_bell_grid
    _, _, stdout = _snapshot(
        tmp_path,
        "export",
        _state(tmp_path, "kick", "bell_c4", morph=0.3, morph_y=0.7),
        "--export",
        str(tmp_path / "exported"),
    )
    (written,) = (tmp_path / "exported").iterdir()
    assert written.name == "latentmorph_x0.300_y0.700.wav" and str(written) in stdout
    audio, rate = sf.read(written, dtype="float32")
    assert rate == sample_rate and audio.shape == (renders.shape[1],)
    np.testing.assert_array_equal(audio, latentmorph_engine.morph_point(renders, sample_rate, 0, 0.3, 0.7))
    # 0.3 of 16 steps: step 4 with weight 0.8 of step 5 (a line ignores morph_y)
    np.testing.assert_allclose(audio, 0.2 * renders[4] + 0.8 * renders[5], atol=1e-6)


def test_morph_point_is_what_a_voice_plays_at_the_root():
    """The engine's morph point of a 3 x 3 pad: the bilinear blend of the four lattice points around
    (morph, morph_y) (numpy reference), and the sound a note at the root plays with a flat envelope."""
    rng = np.random.default_rng(3)
    renders = (0.3 * rng.standard_normal((9, 400))).astype(np.float32)
    point = latentmorph_engine.morph_point(renders, 16000, 3, 0.25, 0.75)
    # (0.25, 0.75) on a 3 x 3 lattice: x at 0.5 between columns 0 and 1, y at 0.5 between rows 1 and 2
    lattice = renders.reshape(3, 3, 400)
    expected = 0.25 * (lattice[1, 0] + lattice[1, 1] + lattice[2, 0] + lattice[2, 1])
    np.testing.assert_allclose(point, expected, atol=1e-6)

    engine = latentmorph_engine.Engine()
    engine.prepare(16000)
    engine.set_grid(renders, 16000, pad_size=3)
    engine.morph, engine.morph_y, engine.attack_ms, engine.sustain, engine.gain_db = 0.25, 0.75, 0.0, 1.0, 0.0
    engine.velocity_curve = 0.0  # full level at any velocity
    played = engine.render(400, [(0, engine.root_note, 100, True)])
    np.testing.assert_array_equal(played, point)
    with pytest.raises(ValueError, match="at least 2 steps"):
        latentmorph_engine.morph_point(renders[:1], 16000)


def test_write_wav_file_round_trips_float_samples(tmp_path):
    samples = np.linspace(-1.5, 1.5, 999, dtype=np.float32)  # beyond full scale too: float keeps it
    latentmorph_engine.write_wav_file(str(tmp_path / "x.wav"), samples, 22050)
    audio, rate = sf.read(tmp_path / "x.wav", dtype="float32")
    assert rate == 22050 and sf.info(tmp_path / "x.wav").subtype == "FLOAT"
    np.testing.assert_array_equal(audio, samples)
    with pytest.raises(ValueError, match="cannot write WAV file"):
        latentmorph_engine.write_wav_file(str(tmp_path / "missing" / "x.wav"), samples, 22050)
    with pytest.raises(ValueError, match="outside 1000"):
        latentmorph_engine.write_wav_file(str(tmp_path / "y.wav"), samples, 10)


@pytest.mark.parametrize("size", [DEFAULT_SIZE, LARGE_SIZE])
def test_the_knob_sections_keep_every_label_whole_at_both_sizes(tmp_path, size):
    """At the default and a larger size every parameter not in a slot panel has a knob whose name fits
    its label (wrapped at spaces, not squeezed to "..."), at least 64 px wide, overlapping no other."""
    image, layout, _ = _snapshot(tmp_path, f"layout_{size[0]}", None, "--size", f"{size[0]}x{size[1]}")
    assert image.shape[:2] == (size[1], size[0]) and layout["size"] == list(size)
    knobs = layout["knobs"]
    ids = {knob["id"] for knob in knobs}
    assert ids | SLOT_ROOT_AND_FINE == {p["id"] for p in latentmorph_engine.PARAMETERS} and not ids & SLOT_ROOT_AND_FINE
    assert [knob["label"] for knob in knobs if not knob["label_fits"]] == []
    boxes = [knob[key] for knob in knobs for key in ("slider", "label_bounds")]
    for knob in knobs:
        assert knob["slider"][2] >= 64 and knob["slider"][3] >= 60, knob
    for i, (x, y, w, h) in enumerate(boxes):
        for u, v, s, t in boxes[i + 1 :]:
            assert x + w <= u or u + s <= x or y + h <= v or v + t <= y, ((x, y, w, h), (u, v, s, t))


def test_the_editor_size_survives_closing_and_stays_within_its_limits(tmp_path):
    image, layout, _ = _snapshot(tmp_path, "reopened", None, "--size", "1200x820", "--reopen")
    assert image.shape[:2] == (820, 1200) and layout["size"] == [1200, 820]
    _, huge, _ = _snapshot(tmp_path, "huge", None, "--size", "3000x2000")
    _, tiny, _ = _snapshot(tmp_path, "tiny", None, "--size", "300x200")
    assert huge["size"] == [1600, 1100] and tiny["size"] == [760, 540]


def test_new_and_variation_fill_a_slot_with_the_backends_sound(tmp_path):
    """ "New" in slot C and "Variation" of slot A (their code, with fixed seeds) write the backend's
    render_new / render_variation sound as WAVs under the cache's generated/ folder and load them like
    a drop: the state names them, and slot C now draws a waveform."""
    state_out = tmp_path / "state_out.xml"
    image, layout, _ = _snapshot(
        tmp_path,
        "generated",
        _state(tmp_path, "kick", "snare"),
        "--new",
        "C",
        "7",
        "--variation",
        "A",
        "3",
        "--state-out",
        str(state_out),
    )
    slots = read_state(state_out.read_bytes()).slots
    new_path, varied_path = Path(slots[2]), Path(slots[0])
    assert new_path.name == "new_7.wav" and varied_path.name == "variation_kick_3.wav"
    assert new_path.parent.name == "generated" and varied_path.parent == new_path.parent

    new = handlers.handle_render_new({"v": 1, "id": 1, "cmd": "render_new", "seconds": 1.5, "count": 1, "seed": 7})
    varied = handlers.handle_render_variation(
        {
            "v": 1,
            "id": 2,
            "cmd": "render_variation",
            "amount": 0.3,
            "count": 1,
            "seed": 3,
            "sources": [{"path": str(SAMPLES_DIR / "kick.wav")}],
        }
    )
    for path, answer in ((new_path, new), (varied_path, varied)):
        expected, rate = read_grid(Path(answer["grid_path"]))
        audio, wav_rate = sf.read(path, dtype="float32")
        assert wav_rate == rate
        np.testing.assert_array_equal(audio, expected[0])
    assert _waveform_heights(image, layout["slot_waveforms"][2]).sum() > 0


def test_api_render_new_and_variation_send_the_documented_fields(tmp_path):
    """BackendApi asks for one sound (count 1) with the given seed; render_new's answer has no sources."""
    for call in ("new", "variation", "two_hashes"):
        (tmp_path / call).mkdir()  # the fake backend logs each call's requests in its folder
    new_answer = {**GRID_ANSWER, "steps": 1, "source_sha256": None, "warning": None}
    reply, (sent,) = api(tmp_path / "new", {"render_new": new_answer}, "render_new", "1.5", "4294967295", "0.5")
    assert sent == {
        "v": 1,
        "id": sent["id"],
        "cmd": "render_new",
        "seconds": 1.5,
        "count": 1,
        "seed": 4294967295,
        "temperature": 0.5,
    }
    assert reply["ok"] and reply["value"]["gridPath"] == "/cache/g.lmgrid" and reply["value"]["sourceSha256"] == []

    varied_answer = {**GRID_ANSWER, "steps": 1, "source_sha256": ["a" * 64]}
    reply, (sent,) = api(
        tmp_path / "variation", {"render_variation": varied_answer}, "render_variation", "/a.wav", "0.3", "9"
    )
    assert sent == {
        "v": 1,
        "id": sent["id"],
        "cmd": "render_variation",
        "sources": [{"path": "/a.wav"}],
        "amount": 0.3,
        "count": 1,
        "seed": 9,
    }
    assert reply["ok"] and reply["value"]["sourceSha256"] == ["a" * 64]
    two_hashes, _ = api(
        tmp_path / "two_hashes", {"render_variation": GRID_ANSWER}, "render_variation", "/a.wav", "0.3", "9"
    )
    assert not two_hashes["ok"] and two_hashes["code"] == "bad_answer"

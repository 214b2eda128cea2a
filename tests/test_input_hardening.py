"""Hostile or odd inputs to the runtime (issue 12: 2, 3, 4, 9): special files as sources, the grid
cache's size cap, the reconstruction's level, and the loader's corner cases."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from latentmorph import grid, handlers, server, settings
from latentmorph.audio import AudioLoadError, AudioTruncatedWarning, load_audio
from latentmorph.plugin_state import make_state, set_plugin_state

from .conftest import SAMPLE_RATE, SAMPLES_DIR, render, status_of

KICK = SAMPLES_DIR / "kick.wav"
#: How long a refusal of a special file may take, seconds (it used to block for the request timeout).
FAST_REFUSAL_S = 5.0


def tone(seconds: float, amplitude: float = 0.5, hz: float = 220.0) -> np.ndarray:
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    return (amplitude * np.sin(2 * np.pi * hz * t)).astype(np.float32)


# --- 2: a slot naming a FIFO, a device or /proc ------------------------------------------------


@pytest.fixture
def fifo(tmp_path) -> Path:
    path = tmp_path / "pipe.wav"
    os.mkfifo(path)
    return path


@pytest.mark.parametrize("special", ["fifo", "/dev/zero", "/dev/urandom", "/proc/self/status"])
def test_backend_refuses_special_files_at_once(fifo, special):
    """Guards against the backend hashing a FIFO or device before checking it is a regular file,
    which blocked the one shared backend for the whole request timeout."""
    path = str(fifo) if special == "fifo" else special
    answers = []
    request = {"v": 1, "id": 1, "cmd": "render_grid", "steps": 3, "sources": [{"path": str(KICK)}, {"path": path}]}
    worker = threading.Thread(target=lambda: answers.append(server.respond(request)), daemon=True)
    worker.start()
    worker.join(FAST_REFUSAL_S)  # a thread, so that a stall fails the test instead of hanging it
    assert answers, f"the backend stalled on {path}"
    (answer,) = answers
    assert answer["ok"] is False and answer["error"]["code"] == "audio_load_error", answer
    assert path in answer["error"]["message"], answer
    assert "regular file" in answer["error"]["message"] or "empty" in answer["error"]["message"], answer


def test_fifo_slot_fails_fast_and_other_instances_keep_rendering(vst3_path, fifo):
    """Guards against one instance's FIFO slot stalling the backend shared by all instances."""
    import pedalboard

    stalled = pedalboard.load_plugin(str(vst3_path), initialization_timeout=0.1)
    set_plugin_state(stalled, make_state(KICK, fifo))
    started = time.monotonic()
    render(stalled, [(60, 0.0, 0.2)], duration_s=0.3)
    assert time.monotonic() - started < FAST_REFUSAL_S
    status = status_of(stalled)
    assert status.get("state") == "error" and str(fifo) in status["message"] and "FIFO" in status["message"], status
    other = pedalboard.load_plugin(str(vst3_path), initialization_timeout=0.1)
    set_plugin_state(other, make_state(KICK, SAMPLES_DIR / "snare.wav"))
    assert np.max(np.abs(render(other, [(60, 0.0, 0.3)], duration_s=0.5))) > 0.05
    assert status_of(other).get("state") == "ready", status_of(other)


# --- 3: the grid cache's size cap ----------------------------------------------------------------


def _cached_file(folder: Path, name: str, size: int, age_s: float) -> Path:
    path = folder / name
    path.write_bytes(b"\0" * size)
    used = time.time() - age_s
    os.utime(path, (used, used))
    return path


def test_prune_evicts_least_recently_used_down_to_the_cap(tmp_path):
    """Guards against a grid cache that grew without bound."""
    oldest = [_cached_file(tmp_path, f"old{i}.lmgrid", 1000, 1000 - i) for i in range(4)]
    stale_tmp = _cached_file(tmp_path, "x.tmp", 1000, 2000)
    young = _cached_file(tmp_path, "young.lmgrid", 1000, 1)
    removed = grid.prune_cache(oldest[0], max_bytes=3000)
    # the served/written file and young files stay, the least recently used others go first
    assert removed == [stale_tmp, oldest[1], oldest[2]]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old0.lmgrid", "old3.lmgrid", "young.lmgrid"]
    # over the cap with only protected files left: nothing more can go
    assert grid.prune_cache(young, max_bytes=0, min_age_s=500) == [oldest[0], oldest[3]]


def test_render_prunes_after_writing_and_hits_refresh_the_access_time(tmp_path, monkeypatch):
    """Guards the server's use of the cache: prune after each write, touch on each hit."""
    monkeypatch.setenv("LATENTMORPH_CACHE_DIR", str(tmp_path))
    folder = grid.cache_dir()
    old = _cached_file(folder, "old.lmgrid", 4000, 3600)
    monkeypatch.setenv("LATENTMORPH_CACHE_MAX_BYTES", "3000")

    class FakeModel:
        model_id, sample_rate = "lm-test", SAMPLE_RATE

    answer = handlers.render_cached(FakeModel(), [], 2, {"cmd": "test"}, lambda: np.zeros((2, 100), np.float32))
    written = Path(answer["grid_path"])
    assert written.exists() and not old.exists()
    stale = time.time() - 3600
    os.utime(written, (stale, stale))
    handlers.render_cached(FakeModel(), [], 2, {"cmd": "test"}, lambda: pytest.fail("a hit must not render"))
    assert written.stat().st_atime > time.time() - 60


_RENDER_ONCE = """
import sys, time
from pathlib import Path
import numpy as np
from latentmorph import handlers

class FakeModel:
    model_id, sample_rate = "lm-test", 44100

def render():
    with open(sys.argv[1], "a") as log:
        log.write("rendered\\n")
    time.sleep(1.0)  # long enough for the other process to ask meanwhile
    return np.ones((2, 100), np.float32)

print(handlers.render_cached(FakeModel(), ["0" * 64], 2, {"cmd": "test"}, render)["grid_path"])
"""


def test_two_backends_asking_for_one_grid_at_once_render_it_once(tmp_path):
    """render --workers N starts a backend per worker, and a DAW may hold several instances: the second
    asker waits for the first one's file (grid.rendering_lock) instead of rendering it again."""
    log = tmp_path / "renders.log"
    env = {**os.environ, "LATENTMORPH_CACHE_DIR": str(tmp_path / "cache")}
    askers = [
        subprocess.Popen([sys.executable, "-c", _RENDER_ONCE, str(log)], env=env, stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    paths = {asker.communicate(timeout=120)[0].strip() for asker in askers}
    assert all(asker.returncode == 0 for asker in askers)
    assert len(paths) == 1 and Path(paths.pop()).is_file()
    assert log.read_text().splitlines() == ["rendered"]


def test_cache_cap_must_be_a_number(monkeypatch):
    monkeypatch.setenv("LATENTMORPH_CACHE_MAX_BYTES", "2GB")
    with pytest.raises(ValueError, match="LATENTMORPH_CACHE_MAX_BYTES"):
        settings.cache_max_bytes()


# --- 4: reconstruct limits its level --------------------------------------------------------------


@pytest.mark.parametrize("level", ["huge", "dc"])
def test_reconstruct_never_writes_above_full_scale_silently(tmp_path, level):
    """Guards against ``reconstruct`` writing 1.8e29 for a 1e30 input, or 1.95 for 0.5 DC."""
    source = tmp_path / "in.wav"
    audio = tone(0.5, 1e30) if level == "huge" else np.full(SAMPLE_RATE // 2, 0.5, np.float32)
    sf.write(source, audio, SAMPLE_RATE, subtype="FLOAT")
    result = subprocess.run(
        [sys.executable, "-m", "latentmorph.cli", "reconstruct", str(source), str(tmp_path / "out.wav")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    out, _ = sf.read(tmp_path / "out.wav", dtype="float32")
    assert np.all(np.isfinite(out)) and np.max(np.abs(out)) <= 1.0
    if level == "huge":
        assert "scaled down to full scale" in result.stderr.replace("\n", ""), result.stderr


# --- 9: the loader's corner cases -----------------------------------------------------------------


def test_channels_that_cancel_are_refused(tmp_path):
    """Guards against a stereo file whose channels cancel in the mono mix passing the silence check
    and being normalised into loud noise."""
    left = tone(0.5)
    right = -left + np.random.default_rng(0).normal(0, 1e-4, left.size).astype(np.float32)
    path = tmp_path / "phase.wav"
    sf.write(path, np.stack([left, right], axis=1), SAMPLE_RATE, subtype="FLOAT")
    with pytest.raises(AudioLoadError, match="cancel out"):
        load_audio(path)
    sf.write(path, np.stack([left, 0.5 * left], axis=1), SAMPLE_RATE, subtype="FLOAT")
    assert np.max(np.abs(load_audio(path)[0])) == pytest.approx(0.375, rel=1e-3)  # a normal stereo file loads


@pytest.mark.parametrize("rate", [1, 4000, 1_000_000])
def test_absurd_sample_rates_are_refused(tmp_path, rate):
    """Guards against a 1 Hz (or 1 MHz) header being taken for audio."""
    path = tmp_path / "rate.wav"
    sf.write(path, tone(0.01), rate, subtype="FLOAT")
    with pytest.raises(AudioLoadError, match=f"sample rate {rate} Hz"):
        load_audio(path, SAMPLE_RATE)


def test_a_file_over_the_length_limit_is_cut_with_a_warning(tmp_path, monkeypatch):
    """Guards against a long file being cut silently; the backend passes the warning on."""
    path = tmp_path / "long.wav"
    sf.write(path, tone(1.5), SAMPLE_RATE)
    with pytest.warns(AudioTruncatedWarning, match="only its first 1 s"):
        audio, _ = load_audio(path, max_duration_s=1.0)
    assert audio.size == SAMPLE_RATE
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_audio(path, max_duration_s=2.0)  # within the limit: no warning
    monkeypatch.setattr(handlers, "MAX_SOURCE_S", 1.0)
    _, extra = handlers.load_sources([path, KICK], SAMPLE_RATE)
    assert str(path) in extra["warning"] and "only its first 1 s" in extra["warning"]


def test_truncated_flac_is_reported_as_damaged_not_silent(tmp_path):
    """Guards against a cut FLAC read as silence by the fallback decoder and refused as "silent"."""
    whole = tmp_path / "whole.flac"
    sf.write(whole, tone(1.0), SAMPLE_RATE)
    cut = tmp_path / "cut.flac"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 3])
    with pytest.raises(AudioLoadError, match="truncated or damaged"):
        load_audio(cut)


def test_garbage_mp3_prints_nothing(tmp_path, capfd):
    """Guards against libmpg123 printing "Note:"/"warning:" lines for a damaged MP3: the raised
    error is the one report."""
    path = tmp_path / "garbage.mp3"
    path.write_bytes(np.random.default_rng(1).integers(0, 256, 20000, dtype=np.uint8).tobytes())
    try:
        load_audio(path)
    except AudioLoadError:
        pass  # or mpg123 finds frames in the noise: either way it is said in Python, not on fd 2
    assert capfd.readouterr().err == ""

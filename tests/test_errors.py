"""Bad input gets a clear error and loses nothing: through the CLI, the backend and the plugin."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from latentmorph.plugin_state import make_state, plugin_state, set_plugin_state

from .conftest import SAMPLE_RATE, SAMPLES_DIR, VST3_PATH, render, status_of

GOOD = SAMPLES_DIR / "kick.wav"


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory) -> dict[str, tuple[Path, str]]:
    """name → (path, a phrase the error must contain)."""
    root = tmp_path_factory.mktemp("bad")
    broken = root / "broken.wav"
    broken.write_bytes(GOOD.read_bytes()[:30])  # RIFF header cut inside the fmt chunk
    empty = root / "empty.wav"
    empty.write_bytes(b"")
    text = root / "notes.wav"
    text.write_text("this is a shopping list, not audio\n" * 20)
    return {"broken": (broken, "not a readable audio file"), "empty": (empty, "empty"),
            "not audio": (text, "not a readable audio file"), "missing": (root / "missing.wav", "not found")}


@pytest.mark.parametrize("kind", ["broken", "empty", "not audio", "missing"])
def test_cli_reports_bad_file_clearly(bad_files, kind, tmp_path):
    path, phrase = bad_files[kind]
    result = subprocess.run([sys.executable, "-m", "latentmorph.cli", "morph", str(GOOD), str(path),
                             "--out", str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert str(path) in result.stderr.replace("\n", "") and phrase in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("kind", ["broken", "empty", "not audio", "missing"])
def test_plugin_reports_bad_file_without_crash_or_hang(plugin, bad_files, kind):
    path, phrase = bad_files[kind]
    set_plugin_state(plugin, make_state(GOOD, path))
    started = time.monotonic()
    audio = render(plugin, [(60, 0.1, 0.5)], duration_s=1.0)
    assert time.monotonic() - started < 10.0
    status = status_of(plugin)
    assert status.get("state") == "error", status
    assert str(path) in status.get("message", "") and phrase in status.get("message", ""), status
    assert np.max(np.abs(audio)) < 1e-4, "no grid, so no sound"
    # the user's state is kept: slots and parameters survive the error
    assert plugin_state(plugin).slots == [str(GOOD), str(path)]


def _backend_pids() -> list[int]:
    """Backends started by this (pytest) process."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid == os.getpid() and b"latentmorph.server" in cmdline:
                pids.append(int(entry.name))
    return pids


def test_killed_backend_is_restarted(plugin, tmp_path):
    set_plugin_state(plugin, make_state(SAMPLES_DIR / "snare.wav", SAMPLES_DIR / "bass_c4.wav"))
    assert np.max(np.abs(render(plugin, [(60, 0.0, 0.3)], duration_s=0.5))) > 0.05
    pids = _backend_pids()
    assert len(pids) == 1, f"expected one backend per host process, found {pids}"
    os.kill(pids[0], signal.SIGKILL)
    time.sleep(0.2)
    # a pair no other test loads needs the backend (no grid of it in this process's cache): the
    # client notices the dead one and starts another
    fresh = tmp_path / "fresh_tone.wav"
    sf.write(fresh, 0.5 * np.sin(2 * np.pi * 330.0 * np.arange(SAMPLE_RATE) / SAMPLE_RATE), SAMPLE_RATE)
    set_plugin_state(plugin, make_state(SAMPLES_DIR / "bell_c4.wav", fresh))
    audio = render(plugin, [(60, 0.0, 0.3)], duration_s=0.5)
    deadline = time.monotonic() + 15
    while status_of(plugin).get("state") != "ready" and time.monotonic() < deadline:
        audio = render(plugin, [(60, 0.0, 0.3)], duration_s=0.5)
    assert status_of(plugin).get("state") == "ready", status_of(plugin)
    assert np.max(np.abs(audio)) > 0.05
    assert _backend_pids() and _backend_pids()[0] != pids[0]


def test_missing_backend_python_gives_silence_and_a_status(tmp_path):
    """In a separate host process whose backend cannot start at all."""
    script = textwrap.dedent(f"""
        import pedalboard, numpy as np, sys
        from latentmorph.plugin_state import make_state, plugin_state, set_plugin_state
        p = pedalboard.load_plugin({str(VST3_PATH)!r}, initialization_timeout=0.1)
        set_plugin_state(p, make_state({str(SAMPLES_DIR / 'kick.wav')!r}, {str(SAMPLES_DIR / 'snare.wav')!r}))
        msgs = [(bytes([0x90, 60, 100]), 0.0), (bytes([0x80, 60, 0]), 0.3)]
        audio = p(msgs, duration=0.5, sample_rate={SAMPLE_RATE}, num_channels=2, reset=True)
        status = plugin_state(p).status
        print(status["state"], "|", status.get("message", ""), "|", float(np.max(np.abs(audio))))
    """)
    env = {**os.environ, "LATENTMORPH_PYTHON": str(tmp_path / "no-such-python"),
           "LATENTMORPH_CACHE_DIR": str(tmp_path / "cache")}
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    assert time.monotonic() - started < 30
    state, message, level = result.stdout.strip().splitlines()[-1].split(" | ")
    assert state == "error" and "backend" in message.lower(), result.stdout
    assert float(level) < 1e-4

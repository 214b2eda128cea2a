"""The plugin's backend client (plugin/BackendClient.cpp) through the LatentMorphBackendRequest tool:
its request size limit, its start-up errors and the processes it kills (issue 12: 5, 6, 7)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from .conftest import REPO_ROOT

TOOL = REPO_ROOT / "build/plugin/LatentMorphBackendRequest_artefacts/Release/LatentMorphBackendRequest"
#: Wall-clock bound of one tool run, seconds.
TOOL_TIMEOUT_S = 60
#: The protocol's frame limit, bytes (docs/protocol.md).
MAX_FRAME_BYTES = 16 << 20


def request(*arguments: str | Path, env: dict[str, str] | None = None) -> list[dict]:
    """Run the tool with ``CMD FIELDS`` pairs; its replies, one per request."""
    if not TOOL.exists():
        pytest.fail(f"{TOOL.name} not built at {TOOL}: run `make build`")
    # stderr into a file, not a pipe: the backend inherits it, and an orphan left holding a pipe would
    # make the run wait for it
    with tempfile.TemporaryFile() as stderr:
        result = subprocess.run([str(TOOL), *map(str, arguments)], stdout=subprocess.PIPE, stderr=stderr, text=True,
                                timeout=TOOL_TIMEOUT_S, env={**os.environ, **(env or {})})
        stderr.seek(0)
        assert result.returncode == 0, stderr.read()[-2000:]
    return [json.loads(line) for line in result.stdout.splitlines()]


def wrapper(tmp_path: Path, body: str) -> Path:
    """An executable shell script to start as the backend's interpreter (LATENTMORPH_PYTHON)."""
    script = tmp_path / "python-wrapper.sh"
    script.write_text("#!/bin/sh\n" + body + "\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


def test_oversized_request_is_refused_and_the_backend_keeps_running(tmp_path):
    """Guards against the client sending a frame over 16 MiB, which the backend reads as a broken
    stream and exits on: the request fails with a clear error and the backend is not restarted."""
    fields = tmp_path / "big.json"
    fields.write_text(json.dumps({"padding": "x" * (MAX_FRAME_BYTES + 1)}))
    first, refused, last = request("hello", "-", "ping", fields, "hello", "-")
    assert first["ok"], first
    assert refused["code"] == "request_too_large" and "16 MiB" in refused["message"], refused
    assert last["ok"] and last["body"]["pid"] == first["body"]["pid"], "the backend was restarted"


def test_stray_stdout_bytes_are_reported_as_a_protocol_error(tmp_path):
    """Guards against a misleading start-up error: bytes printed on the backend's stdout are read as
    a huge frame length, and the status used to say the backend "exited with status 1"."""
    python = wrapper(tmp_path, "echo 'starting the backend'\nexec sleep 30")
    started = time.monotonic()
    (reply,) = request("hello", "-", env={"LATENTMORPH_PYTHON": str(python)})
    assert time.monotonic() - started < 10.0
    assert reply["code"] == "backend_start_failed", reply
    assert "protocol" in reply["message"] and "starting the backend" in reply["message"], reply
    assert "exited with status" not in reply["message"], reply


def _alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie waiting for its reaper counts as dead)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_timeout_kills_the_children_of_a_wrapper_interpreter(tmp_path):
    """Guards against orphans: on a timeout the client killed only the process it started, so a
    wrapper script's children (here a ``sleep``) outlived it."""
    pid_file = tmp_path / "child.pid"
    python = wrapper(tmp_path, f"sleep 300 &\necho $! > {pid_file}\nwait")
    (reply,) = request("hello", "-", env={"LATENTMORPH_PYTHON": str(python), "LATENTMORPH_BACKEND_TIMEOUT_S": "1"})
    child = int(pid_file.read_text())
    try:
        assert reply["code"] == "backend_timeout", reply
        deadline = time.monotonic() + 5.0
        while _alive(child) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(child), "the wrapper's child survived the timeout kill"
    finally:
        if _alive(child):
            os.kill(child, 9)

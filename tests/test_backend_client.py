"""The plugin's backend client (plugin/backend/: BackendClient over ChildProcess) through the
LatentMorphBackendRequest tool: its request size limit, its start-up errors and the processes it
kills (issue 12: 5, 6, 7)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from latentmorph.shared_constants import MAX_FRAME_BYTES

from .conftest import REPO_ROOT

TOOL = REPO_ROOT / "build/plugin/LatentMorphBackendRequest_artefacts/Release/LatentMorphBackendRequest"
#: Wall-clock bound of one tool run, seconds.
TOOL_TIMEOUT_S = 60


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


FAKE_BACKEND = '''
import json, os, struct, sys

answers = json.loads(os.environ["FAKE_BACKEND_ANSWERS"])
log = open(os.environ["FAKE_BACKEND_LOG"], "a")
while True:
    header = sys.stdin.buffer.read(4)
    if len(header) < 4:
        break
    request = json.loads(sys.stdin.buffer.read(struct.unpack("<I", header)[0]))
    log.write(json.dumps(request) + "\\n")
    log.flush()
    answer = {"v": request["v"], "id": request["id"], "ok": True, "protocol": 1, **answers.get(request["cmd"], {})}
    payload = json.dumps(answer).encode()
    sys.stdout.buffer.write(struct.pack("<I", len(payload)) + payload)
    sys.stdout.buffer.flush()
'''


def api(tmp_path: Path, answers: dict, *arguments: str) -> tuple[dict, list[dict]]:
    """One ``--api`` call of the tool (a typed BackendApi call, as the plugin makes) against a fake
    backend that answers each command with ``answers[cmd]``; the tool's reply and the requests the
    fake received between ``hello`` and ``shutdown``."""
    script = tmp_path / "fake_backend.py"
    script.write_text(FAKE_BACKEND)
    log = tmp_path / "requests.jsonl"
    python = wrapper(tmp_path, f'exec "{sys.executable}" "{script}"')
    (reply,) = request("--api", *arguments, env={"LATENTMORPH_PYTHON": str(python),
                                                 "FAKE_BACKEND_ANSWERS": json.dumps(answers),
                                                 "FAKE_BACKEND_LOG": str(log)})
    requests = [json.loads(line) for line in log.read_text().splitlines()]
    assert requests[0]["cmd"] == "hello" and requests[-1]["cmd"] == "shutdown", requests  # the tool's exit stops it
    return reply, requests[1:-1]


def test_api_similar_sends_the_documented_fields_and_maps_the_hits(tmp_path):
    hits = [{"path": "/lib/k1.wav", "start_s": 0.0, "end_s": 0.5, "distance": 0.01, "tag": "kick", "segment": False},
            {"path": "/lib/loop.wav", "start_s": 1.5, "end_s": 2.0, "distance": 0.2, "tag": None, "segment": True,
             "segment_path": "/segments/loop_1.50-2.00s.wav"}]
    reply, (sent,) = api(tmp_path, {"similar": {"hits": hits}}, "similar", "query.wav", "12")
    assert sent == {"v": 1, "id": sent["id"], "cmd": "similar", "path": str(Path.cwd() / "query.wav"), "k": 12,
                    "category": None, "db": None}
    assert reply["ok"], reply
    first, second = reply["value"]
    assert first == {"path": "/lib/k1.wav", "startS": 0.0, "endS": 0.5, "distance": 0.01, "tag": "kick",
                     "segmentPath": "", "fileToLoad": "/lib/k1.wav"}
    assert second["tag"] == "" and second["fileToLoad"] == "/segments/loop_1.50-2.00s.wav"


@pytest.mark.parametrize(("answer", "code", "words"), [
    ({"hits": [{"path": "/lib/k1.wav", "start_s": 0.0, "end_s": 0.5}]}, "bad_answer", "malformed hit"),
    ({"hits": None}, "bad_answer", "lacks hits"),
    ({"ok": False, "error": {"code": "no_library", "message": "run `latentmorph index DIR` first"}}, "no_library",
     "latentmorph index"),
])
def test_api_similar_turns_a_bad_or_failed_answer_into_an_error(tmp_path, answer, code, words):
    reply, _ = api(tmp_path, {"similar": answer}, "similar", "/q.wav", "3")
    assert not reply["ok"] and reply["code"] == code and words in reply["message"], reply


GRID_ANSWER = {"grid_path": "/cache/g.lmgrid", "steps": 17, "num_samples": 4410, "sample_rate": 44100,
               "model_id": "lm-test", "source_sha256": ["a" * 64, "b" * 64], "warning": "only the first 10 s"}


def test_api_render_grid_sends_the_documented_fields_and_maps_the_answer(tmp_path):
    reply, (sent,) = api(tmp_path, {"render_grid": GRID_ANSWER}, "render_grid", "17", "0.25", "/a.wav", "/b.wav")
    assert sent == {"v": 1, "id": sent["id"], "cmd": "render_grid", "sources": [{"path": "/a.wav"}, {"path": "/b.wav"}],
                    "steps": 17, "detail": 0.25}
    assert reply == {"ok": True, "value": {"gridPath": "/cache/g.lmgrid", "steps": 17, "numSamples": 4410,
                                           "sampleRateHz": 44100.0, "modelId": "lm-test",
                                           "sourceSha256": ["a" * 64, "b" * 64], "warning": "only the first 10 s"}}


@pytest.mark.parametrize("missing", ["grid_path", "source_sha256"])
def test_api_render_grid_refuses_an_answer_without_the_grid_or_a_hash_per_source(tmp_path, missing):
    answer = {**GRID_ANSWER, missing: None}
    reply, _ = api(tmp_path, {"render_grid": answer}, "render_grid", "17", "0.5", "/a.wav", "/b.wav")
    assert not reply["ok"] and reply["code"] == "bad_answer", reply
    three_sources, _ = api(tmp_path, {"render_grid": GRID_ANSWER}, "render_grid", "17", "0.5", "/a.wav", "/b.wav", "/c.wav")
    assert not three_sources["ok"] and "source_sha256" in three_sources["message"], three_sources


BLEND_ANSWER = {**GRID_ANSWER, "steps": 2, "source_sha256": ["a" * 64, "b" * 64, "c" * 64, "d" * 64], "warning": None}


def test_api_render_blend_sends_the_weight_rows_and_maps_the_answer(tmp_path):
    weights = [[1, 0, 0, 0], [0.25, 0.25, 0.25, 0.25]]
    sources = ["/a.wav", "/b.wav", "/c.wav", "/d.wav"]
    reply, (sent,) = api(tmp_path, {"render_blend": BLEND_ANSWER}, "render_blend", "0.5", json.dumps(weights), *sources)
    assert sent == {"v": 1, "id": sent["id"], "cmd": "render_blend", "sources": [{"path": p} for p in sources],
                    "weights": weights, "detail": 0.5}
    assert reply == {"ok": True, "value": {"gridPath": "/cache/g.lmgrid", "steps": 2, "numSamples": 4410,
                                           "sampleRateHz": 44100.0, "modelId": "lm-test",
                                           "sourceSha256": BLEND_ANSWER["source_sha256"], "warning": ""}}
    three, _ = api(tmp_path, {"render_blend": BLEND_ANSWER}, "render_blend", "0.5", "[[1, 0, 0]]", *sources[:3])
    assert not three["ok"] and three["code"] == "bad_answer" and "render_blend" in three["message"], three


def test_api_root_note_sends_the_path_and_maps_the_answer_or_refuses_a_bad_one(tmp_path):
    answer = {"root_note": 62, "fine_tune_cents": -12.5, "f0_hz": 291.6, "pitched": True,
              "message": "root note D4 (-12 cents, 291.6 Hz)"}
    reply, (sent,) = api(tmp_path, {"root_note": answer}, "root_note", "/a.wav")
    assert sent == {"v": 1, "id": sent["id"], "cmd": "root_note", "path": "/a.wav"}
    assert reply == {"ok": True, "value": {"midiNote": 62, "fineTuneCents": -12.5, "f0Hz": 291.6, "pitched": True,
                                           "message": "root note D4 (-12 cents, 291.6 Hz)"}}
    unpitched, _ = api(tmp_path, {"root_note": {**answer, "root_note": 60, "f0_hz": None, "pitched": False}},
                       "root_note", "/kick.wav")
    assert unpitched["ok"] and unpitched["value"]["f0Hz"] == 0.0 and not unpitched["value"]["pitched"], unpitched
    bad, _ = api(tmp_path, {"root_note": {**answer, "root_note": 200}}, "root_note", "/a.wav")
    assert not bad["ok"] and bad["code"] == "bad_answer", bad


def test_only_plugin_backend_talks_to_the_backend():
    """Guards the seam of issue 11: outside plugin/backend/ no plugin code uses BackendClient, and no
    plugin code but BackendApi.cpp names a command's fields (the tool's --api mode prints C++ names)."""
    plugin = REPO_ROOT / "plugin"
    sources = [path for path in plugin.rglob("*") if path.suffix in (".cpp", ".h")]
    outside = [path for path in sources if "BackendClient" in path.read_text() and path.parent.name != "backend"]
    assert not outside, f"BackendClient used outside plugin/backend/: {outside}"
    fields = ('"grid_path"', '"source_sha256"', '"hits"', '"start_s"', '"segment_path"')
    knowing = {path.relative_to(plugin).as_posix() for path in sources if any(f in path.read_text() for f in fields)}
    assert knowing == {"backend/BackendApi.cpp"}, knowing

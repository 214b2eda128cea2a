"""The runtime without the plugin: shipped model contract, morph pipeline, grid files, server."""

from __future__ import annotations

import json
import struct
import subprocess
import sys

import numpy as np
import pytest

from latentmorph.grid import GridFileError, read_grid, write_grid
from latentmorph.model import ModelError, MorphModel, get_model
from latentmorph.morph import MorphInputError, align_sources, prepare_source, render_grid, rms_db

from .conftest import SAMPLE_RATE, SAMPLES_DIR


@pytest.fixture(scope="module")
def model() -> MorphModel:
    return get_model()


def test_shipped_model_honours_its_contract(model):
    assert model.sample_rate == 44100 and model.hop_length > 0 and model.latent_dim > 0
    assert model.model_id.startswith("lm-")
    z = model.encode(np.zeros((2, 10 * model.hop_length + 7), np.float32))
    assert z.shape == (2, 11, model.latent_dim)  # zero-padded to whole frames
    assert model.decode(z).shape == (2, 11 * model.hop_length)


def test_model_load_refuses_missing_and_foreign_files(tmp_path, model):
    with pytest.raises(ModelError, match="not found"):
        MorphModel.load(tmp_path)
    (tmp_path / "encoder.onnx").write_bytes(b"not onnx")
    (tmp_path / "decoder.onnx").write_bytes(b"not onnx")
    with pytest.raises(ModelError, match="cannot load"):
        MorphModel.load(tmp_path)


def test_model_loads_on_the_cpu_quietly_where_there_is_no_nvidia_driver():
    """onnxruntime-gpu (installed on Linux x86-64) lists the CUDA provider on every machine; asked
    for it without a driver, onnxruntime logs an error per session. Load in a fresh process and
    check the sessions run on the CPU and nothing is written to stderr."""
    from pathlib import Path

    from latentmorph.model import NVIDIA_DRIVER_PATHS

    if any(Path(path).exists() for path in NVIDIA_DRIVER_PATHS):
        pytest.skip("this machine has an NVIDIA driver: the CUDA provider is asked for")
    code = "from latentmorph.model import MorphModel; print(MorphModel.load().providers)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "['CPUExecutionProvider']"
    assert result.stderr == ""


def test_onset_alignment_is_sample_accurate():
    a = np.zeros(1000, np.float32)
    a[100] = 1.0
    b = np.zeros(800, np.float32)
    b[437] = -0.5
    aligned = align_sources([prepare_source(a), prepare_source(b)])
    onsets = np.argmax(np.abs(aligned) > 0.05, axis=1)
    assert onsets[0] == onsets[1] == 437
    np.testing.assert_allclose(np.abs(aligned).max(axis=1), 0.9, rtol=1e-6)


def test_silent_source_is_refused(model):
    with pytest.raises(MorphInputError, match="silent"):
        render_grid(model, np.zeros(4410, np.float32), np.ones(4410, np.float32), 3)


def test_grid_endpoints_keep_source_levels(model):
    t = np.arange(SAMPLE_RATE // 2) / SAMPLE_RATE
    loud = (0.5 * np.sin(2 * np.pi * 220 * t) * np.exp(-4 * t)).astype(np.float32)
    quiet = (0.1 * np.sin(2 * np.pi * 330 * t) * np.exp(-4 * t)).astype(np.float32)
    grid = render_grid(model, loud, quiet, 5)
    assert grid.shape[0] == 5 and grid.dtype == np.float32
    assert np.max(np.abs(grid)) <= 1.0
    level_db = rms_db(grid, len(loud))
    # each step has the RMS level of A and B interpolated in dB (about 18 dB apart): no dip mid-morph
    source_db = rms_db(np.stack([loud, quiet]), len(loud))
    expected_db = source_db[0] + np.linspace(0.0, 1.0, 5) * (source_db[1] - source_db[0])
    np.testing.assert_allclose(level_db, expected_db, atol=0.2)


def test_grid_file_round_trip_and_corruption(tmp_path):
    grid = np.random.default_rng(0).standard_normal((3, 100)).astype(np.float32)
    path = tmp_path / "g.lmgrid"
    write_grid(path, grid, 44100)
    loaded, rate = read_grid(path)
    assert rate == 44100 and np.array_equal(loaded, grid)
    path.write_bytes(path.read_bytes()[:-4])
    with pytest.raises(GridFileError, match="size"):
        read_grid(path)
    path.write_bytes(b"NOTAGRID" + bytes(16))
    with pytest.raises(GridFileError, match="magic"):
        read_grid(path)


class Backend:
    """A backend process spoken to over protocol v1."""

    def __init__(self, env=None):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "latentmorph.server"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        self.next_id = 0

    def send_raw(self, payload: bytes) -> dict:
        self.proc.stdin.write(struct.pack("<I", len(payload)) + payload)
        self.proc.stdin.flush()
        (length,) = struct.unpack("<I", self.proc.stdout.read(4))
        return json.loads(self.proc.stdout.read(length))

    def request(self, cmd: str, **fields) -> dict:
        self.next_id += 1
        reply = self.send_raw(json.dumps({"v": 1, "id": self.next_id, "cmd": cmd, **fields}).encode())
        assert reply["id"] == self.next_id
        return reply


@pytest.fixture
def backend():
    server = Backend()
    yield server
    server.proc.kill()
    server.proc.wait()


def test_server_renders_a_grid_and_answers_repeats_from_cache(backend, model):
    hello = backend.request("hello")
    assert hello["ok"] and hello["protocol"] == 1 and hello["model_id"] == model.model_id
    sources = [{"path": str(SAMPLES_DIR / "kick.wav")}, {"path": str(SAMPLES_DIR / "snare.wav")}]
    first = backend.request("render_grid", sources=sources, steps=9)
    assert first["ok"], first
    grid, rate = read_grid(first["grid_path"])
    assert grid.shape == (9, first["num_samples"]) and rate == 44100
    assert len(first["source_sha256"]) == 2 and all(len(h) == 64 for h in first["source_sha256"])
    again = backend.request("render_grid", sources=sources, steps=9)
    assert again == {**first, "id": again["id"]}


def test_server_turns_every_failure_into_an_error_reply(backend, tmp_path):
    missing = str(tmp_path / "nope.wav")
    reply = backend.request("render_grid", sources=[{"path": str(SAMPLES_DIR / "kick.wav")}, {"path": missing}])
    assert reply["error"]["code"] == "audio_load_error" and missing in reply["error"]["message"]
    assert backend.request("render_grid", sources=[{"path": "x"}])["error"]["code"] == "bad_request"
    assert (
        backend.request("render_grid", sources=[{"path": "a"}, {"path": "b"}], steps=1)["error"]["code"]
        == "bad_request"
    )
    assert backend.request("frobnicate")["error"]["code"] == "bad_request"
    assert backend.send_raw(b'{"v": 2, "id": 7, "cmd": "hello"}')["error"]["code"] == "protocol_version"
    assert backend.send_raw(b"[1, 2")["error"]["code"] == "bad_request"
    assert backend.request("ping")["ok"]  # still alive after all that
    assert backend.request("shutdown")["ok"]
    assert backend.proc.wait(timeout=10) == 0


def test_server_reports_a_missing_model(tmp_path):
    import os

    server = Backend(env={**os.environ, "LATENTMORPH_MODEL_DIR": str(tmp_path)})
    try:
        reply = server.request("hello")
        assert reply["error"]["code"] == "model_error" and "not found" in reply["error"]["message"]
    finally:
        server.proc.kill()
        server.proc.wait()


def test_server_detects_a_root_note_and_falls_back_to_c4_for_a_drum(backend, tmp_path):
    """``root_note`` (docs/protocol.md): the bass C4 is MIDI 60 within a few cents; the kick has no
    steady pitch, so 60 and a message that says so; a missing file is an audio_load_error."""
    bass = backend.request("root_note", path=str(SAMPLES_DIR / "bass_c4.wav"))
    assert bass["ok"] and bass["root_note"] == 60 and bass["pitched"], bass
    assert abs(bass["fine_tune_cents"]) < 30 and 250 < bass["f0_hz"] < 275 and "C4" in bass["message"], bass
    kick = backend.request("root_note", path=str(SAMPLES_DIR / "kick.wav"))
    assert kick["ok"] and kick["root_note"] == 60 and not kick["pitched"] and kick["fine_tune_cents"] == 0, kick
    assert "root note C4" in kick["message"], kick
    missing = str(tmp_path / "nope.wav")
    reply = backend.request("root_note", path=missing)
    assert reply["error"]["code"] == "audio_load_error" and missing in reply["error"]["message"]
    assert backend.request("root_note")["error"]["code"] == "bad_request"

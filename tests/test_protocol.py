"""The backend's protocol layer without a process: framing, field checks, and the one place that
turns an exception into an error code (server.error_code)."""

from __future__ import annotations

import io
import struct

import pytest

from latentmorph import protocol, server
from latentmorph.audio import AudioLoadError
from latentmorph.grid import GridFileError
from latentmorph.library import LibraryError, QueryError
from latentmorph.model import ModelError
from latentmorph.generate import PriorStatsError
from latentmorph.morph import MorphInputError


@pytest.mark.parametrize(("error", "code"), [
    (protocol.BadRequest("k must be an integer"), "bad_request"),
    (protocol.UnsupportedVersion("v 2"), "protocol_version"),
    (AudioLoadError("/x.wav", "file not found"), "audio_load_error"),
    (QueryError("the query '/x.wav' is silent"), "audio_load_error"),
    (LibraryError("no library database at '/x.sqlite'"), "no_library"),
    (ModelError("decoder.onnx not found"), "model_error"),
    (PriorStatsError("prior of another model"), "model_error"),
    (MorphInputError("source 1 is silent"), "audio_load_error"),
    (GridFileError("/x.lmgrid: truncated header"), "internal"),
    (ValueError("a bug"), "internal"),
])  # fmt: skip
def test_every_error_has_its_protocol_code(error, code):
    assert server.error_code(error) == code


def test_similar_tells_a_bad_query_from_a_missing_library(monkeypatch, tmp_path):
    """Guards against handle_similar telling the two apart by the exception's __cause__: the
    class says it (QueryError is a LibraryError with its own code)."""
    from latentmorph.library import search

    for error in (QueryError("the query 'q.wav' is silent"), LibraryError("the library 'x' is empty")):

        def failing_similar(*args, error=error, **kwargs):
            raise error

        monkeypatch.setattr(search, "similar", failing_similar)
        answer = server.respond({"v": 1, "id": 7, "cmd": "similar", "path": str(tmp_path / "q.wav")})
        assert answer == {"v": 1, "id": 7, "ok": False, "error": {"code": error.code, "message": str(error)}}


def test_an_unknown_error_is_internal_and_names_its_type(monkeypatch):
    monkeypatch.setitem(server.HANDLERS, "ping", lambda request: 1 / 0)
    answer = server.respond({"v": 1, "id": 3, "cmd": "ping"})
    assert answer["error"] == {"code": "internal", "message": "ZeroDivisionError: division by zero"}


def test_frames_round_trip_and_broken_ones_are_told_apart():
    stream = io.BytesIO()
    protocol.write_frame(stream, {"v": 1, "id": 1, "cmd": "ping"})
    stream.write(struct.pack("<I", 2) + b"[]")
    stream.write(struct.pack("<I", 0))
    stream.seek(0)
    assert protocol.read_frame(stream) == {"v": 1, "id": 1, "cmd": "ping"}
    with pytest.raises(protocol.BadRequest, match="not a JSON object"):
        protocol.read_frame(stream)  # the stream is still in step after a bad payload
    with pytest.raises(EOFError, match="invalid frame length 0"):
        protocol.read_frame(stream)
    assert protocol.read_frame(io.BytesIO()) is None


@pytest.mark.parametrize("value", [True, 1.5, "3", -1, 17])
def test_int_fields_refuse_what_is_not_an_integer_in_range(value):
    with pytest.raises(protocol.BadRequest, match=r"count must be an integer in \[1, 16\]"):
        protocol.int_field({"count": value}, "count", 4, 1, protocol.MAX_COUNT)


@pytest.mark.parametrize("cmd", ["render", None, ["ping"], {"cmd": "ping"}])
def test_an_unknown_or_malformed_cmd_is_a_bad_request(cmd):
    answer = server.respond({"v": 1, "id": 4, "cmd": cmd})
    assert answer == {"v": 1, "id": 4, "ok": False, "error": {"code": "bad_request", "message": f"unknown cmd {cmd!r}"}}

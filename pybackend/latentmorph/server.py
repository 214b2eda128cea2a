"""The backend process the plugin starts: ``python -m latentmorph.server``.

Speaks protocol version 1 of docs/protocol.md on stdin/stdout: frames of a 4-byte little-endian
length plus a UTF-8 JSON object. Every request that parses gets a response; failures become
``{"ok": false, "error": {"code", "message"}}``. Logs go to stderr. The process's file
descriptor 1 is pointed at stderr at start-up, so a stray print from any library (or from C code)
can never corrupt the protocol stream.
"""

from __future__ import annotations

import json
import logging
import os
import struct
import sys
from pathlib import Path
from typing import BinaryIO

from .audio import AudioLoadError, load_audio, sha256_file
from .grid import GridFileError, cache_dir, cache_key, read_grid_header, write_grid
from .model import ModelError, get_model
from .morph import MorphInputError, render_grid

PROTOCOL_VERSION = 1
MAX_FRAME_BYTES = 16 << 20
MAX_STEPS = 65
#: Longest source accepted by the backend, in seconds (a sampler slot, not a song).
MAX_SOURCE_S = 10.0

log = logging.getLogger("latentmorph.server")


class RequestError(Exception):
    """A request failed with a protocol error code."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


def read_frame(stream: BinaryIO) -> dict | None:
    """Next JSON object, or ``None`` at a clean EOF. Raises ``EOFError`` on a torn or oversized
    frame and :class:`RequestError` (bad_request) when the payload is not a JSON object."""
    header = stream.read(4)
    if not header:
        return None
    if len(header) < 4:
        raise EOFError("torn frame header")
    (length,) = struct.unpack("<I", header)
    if length == 0 or length > MAX_FRAME_BYTES:
        raise EOFError(f"invalid frame length {length}")
    payload = stream.read(length)
    if len(payload) < length:
        raise EOFError("torn frame payload")
    try:
        message = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise RequestError("bad_request", f"payload is not JSON: {error}") from error
    if not isinstance(message, dict):
        raise RequestError("bad_request", "payload is not a JSON object")
    return message


def write_frame(stream: BinaryIO, message: dict) -> None:
    """Write one frame and flush."""
    payload = json.dumps(message).encode("utf-8")
    stream.write(struct.pack("<I", len(payload)) + payload)
    stream.flush()


def _model():
    try:
        return get_model(os.environ.get("LATENTMORPH_MODEL_DIR"))
    except ModelError as error:
        raise RequestError("model_error", str(error)) from error


def _hash_source(path: Path) -> str:
    """SHA-256 of a source file; file-system failures become :class:`AudioLoadError`."""
    try:
        return sha256_file(path)
    except FileNotFoundError as error:
        raise AudioLoadError(path, "file not found") from error
    except IsADirectoryError as error:
        raise AudioLoadError(path, "not a regular file") from error
    except OSError as error:
        raise AudioLoadError(path, error.strerror or str(error)) from error


def _cached_num_samples(path: Path, steps: int, sample_rate: int) -> int | None:
    """Samples per step of a valid cached grid, or ``None`` when it is absent or unusable (a torn
    or foreign file is re-rendered rather than handed to the plugin, which would refuse it)."""
    try:
        cached_steps, num_samples, cached_rate = read_grid_header(path)
    except FileNotFoundError:
        return None
    except (GridFileError, OSError) as error:
        log.warning("re-rendering unusable cached grid: %s", error)
        return None
    return num_samples if (cached_steps, cached_rate) == (steps, sample_rate) else None


def handle_hello(request: dict) -> dict:
    model = _model()
    return {"protocol": PROTOCOL_VERSION, "model_id": model.model_id,
            "sample_rate": model.sample_rate, "pid": os.getpid()}


def handle_render_grid(request: dict) -> dict:
    """Render (or fetch from the disk cache) the grid of two sources; see docs/protocol.md."""
    sources = request.get("sources")
    steps = request.get("steps", 9)
    if not isinstance(sources, list) or len(sources) != 2 or not all(
            isinstance(s, dict) and isinstance(s.get("path"), str) and s["path"] for s in sources):
        raise RequestError("bad_request", "sources must be a list of two {\"path\": str} objects")
    if not isinstance(steps, int) or not 2 <= steps <= MAX_STEPS:
        raise RequestError("bad_request", f"steps must be an integer in [2, {MAX_STEPS}]")
    model = _model()
    paths = [Path(s["path"]) for s in sources]
    try:
        hashes = [_hash_source(p) for p in paths]
        path = cache_dir() / f"{cache_key(model.model_id, hashes, steps)}.lmgrid"
        num_samples = _cached_num_samples(path, steps, model.sample_rate)
        if num_samples is None:
            audio = [load_audio(p, model.sample_rate, MAX_SOURCE_S)[0] for p in paths]
            grid = render_grid(model, audio[0], audio[1], steps)
            write_grid(path, grid, model.sample_rate)
            num_samples = grid.shape[1]
    except (AudioLoadError, MorphInputError) as error:
        raise RequestError("audio_load_error", str(error)) from error
    return {"grid_path": str(path), "steps": steps, "num_samples": int(num_samples),
            "sample_rate": model.sample_rate, "model_id": model.model_id, "source_sha256": hashes}


HANDLERS = {"hello": handle_hello, "render_grid": handle_render_grid, "ping": lambda request: {}}


def respond(request: dict) -> dict:
    """Dispatch one request to its handler and wrap the result or the error."""
    base = {"v": PROTOCOL_VERSION, "id": request.get("id")}
    try:
        if request.get("v") != PROTOCOL_VERSION:
            raise RequestError("protocol_version", f"protocol version {request.get('v')!r} not supported; "
                               f"this backend speaks {PROTOCOL_VERSION}")
        handler = HANDLERS.get(request.get("cmd"))
        if handler is None and request.get("cmd") != "shutdown":
            raise RequestError("bad_request", f"unknown cmd {request.get('cmd')!r}")
        result = handler(request) if handler else {}
        return {**base, "ok": True, **result}
    except RequestError as error:
        return {**base, "ok": False, "error": {"code": error.code, "message": str(error)}}
    except Exception as error:  # a bug must still answer, never kill the pipe
        log.exception("internal error")
        return {**base, "ok": False, "error": {"code": "internal", "message": f"{type(error).__name__}: {error}"}}


def serve(stdin: BinaryIO, stdout: BinaryIO) -> int:
    """Answer requests until EOF or ``shutdown``; returns the exit status (0, or 2 on a broken stream)."""
    while True:
        try:
            request = read_frame(stdin)
        except RequestError as error:
            write_frame(stdout, {"v": PROTOCOL_VERSION, "id": None, "ok": False,
                                 "error": {"code": error.code, "message": str(error)}})
            continue
        except EOFError as error:
            log.error("broken stream: %s", error)
            return 2
        if request is None:
            return 0
        write_frame(stdout, respond(request))
        if request.get("cmd") == "shutdown":
            return 0


def main() -> int:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="latentmorph backend: %(message)s")
    protocol_out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # anything printed from now on lands on stderr
    sys.stdout = sys.stderr
    return serve(sys.stdin.buffer, protocol_out)


if __name__ == "__main__":
    sys.exit(main())

"""Protocol version 1 of docs/protocol.md: framing, the checks of request fields, error codes.

A frame is a 4-byte little-endian length N (1 ≤ N ≤ :data:`MAX_FRAME_BYTES`) and N bytes of a
UTF-8 JSON object. A failed request is answered ``{"ok": false, "error": {"code", "message"}}``
with the code of the :class:`~latentmorph.errors.LatentMorphError` raised
(:func:`error_answer`). No request handling here (:mod:`latentmorph.handlers`), no process
plumbing (:mod:`latentmorph.server`).
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any, BinaryIO

from .errors import LatentMorphError
from .shared_constants import MAX_FRAME_BYTES, PROTOCOL_VERSION  # shared with the plugin

#: Most steps of one ``render_grid`` (the plugin asks for 17); also the CLI's ``morph --steps`` limit.
MAX_STEPS = 65
#: Most sounds of one ``render_new`` or ``render_variation``; also the CLI's ``--count`` limit.
MAX_COUNT = 16
#: Largest seed of ``render_new`` and ``render_variation`` (a uint32).
MAX_SEED = 2**32 - 1

Request = dict[str, Any]


class BadRequest(LatentMorphError):
    """A request is not a JSON object, misses a field or has an invalid one, or names no command."""

    code = "bad_request"


class UnsupportedVersion(LatentMorphError):
    """A request's ``v`` is not :data:`PROTOCOL_VERSION`."""

    code = "protocol_version"


def read_frame(stream: BinaryIO) -> Request | None:
    """The next request, or ``None`` at a clean EOF.

    Raises:
        EOFError: a torn frame, or a length of 0 or over :data:`MAX_FRAME_BYTES` (the stream is broken).
        BadRequest: the payload is not a UTF-8 JSON object (the stream is still in step).
    """
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
        raise BadRequest(f"payload is not JSON: {error}") from error
    if not isinstance(message, dict):
        raise BadRequest("payload is not a JSON object")
    return message


def write_frame(stream: BinaryIO, message: dict[str, Any]) -> None:
    """Write ``message`` as one frame and flush."""
    payload = json.dumps(message).encode("utf-8")
    stream.write(struct.pack("<I", len(payload)) + payload)
    stream.flush()


def error_answer(request_id: Any, code: str, message: str) -> dict[str, Any]:
    """The answer to request ``request_id`` (``None`` when unknown) that failed with ``code``."""
    return {"v": PROTOCOL_VERSION, "id": request_id, "ok": False, "error": {"code": code, "message": message}}


def check_version(request: Request) -> None:
    """Raises :class:`UnsupportedVersion` unless ``request["v"]`` is :data:`PROTOCOL_VERSION`."""
    if request.get("v") != PROTOCOL_VERSION:
        raise UnsupportedVersion(
            f"protocol version {request.get('v')!r} not supported; this backend speaks {PROTOCOL_VERSION}"
        )


def int_field(request: Request, field: str, default: int, low: int, high: int) -> int:
    """``request[field]`` (``default`` when absent), an integer in [``low``, ``high``]; raises
    :class:`BadRequest` otherwise (booleans are not integers here)."""
    value = request.get(field, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise BadRequest(f"{field} must be an integer in [{low}, {high}]")
    return value


def number_field(request: Request, field: str, default: float, low: float, high: float) -> float:
    """``request[field]`` (``default`` when absent), a number in [``low``, ``high``], as float;
    raises :class:`BadRequest` otherwise (NaN fails both bounds; JSON has no infinities)."""
    value = request.get(field, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise BadRequest(f"{field} must be a number in [{low:g}, {high:g}]")
    return float(value)


def choice_field(request: Request, field: str, default: str, allowed: tuple[str, ...]) -> str:
    """``request[field]``, one of ``allowed``; ``default`` when absent or null; raises
    :class:`BadRequest` otherwise."""
    value = request.get(field)
    if value is None:
        return default
    if not isinstance(value, str) or value not in allowed:
        raise BadRequest(f"{field} must be one of {', '.join(allowed)} (or absent)")
    return value


def optional_text(request: Request, field: str) -> str | None:
    """``request[field]``, a non-empty string or ``None`` when absent or null; raises
    :class:`BadRequest` otherwise."""
    value = request.get(field)
    if value is not None and (not isinstance(value, str) or not value):
        raise BadRequest(f"{field} must be a non-empty string or null")
    return value


def required_text(request: Request, field: str) -> str:
    """``request[field]``, a non-empty string; raises :class:`BadRequest` otherwise."""
    value = request.get(field)
    if not isinstance(value, str) or not value:
        raise BadRequest(f"{field} must be a non-empty string")
    return value


def source_paths(request: Request, low: int, high: int) -> list[Path]:
    """The paths of ``request["sources"]``, a list of ``low`` to ``high`` ``{"path": str}`` objects;
    raises :class:`BadRequest` otherwise."""
    sources = request.get("sources")
    if (
        not isinstance(sources, list)
        or not low <= len(sources) <= high
        or not all(isinstance(s, dict) and isinstance(s.get("path"), str) and s["path"] for s in sources)
    ):
        count = f"{low}" if low == high else f"{low} to {high}"
        raise BadRequest(f'sources must be a list of {count} {{"path": str}} objects')
    return [Path(s["path"]) for s in sources]


def weight_rows(request: Request, max_rows: int) -> list[list[float]]:
    """``request["weights"]``: a list of 1 to ``max_rows`` lists of numbers (not yet checked to be
    barycentric); raises :class:`BadRequest` otherwise."""
    weights = request.get("weights")
    if not (
        isinstance(weights, list)
        and 1 <= len(weights) <= max_rows
        and all(
            isinstance(row, list) and all(isinstance(w, (int, float)) and not isinstance(w, bool) for w in row)
            for row in weights
        )
    ):
        raise BadRequest(f"weights must be a list of 1 to {max_rows} rows of numbers")
    return weights

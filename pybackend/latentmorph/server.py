"""The backend process the plugin starts: ``python -m latentmorph.server``.

Speaks protocol version 1 of docs/protocol.md on stdin/stdout: frames of a 4-byte little-endian
length plus a UTF-8 JSON object. Every request that parses gets a response; failures become
``{"ok": false, "error": {"code", "message"}}``. Logs go to stderr. The process's file
descriptor 1 is pointed at stderr at start-up, so a stray print from any library (or from C code)
can never corrupt the protocol stream.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import struct
import sys
import tempfile
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import numpy as np
import soundfile as sf

from .audio import AudioLoadError, AudioTruncatedWarning, check_audio_file, load_audio, sha256_file
from .grid import GridFileError, cache_dir, cache_key, cache_max_bytes, prune_cache, read_grid_header, write_grid
from .library import LibraryError, default_db_path
from .library.embedding import SilentAudioError
from .model import ModelError, default_model_dir, get_model
from .morph import (ALIGN_MODES, DEFAULT_ALIGN, DEFAULT_DETAIL, DEFAULT_INTERP, INTERP_MODES, MAX_SOURCES, PRIOR_FILE,
                    MorphInputError, PriorStatsError, blend, check_weights, render_grid, sample_prior,
                    variation)

if TYPE_CHECKING:  # search imports FAISS, which the backend loads only on a first search
    from .library.search import Hit

PROTOCOL_VERSION = 1
MAX_FRAME_BYTES = 16 << 20
MAX_STEPS = 65
#: Longest source accepted by the backend, in seconds (a sampler slot, not a song).
MAX_SOURCE_S = 10.0
#: Most points of one ``render_blend``: a 9 × 9 XY pad (NSynth Super's grid).
MAX_BLEND_POINTS = 81
#: Most sounds of one ``render_new`` or ``render_variation``.
MAX_COUNT = 16
#: Folder beside the library database where segment hits are written as WAV files.
SEGMENTS_DIR = "segments"
#: Most hits one ``similar`` request may ask for (a list a person reads, not a bulk export).
MAX_SIMILAR_K = 100

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
    """SHA-256 of a source file, checked first to be a regular file within the loader's size limit
    (a FIFO or device would stall the one backend); failures become :class:`AudioLoadError`."""
    check_audio_file(path)
    try:
        return sha256_file(path)
    except OSError as error:
        raise AudioLoadError(path, error.strerror or str(error)) from error


def _cached_num_samples(path: Path, steps: int, sample_rate: int) -> int | None:
    """Samples per step of a valid cached grid, marked as used now (see grid.prune_cache), or
    ``None`` when it is absent or unusable (a torn or foreign file is re-rendered rather than
    handed to the plugin, which would refuse it)."""
    try:
        cached_steps, num_samples, cached_rate = read_grid_header(path)
        os.utime(path)
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


def _int_field(request: dict, field: str, default: int, low: int, high: int) -> int:
    value = request.get(field, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise RequestError("bad_request", f"{field} must be an integer in [{low}, {high}]")
    return value


def _number_field(request: dict, field: str, default: float, low: float, high: float) -> float:
    value = request.get(field, default)
    # NaN fails both comparisons; JSON has no infinities
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise RequestError("bad_request", f"{field} must be a number in [{low:g}, {high:g}]")
    return float(value)


def _choice_field(request: dict, field: str, default: str, allowed: tuple[str, ...]) -> str:
    value = request.get(field)
    if value is None:
        return default
    if not isinstance(value, str) or value not in allowed:
        raise RequestError("bad_request", f"{field} must be one of {', '.join(allowed)} (or absent)")
    return value


def _source_paths(request: dict, low: int, high: int) -> list[Path]:
    sources = request.get("sources")
    if not isinstance(sources, list) or not low <= len(sources) <= high or not all(
            isinstance(s, dict) and isinstance(s.get("path"), str) and s["path"] for s in sources):
        count = f"{low}" if low == high else f"{low} to {high}"
        raise RequestError("bad_request", f"sources must be a list of {count} {{\"path\": str}} objects")
    return [Path(s["path"]) for s in sources]


_DEFAULT_MORPH_OPTIONS = {"align": DEFAULT_ALIGN, "interp": DEFAULT_INTERP, "detail": DEFAULT_DETAIL}


def _morph_options(request: dict) -> dict:
    """``align``, ``interp`` and ``detail`` of a request (absent or null: the defaults)."""
    detail = request.get("detail")
    return {"align": _choice_field(request, "align", DEFAULT_ALIGN, ALIGN_MODES),
            "interp": _choice_field(request, "interp", DEFAULT_INTERP, INTERP_MODES),
            "detail": DEFAULT_DETAIL if detail is None else _number_field(request, "detail", DEFAULT_DETAIL, 0.0, 1.0)}


def _render_cached(model, key_sources: list[str], rows: int, options: dict, render) -> dict:
    """Fields of a grid answer: the grid ``render()`` returns (``[rows, samples]``) is written into
    the cache under a key of the model, ``key_sources``, ``rows`` and ``options`` (then the cache is
    pruned to its size cap), or served from it when already there. Failures of ``render`` map to
    protocol errors."""
    path = cache_dir() / f"{cache_key(model.model_id, key_sources, rows, options)}.lmgrid"
    num_samples = _cached_num_samples(path, rows, model.sample_rate)
    if num_samples is None:
        try:
            grid = render()
        except MorphInputError as error:
            raise RequestError("audio_load_error", str(error)) from error
        except PriorStatsError as error:
            raise RequestError("model_error", str(error)) from error
        write_grid(path, grid, model.sample_rate)
        num_samples = grid.shape[1]
        for evicted in prune_cache(path, cache_max_bytes()):
            log.info("evicted %s from the grid cache", evicted.name)
    return {"grid_path": str(path), "steps": rows, "num_samples": int(num_samples),
            "sample_rate": model.sample_rate, "model_id": model.model_id}


def _hash_sources(paths: list[Path]) -> list[str]:
    try:
        return [_hash_source(p) for p in paths]
    except AudioLoadError as error:
        raise RequestError("audio_load_error", str(error)) from error


def _load_sources(paths: list[Path], sample_rate: int) -> tuple[list[np.ndarray], dict]:
    """The sources decoded at ``sample_rate`` Hz, and the answer's extra fields: ``warning`` when a
    source was cut at :data:`MAX_SOURCE_S` (the plugin shows it in its status). Loaded on every
    request, cache hits too, so that the answer says so each time."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", AudioTruncatedWarning)
        try:
            audio = [load_audio(p, sample_rate, MAX_SOURCE_S)[0] for p in paths]
        except AudioLoadError as error:
            raise RequestError("audio_load_error", str(error)) from error
    cut = [str(w.message) for w in caught if issubclass(w.category, AudioTruncatedWarning)]
    return audio, {"warning": "; ".join(cut)} if cut else {}


def handle_render_grid(request: dict) -> dict:
    """Render (or fetch from the disk cache) the grid of two sources; see docs/protocol.md."""
    paths = _source_paths(request, 2, 2)
    steps = _int_field(request, "steps", 9, 2, MAX_STEPS)
    options = _morph_options(request)
    model = _model()
    hashes = _hash_sources(paths)
    audio, extra = _load_sources(paths, model.sample_rate)
    # only options that differ from the defaults enter the key: default grids keep their old keys
    key_options = {k: v for k, v in options.items() if v != _DEFAULT_MORPH_OPTIONS[k]}
    answer = _render_cached(model, hashes, steps, key_options,
                            lambda: render_grid(model, audio[0], audio[1], steps, **options))
    return {**answer, "source_sha256": hashes, **extra}


def handle_render_blend(request: dict) -> dict:
    """Render (or fetch from the cache) N-way morphs of 2–4 sources at barycentric weights."""
    paths = _source_paths(request, 2, MAX_SOURCES)
    weights = request.get("weights")
    if not (isinstance(weights, list) and 1 <= len(weights) <= MAX_BLEND_POINTS and all(
            isinstance(row, list) and all(isinstance(w, (int, float)) and not isinstance(w, bool) for w in row)
            for row in weights)):
        raise RequestError("bad_request", f"weights must be a list of 1 to {MAX_BLEND_POINTS} rows of numbers")
    try:
        normalised = check_weights(weights, len(paths))
    except ValueError as error:
        raise RequestError("bad_request", str(error)) from error
    options = _morph_options(request)
    model = _model()
    hashes = _hash_sources(paths)
    audio, extra = _load_sources(paths, model.sample_rate)
    key_options = {"cmd": "render_blend", "weights": json.dumps(weights), **options}
    answer = _render_cached(model, hashes, len(weights), key_options,
                            lambda: blend(model, audio, normalised, **options))
    return {**answer, "source_sha256": hashes, **extra}


def handle_render_new(request: dict) -> dict:
    """Render (or fetch from the cache) new sounds sampled from the latent prior."""
    seconds = _number_field(request, "seconds", 1.5, 0.01, 2.0)
    count = _int_field(request, "count", 4, 1, MAX_COUNT)
    seed = _int_field(request, "seed", 0, 0, 2**32 - 1)
    temperature = _number_field(request, "temperature", 1.0, 0.0, 4.0)
    model = _model()
    prior_path = default_model_dir() / PRIOR_FILE
    try:  # the prior's content is part of the key: a refitted prior gives new sounds
        prior_sha256 = sha256_file(prior_path)
    except OSError as error:
        raise RequestError("model_error", f"latent prior {prior_path} unreadable: "
                           f"{error.strerror or error} (write it with `latentmorph fit-prior`)") from error
    key_options = {"cmd": "render_new", "seconds": seconds, "seed": seed, "temperature": temperature,
                   "prior": prior_sha256}
    return _render_cached(model, [], count, key_options,
                          lambda: sample_prior(model, seconds, count, seed, temperature, prior=prior_path))


def handle_render_variation(request: dict) -> dict:
    """Render (or fetch from the cache) variations of one source."""
    paths = _source_paths(request, 1, 1)
    amount = _number_field(request, "amount", 0.3, 0.0, 1.0)
    count = _int_field(request, "count", 4, 1, MAX_COUNT)
    seed = _int_field(request, "seed", 0, 0, 2**32 - 1)
    model = _model()
    hashes = _hash_sources(paths)
    audio, extra = _load_sources(paths, model.sample_rate)
    key_options = {"cmd": "render_variation", "amount": amount, "seed": seed}
    answer = _render_cached(model, hashes, count, key_options, lambda: variation(model, audio[0], amount, count, seed))
    return {**answer, "source_sha256": hashes, **extra}


def _optional_text(request: dict, field: str) -> str | None:
    value = request.get(field)
    if value is not None and (not isinstance(value, str) or not value):
        raise RequestError("bad_request", f"{field} must be a non-empty string or null")
    return value


def handle_similar(request: dict) -> dict:
    """The ``k`` library sounds nearest to a file (latentmorph.library.search.similar); see docs/protocol.md."""
    path = request.get("path")
    if not isinstance(path, str) or not path:
        raise RequestError("bad_request", "path must be a non-empty string")
    k = _int_field(request, "k", 10, 1, MAX_SIMILAR_K)
    category, db = _optional_text(request, "category"), _optional_text(request, "db")
    # Imported here: FAISS adds ~0.25 s to the start of a backend that may never search.
    from .library.search import similar

    model = _model()
    db_path = Path(db) if db is not None else default_db_path()
    try:
        hits = similar(db_path, Path(path), k=k, category=category)  # the similarity model, not the VAE
    except LibraryError as error:
        # similar() raises LibraryError for both sides; its cause tells a bad query from a bad library.
        query_failed = isinstance(error.__cause__, (AudioLoadError, SilentAudioError))
        raise RequestError("audio_load_error" if query_failed else "no_library", str(error)) from error
    answers = []
    for hit in hits:
        answer = hit.to_json()
        if hit.segment:
            segment = _segment_file(hit, db_path.parent / SEGMENTS_DIR, model.sample_rate)
            if segment is not None:
                answer["segment_path"] = str(segment)
        answers.append(answer)
    return {"hits": answers}


def _segment_file(hit: Hit, folder: Path, sample_rate: int) -> Path | None:
    """The span of a segment hit as its own WAV (float32, ``sample_rate``) in ``folder``, written once
    and kept: a slot that loads it must find it again when the project is reopened. The name
    carries the file's stem, the span and a hash of path, modification time and span, so an edited
    source gets a new file. ``None`` (logged) when the source cannot be read or written any more."""
    source = Path(hit.path)
    try:
        stamp = f"{source.resolve()}|{source.stat().st_mtime_ns}|{hit.start_s:.4f}|{hit.end_s:.4f}"
        digest = hashlib.sha256(stamp.encode()).hexdigest()[:12]
        target = folder / f"{source.stem}_{hit.start_s:.2f}-{hit.end_s:.2f}s_{digest}.wav"
        if not target.exists():
            audio, _ = load_audio(source, sample_rate, max_duration_s=hit.end_s + 1.0)
            span = audio[int(round(hit.start_s * sample_rate)):int(round(hit.end_s * sample_rate))]
            folder.mkdir(parents=True, exist_ok=True)
            # a temp file of its own (another host's backend may write the same segment) + rename
            fd, tmp = tempfile.mkstemp(dir=folder, suffix=".wav")
            os.close(fd)
            sf.write(tmp, span, sample_rate, subtype="FLOAT")
            os.replace(tmp, target)
        return target
    except (OSError, AudioLoadError, ValueError) as error:
        log.warning("cannot write the segment %s %.2f-%.2f s: %s", hit.path, hit.start_s, hit.end_s, error)
        return None


HANDLERS = {"hello": handle_hello, "render_grid": handle_render_grid, "similar": handle_similar,
            "render_blend": handle_render_blend, "render_new": handle_render_new,
            "render_variation": handle_render_variation, "ping": lambda request: {}}


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

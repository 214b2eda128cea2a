"""The backend's request handlers, one per command of docs/protocol.md (:data:`HANDLERS`).

A handler takes the request object and returns the answer's fields, or raises a
:class:`~latentmorph.errors.LatentMorphError` whose code the answer carries. Grids are rendered
into, or served from, the disk cache of :mod:`latentmorph.grid`.
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from . import settings
from .audio import AudioLoadError, AudioTruncatedWarning, check_audio_file, load_audio, sha256_file
from .generate import PRIOR_FILE, sample_prior, variation
from .grid import GridFileError, cache_dir, cache_key, prune_cache, read_grid_header, rendering_lock, write_grid
from .library import default_db_path
from .library.segments import segments_dir, write_segment
from .model import ModelError, MorphModel, default_model_dir, get_model
from .latents import ALIGN_MODES, DEFAULT_ALIGN, DEFAULT_INTERP, INTERP_MODES, check_weights
from .morph import DEFAULT_DETAIL, MAX_SOURCES, blend, render_grid
from .protocol import (
    MAX_COUNT,
    MAX_SEED,
    MAX_STEPS,
    PROTOCOL_VERSION,
    BadRequest,
    Request,
    choice_field,
    int_field,
    number_field,
    optional_text,
    required_text,
    source_paths,
    weight_rows,
)

#: Longest source accepted by the backend, in seconds (a sampler slot, not a song).
MAX_SOURCE_S = 10.0
#: Most points of one ``render_blend``: a 9 × 9 XY pad (NSynth Super's grid).
MAX_BLEND_POINTS = 81
#: Most hits one ``similar`` request may ask for (a list a person reads, not a bulk export).
MAX_SIMILAR_K = 100

Answer = dict[str, Any]
log = logging.getLogger(__name__)

_DEFAULT_MORPH_OPTIONS = {"align": DEFAULT_ALIGN, "interp": DEFAULT_INTERP, "detail": DEFAULT_DETAIL}


def _model() -> MorphModel:
    """The model of ``$LATENTMORPH_MODEL_DIR`` or the shipped one, loaded once per process."""
    return get_model(settings.model_dir())


def _hash_source(path: Path) -> str:
    """SHA-256 of a source file, checked first to be a regular file within the loader's size limit
    (a FIFO or device would stall the one backend); failures raise :class:`AudioLoadError`."""
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


def _morph_options(request: Request) -> dict[str, Any]:
    """``align``, ``interp`` and ``detail`` of a request (absent or null: the defaults)."""
    detail = request.get("detail")
    return {
        "align": choice_field(request, "align", DEFAULT_ALIGN, ALIGN_MODES),
        "interp": choice_field(request, "interp", DEFAULT_INTERP, INTERP_MODES),
        "detail": DEFAULT_DETAIL if detail is None else number_field(request, "detail", DEFAULT_DETAIL, 0.0, 1.0),
    }


def render_cached(
    model: MorphModel, key_sources: list[str], rows: int, options: dict[str, Any], render: Callable[[], np.ndarray]
) -> Answer:
    """Fields of a grid answer: the grid ``render()`` returns (float32 ``[rows, samples]``) is
    written into the cache under a key of the model, ``key_sources``, ``rows`` and ``options``
    (then the cache is pruned to ``$LATENTMORPH_CACHE_MAX_BYTES``), or served from it when already
    there; backends asking for one grid at once render it once (:func:`~latentmorph.grid.rendering_lock`).
    Raises what ``render`` raises."""
    path = cache_dir() / f"{cache_key(model.model_id, key_sources, rows, options)}.lmgrid"
    with rendering_lock(path):  # another backend rendering this grid now: wait, then take its file
        cached = _cached_num_samples(path, rows, model.sample_rate)
        if cached is None:
            grid = render()
            write_grid(path, grid, model.sample_rate)
        num_samples = grid.shape[1] if cached is None else cached
    if cached is None:
        for evicted in prune_cache(path, settings.cache_max_bytes()):
            log.info("evicted %s from the grid cache", evicted.name)
    return {
        "grid_path": str(path),
        "steps": rows,
        "num_samples": int(num_samples),
        "sample_rate": model.sample_rate,
        "model_id": model.model_id,
    }


def load_sources(paths: list[Path], sample_rate: int) -> tuple[list[np.ndarray], Answer]:
    """The sources decoded as mono float32 ``[samples]`` at ``sample_rate`` Hz, and the answer's
    extra fields: ``warning`` when a source was cut at :data:`MAX_SOURCE_S` (the plugin shows it in
    its status). Loaded on every request, cache hits too, so that the answer says so each time.
    Raises :class:`AudioLoadError`."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", AudioTruncatedWarning)
        audio = [load_audio(p, sample_rate, MAX_SOURCE_S)[0] for p in paths]
    cut = [str(w.message) for w in caught if issubclass(w.category, AudioTruncatedWarning)]
    return audio, {"warning": "; ".join(cut)} if cut else {}


def handle_hello(request: Request) -> Answer:
    """The protocol version, the model's id and sample rate, and the backend's process id."""
    model = _model()
    return {"protocol": PROTOCOL_VERSION, "model_id": model.model_id, "sample_rate": model.sample_rate,
            "pid": os.getpid()}  # fmt: skip


def handle_render_grid(request: Request) -> Answer:
    """Render (or fetch from the disk cache) the grid of two sources; see docs/protocol.md."""
    paths = source_paths(request, 2, 2)
    steps = int_field(request, "steps", 9, 2, MAX_STEPS)
    options = _morph_options(request)
    model = _model()
    hashes = [_hash_source(p) for p in paths]
    audio, extra = load_sources(paths, model.sample_rate)
    # only options that differ from the defaults enter the key: default grids keep their old keys
    key_options = {k: v for k, v in options.items() if v != _DEFAULT_MORPH_OPTIONS[k]}
    answer = render_cached(
        model, hashes, steps, key_options, lambda: render_grid(model, audio[0], audio[1], steps, **options)
    )
    return {**answer, "source_sha256": hashes, **extra}


def handle_render_blend(request: Request) -> Answer:
    """Render (or fetch from the cache) N-way morphs of 2–4 sources at barycentric weights."""
    paths = source_paths(request, 2, MAX_SOURCES)
    weights = weight_rows(request, MAX_BLEND_POINTS)
    try:
        normalised = check_weights(np.asarray(weights, dtype=np.float64), len(paths))
    except ValueError as error:
        raise BadRequest(str(error)) from error
    options = _morph_options(request)
    model = _model()
    hashes = [_hash_source(p) for p in paths]
    audio, extra = load_sources(paths, model.sample_rate)
    key_options = {"cmd": "render_blend", "weights": json.dumps(weights), **options}
    answer = render_cached(model, hashes, len(weights), key_options, lambda: blend(model, audio, normalised, **options))
    return {**answer, "source_sha256": hashes, **extra}


def handle_render_new(request: Request) -> Answer:
    """Render (or fetch from the cache) new sounds sampled from the latent prior."""
    seconds = number_field(request, "seconds", 1.5, 0.01, 2.0)
    count = int_field(request, "count", 4, 1, MAX_COUNT)
    seed = int_field(request, "seed", 0, 0, MAX_SEED)
    temperature = number_field(request, "temperature", 1.0, 0.0, 4.0)
    model = _model()
    prior_path = default_model_dir() / PRIOR_FILE
    try:  # the prior's content is part of the key: a refitted prior gives new sounds
        prior_sha256 = sha256_file(prior_path)
    except OSError as error:
        raise ModelError(
            f"latent prior {prior_path} unreadable: {error.strerror or error} (write it with `latentmorph fit-prior`)"
        ) from error
    key_options = {"cmd": "render_new", "seconds": seconds, "seed": seed, "temperature": temperature,
                   "prior": prior_sha256}  # fmt: skip
    return render_cached(
        model, [], count, key_options, lambda: sample_prior(model, seconds, count, seed, temperature, prior=prior_path)
    )


def handle_render_variation(request: Request) -> Answer:
    """Render (or fetch from the cache) variations of one source."""
    paths = source_paths(request, 1, 1)
    amount = number_field(request, "amount", 0.3, 0.0, 1.0)
    count = int_field(request, "count", 4, 1, MAX_COUNT)
    seed = int_field(request, "seed", 0, 0, MAX_SEED)
    model = _model()
    hashes = [_hash_source(p) for p in paths]
    audio, extra = load_sources(paths, model.sample_rate)
    key_options = {"cmd": "render_variation", "amount": amount, "seed": seed}
    answer = render_cached(model, hashes, count, key_options, lambda: variation(model, audio[0], amount, count, seed))
    return {**answer, "source_sha256": hashes, **extra}


def handle_similar(request: Request) -> Answer:
    """The ``k`` library sounds nearest to a file (latentmorph.library.search.similar); see
    docs/protocol.md. A segment hit also names its span written as a file of its own."""
    path = Path(required_text(request, "path"))
    k = int_field(request, "k", 10, 1, MAX_SIMILAR_K)
    category, db = optional_text(request, "category"), optional_text(request, "db")
    # Imported here: FAISS adds ~0.25 s to the start of a backend that may never search.
    from .library.search import similar

    model = _model()
    db_path = Path(db) if db is not None else default_db_path()
    hits = similar(db_path, path, k=k, category=category)  # the similarity model, not the VAE
    answers = []
    for hit in hits:
        answer = hit.to_json()
        if hit.segment:
            segment = write_segment(Path(hit.path), hit.start_s, hit.end_s, segments_dir(db_path), model.sample_rate)
            if segment is not None:
                answer["segment_path"] = str(segment)
        answers.append(answer)
    return {"hits": answers}


def handle_root_note(request: Request) -> Answer:
    """The root note of one file (latentmorph.pitch.detect_root_note, pyin over its first seconds at
    the model's sample rate); see docs/protocol.md. ``f0_hz`` is ``null`` when no frame had a pitch."""
    from .pitch import detect_root_note  # librosa's pyin: imported by the one command that uses it

    path = Path(required_text(request, "path"))
    check_audio_file(path)
    model = _model()
    audio, _ = load_sources([path], model.sample_rate)
    try:
        root = detect_root_note(audio[0], model.sample_rate)
    except ValueError as error:  # silent or non-finite
        raise AudioLoadError(path, str(error)) from error
    return root.to_json()


def handle_ping(request: Request) -> Answer:
    """Nothing: the answer says the backend is alive."""
    return {}


#: The commands; ``shutdown`` is the server's (it answers, then exits).
HANDLERS: dict[str, Callable[[Request], Answer]] = {
    "hello": handle_hello,
    "render_grid": handle_render_grid,
    "render_blend": handle_render_blend,
    "render_new": handle_render_new,
    "render_variation": handle_render_variation,
    "similar": handle_similar,
    "root_note": handle_root_note,
    "ping": handle_ping,
}

"""Every environment variable LatentMorph reads, in one place.

Python code reads the environment only through the functions here (a test checks that no other
module of ``pybackend/``, ``export/`` or ``tests/`` calls ``os.environ.get`` or ``os.getenv``).
:data:`VARIABLES` also names the variables the plugin (C++) reads, so that this module and the
README's table, which a test compares with it, list them all. Values are read at each call, never
cached: a test or a host may change them while the process runs.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import platformdirs


@dataclasses.dataclass(frozen=True)
class Variable:
    """One environment variable: its ``name``, the component that reads it and what it does."""

    name: str
    read_by: str
    effect: str


PYTHON = Variable("LATENTMORPH_PYTHON", "plugin", "interpreter the plugin starts the backend with")
BACKEND_TIMEOUT_S = Variable(
    "LATENTMORPH_BACKEND_TIMEOUT_S",
    "plugin",
    "seconds the plugin waits for one backend answer before restarting it (default 60)",
)
FACTORY_DIR = Variable(
    "LATENTMORPH_FACTORY_DIR", "plugin", "where `factory:` sample paths of presets resolve (default: `presets/`)"
)
MODEL_DIR = Variable(
    "LATENTMORPH_MODEL_DIR", "Python", "folder with `encoder.onnx` + `decoder.onnx` instead of the shipped model"
)
LIBRARY_DB = Variable("LATENTMORPH_LIBRARY_DB", "Python", "the sample-library database (default: the user data dir)")
LIBRARY_SOCKET = Variable(
    "LATENTMORPH_LIBRARY_SOCKET",
    "Python",
    "Unix socket of `latentmorph library-server` (default: the user runtime dir)",
)
CACHE_DIR = Variable("LATENTMORPH_CACHE_DIR", "Python", "where rendered grids are cached (default: the user cache dir)")
CACHE_MAX_BYTES = Variable(
    "LATENTMORPH_CACHE_MAX_BYTES",
    "Python",
    "size cap of that cache in bytes (default 2000000000); the least recently used "
    "grids are removed after each write, never one used in the last 60 s",
)
GOLDEN = Variable(
    "LATENTMORPH_GOLDEN", "tests", "`1`: the golden-render tests rewrite their stored goldens instead of comparing"
)
SOAK_S = Variable(
    "LATENTMORPH_SOAK_S", "tests", "seconds of the soak in `make bench` (`tests/bench_render.py`; default 600)"
)

#: All of them, in the order of the README's table.
VARIABLES = (
    PYTHON,
    BACKEND_TIMEOUT_S,
    FACTORY_DIR,
    MODEL_DIR,
    LIBRARY_DB,
    LIBRARY_SOCKET,
    CACHE_DIR,
    CACHE_MAX_BYTES,
    GOLDEN,
    SOAK_S,
)

#: Size cap of the grid cache folder, bytes, unless ``$LATENTMORPH_CACHE_MAX_BYTES`` says otherwise.
DEFAULT_CACHE_MAX_BYTES = 2_000_000_000


def _text(variable: Variable) -> str:
    """The variable's value stripped of surrounding blanks; ``""`` when unset."""
    return os.environ.get(variable.name, "").strip()


def model_dir() -> Path | None:
    """``$LATENTMORPH_MODEL_DIR`` as a path, or ``None`` when unset or empty (the shipped model)."""
    text = _text(MODEL_DIR)
    return Path(text) if text else None


def library_db() -> Path:
    """``$LATENTMORPH_LIBRARY_DB`` when set, else ``<user data dir>/LatentMorph/library.sqlite``
    (``platformdirs.user_data_dir``: ``~/.local/share/LatentMorph`` on Linux)."""
    text = _text(LIBRARY_DB)
    return Path(text) if text else Path(platformdirs.user_data_dir("LatentMorph")) / "library.sqlite"


def library_socket() -> Path:
    """``$LATENTMORPH_LIBRARY_SOCKET`` when set, else ``<user runtime dir>/LatentMorph/library.sock``
    (``platformdirs.user_runtime_dir``: ``$XDG_RUNTIME_DIR/LatentMorph`` on Linux)."""
    text = _text(LIBRARY_SOCKET)
    return Path(text) if text else Path(platformdirs.user_runtime_dir("LatentMorph")) / "library.sock"


def cache_root() -> Path:
    """``$LATENTMORPH_CACHE_DIR`` when set, else the user cache dir ``latentmorph`` (not created)."""
    return Path(_text(CACHE_DIR) or platformdirs.user_cache_dir("latentmorph"))


def cache_max_bytes() -> int:
    """The grid cache's size cap in bytes: ``$LATENTMORPH_CACHE_MAX_BYTES`` when set (a whole number
    ≥ 0), else :data:`DEFAULT_CACHE_MAX_BYTES`.

    Raises:
        ValueError: the variable holds anything but a whole number.
    """
    text = _text(CACHE_MAX_BYTES)
    if not text:
        return DEFAULT_CACHE_MAX_BYTES
    if not text.isdigit():
        raise ValueError(f"{CACHE_MAX_BYTES.name} must be a whole number of bytes, got {text!r}")
    return int(text)


def regenerate_goldens() -> bool:
    """True when ``$LATENTMORPH_GOLDEN`` is ``1``: golden tests write their reference files."""
    return _text(GOLDEN) == "1"


#: Length of ``make bench``'s soak, seconds, unless ``$LATENTMORPH_SOAK_S`` says otherwise.
DEFAULT_SOAK_S = 600.0


def soak_s() -> float:
    """Seconds of the soak in ``tests/bench_render.py``: ``$LATENTMORPH_SOAK_S`` when set, else
    :data:`DEFAULT_SOAK_S`.

    Raises:
        ValueError: the variable holds anything but a positive number.
    """
    text = _text(SOAK_S)
    if not text:
        return DEFAULT_SOAK_S
    try:
        seconds = float(text)
    except ValueError:
        seconds = 0.0
    if not seconds > 0:
        raise ValueError(f"{SOAK_S.name} must be a positive number of seconds, got {text!r}")
    return seconds

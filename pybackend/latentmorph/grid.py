"""The ``.lmgrid`` file (docs/protocol.md) and the on-disk grid cache.

A grid is float32 ``[steps, num_samples]`` of mono PCM at ``sample_rate`` Hz. Files are cached
under ``$LATENTMORPH_CACHE_DIR`` (default: the user cache dir ``latentmorph/grids``) keyed by
model id, the sources' SHA-256 and the step count, so a re-created plugin instance, a restarted
backend or a reopened project gets its sound back from disk. The folder is kept under
``$LATENTMORPH_CACHE_MAX_BYTES`` (default 2 GB) by evicting the least recently used grids.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import struct
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from . import settings
from .errors import LatentMorphError

MAGIC = b"LMGRID1\x00"
_HEADER = struct.Struct("<8sIIII")  # magic, steps, num_samples, sample_rate, reserved
#: Bumped when the rendering changes in a way that must invalidate cached grids.
RENDER_VERSION = 4  # 2: morph points matched to the interpolated RMS level of the sources; 3: the ends are
#: the sources, residual detail, rows start at the interpolated onset; 4: attack shaping
#: Cached files used more recently than this are never evicted, seconds: the plugin reads a grid file
#: right after the answer that names it (plugin/state/SlotLoader.cpp), and another backend may have just written one.
CACHE_MIN_AGE_S = 60.0


class GridFileError(LatentMorphError):
    """A grid file is truncated, has a wrong magic or inconsistent sizes."""


def cache_dir() -> Path:
    """Folder of cached grid files, ``grids/`` in :func:`latentmorph.settings.cache_root` (created
    on demand)."""
    path = settings.cache_root() / "grids"
    path.mkdir(parents=True, exist_ok=True)
    return path


def prune_cache(keep: Path, max_bytes: int, min_age_s: float = CACHE_MIN_AGE_S) -> list[Path]:
    """Evict the least recently used files (by access time; a cache hit sets it) from the folder of
    ``keep`` until its grids and left-over temp files take at most ``max_bytes``. Never removes
    ``keep`` (the grid just written or served) nor a file used less than ``min_age_s`` seconds ago
    (an instance may be about to read it), so the folder may stay over the cap for a while. Files
    that another backend removes meanwhile are skipped. Returns the removed paths."""
    entries = []
    for path in (*keep.parent.glob("*.lmgrid"), *keep.parent.glob("*.tmp")):
        try:
            info = path.stat()
        except FileNotFoundError:
            continue
        entries.append((info.st_atime, info.st_size, path))
    total = sum(size for _, size, _ in entries)
    newest_evictable = time.time() - min_age_s
    removed = []
    for atime, size, path in sorted(entries):
        if total <= max_bytes:
            break
        if path == keep or atime > newest_evictable:
            continue
        path.unlink(missing_ok=True)
        total -= size
        removed.append(path)
    return removed


@contextlib.contextmanager
def rendering_lock(path: Path) -> Iterator[None]:
    """Hold, for the ``with`` block, the lock under which a backend looks up and renders the grid
    file ``path`` of the cache: a second backend asking for the same grid meanwhile (another plugin
    instance, another ``render --workers`` worker) waits and then finds the file, instead of
    rendering it again. An advisory ``flock`` on one of 256 lock files in ``locks/`` beside the
    grids, chosen by the key's first two hex digits (a fixed set: no lock file per grid is left
    behind); the kernel releases it when a backend dies. Raises ``OSError`` when the folder is not
    writable."""
    folder = path.parent / "locks"
    folder.mkdir(exist_ok=True)
    with open(folder / f"{path.name[:2]}.lock", "ab") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield  # closing the file releases the lock


def cache_key(model_id: str, source_sha256: list[str], steps: int, options: dict | None = None) -> str:
    """Hex key of a grid: SHA-256 over render version, model id, sources, steps and the render
    options as sorted ``name=value`` items (32 hex digits). A default two-source morph passes no
    options, so its key is the same as before options existed; every non-default option (morph
    alignment, interpolation, the kind of render and its parameters) must be passed."""
    text = "|".join(
        [
            str(RENDER_VERSION),
            model_id,
            *source_sha256,
            str(steps),
            *(f"{name}={(options or {})[name]}" for name in sorted(options or {})),
        ]
    )
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def write_grid(path: Path, grid: np.ndarray, sample_rate: int) -> None:
    """Write ``grid [steps, num_samples]`` float32 atomically (temp file + rename)."""
    grid = np.ascontiguousarray(grid, dtype="<f4")
    if grid.ndim != 2:
        raise ValueError(f"grid must be [steps, num_samples], got {grid.shape}")
    header = _HEADER.pack(MAGIC, grid.shape[0], grid.shape[1], int(sample_rate), 0)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "wb") as f:
        f.write(header)
        f.write(grid.tobytes())
    os.replace(tmp, path)


def read_grid_header(path: Path) -> tuple[int, int, int]:
    """Validate a grid file without reading its PCM: ``(steps, num_samples, sample_rate)``.
    Raises :class:`GridFileError` on a bad magic or a size that does not match the header."""
    path = Path(path)
    with open(path, "rb") as f:
        header = f.read(_HEADER.size)
    if len(header) < _HEADER.size:
        raise GridFileError(f"{path}: truncated header")
    magic, steps, num_samples, sample_rate, _ = _HEADER.unpack(header)
    if magic != MAGIC:
        raise GridFileError(f"{path}: not a grid file (magic {magic!r})")
    size = path.stat().st_size
    if size != _HEADER.size + 4 * steps * num_samples:
        raise GridFileError(f"{path}: size {size} does not match {steps}×{num_samples} samples")
    return steps, num_samples, sample_rate


def read_grid(path: Path) -> tuple[np.ndarray, int]:
    """Read a grid file: ``(grid float32 [steps, num_samples], sample_rate)``.
    Raises :class:`GridFileError` as :func:`read_grid_header`."""
    steps, num_samples, sample_rate = read_grid_header(path)
    data = Path(path).read_bytes()
    grid = np.frombuffer(data, dtype="<f4", offset=_HEADER.size).reshape(steps, num_samples)
    return grid.astype(np.float32), sample_rate

"""What a batch writes: audio files (atomically), ``manifest.json``, ``contact_sheet.png``, SFZ.

``manifest.json``: ``{"version", "plugin": {path, version, sha256}, "model_id", "settings",
"summary", "items": [entry, …], "failed": [{path, reason, …}, …]}``; an entry is ``path`` (relative
to the output folder), ``note``, ``morph``, ``velocity``, ``phrase``, ``a``/``b`` (``path``,
``sha256``), ``model_id`` (what the plugin reported), ``plugin_version``, ``post`` (the chain),
``lufs`` (``null`` when not measurable), ``peak_dbfs``, ``duration_s``, ``sha256``/``bytes`` of the
file and ``key`` (the hash a re-run compares to skip it).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from ..audio import sha256_file
from .job import Job

MANIFEST_NAME = "manifest.json"
CONTACT_SHEET_NAME = "contact_sheet.png"
#: Suffix of files being written; a leftover one (a killed run) is removed by the next run.
TEMP_SUFFIX = ".latentmorph-tmp"
#: Largest contact sheet, cells per side (evenly spaced rows / columns are kept beyond it).
MAX_SHEET_ROWS, MAX_SHEET_COLUMNS = 24, 16
#: libsndfile command switching a float file's PEAK chunk on or off (sndfile.h).
SFC_SET_ADD_PEAK_CHUNK = 0x1050
#: MIDI controller of the morph position in the SFZ (modulation wheel).
SFZ_MORPH_CC = 1


def write_audio(path: Path, audio: np.ndarray, sample_rate: int, job: Job) -> tuple[str, int]:
    """Write ``audio [channels, samples]`` to ``path`` in the job's format and bit depth, through a
    temporary file renamed into place (``os.replace``), so that ``path`` is never a partial file.
    Returns the file's SHA-256 and size in bytes. Raises ``OSError`` / ``soundfile`` errors.

    The file is encoded in memory and written with one call: libsndfile writing a file itself makes
    hundreds of small writes and an ``fsync`` on close (~4 ms of a 1-s item's ~20 ms)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    encoded = io.BytesIO()
    with sf.SoundFile(encoded, "w", sample_rate, audio.shape[0], job.subtype, format=job.file_format.upper()) as file:
        # libsndfile's PEAK chunk of a float file holds the time of writing: equal renders would
        # differ in their bytes (and in their SHA-256), so it is left out
        sf._snd.sf_command(file._file, SFC_SET_ADD_PEAK_CHUNK, sf._ffi.NULL, 0)
        file.write(audio.T)
    data = encoded.getbuffer()
    temp = path.with_name(f".{path.name}.{os.getpid()}{TEMP_SUFFIX}")
    try:
        temp.write_bytes(data)
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)
    return hashlib.sha256(data).hexdigest(), len(data)


def remove_temp_files(out_dir: Path) -> None:
    """Remove the temporary files a killed run left in ``out_dir``."""
    for temp in out_dir.rglob(f"*{TEMP_SUFFIX}"):
        temp.unlink(missing_ok=True)


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write ``data`` as indented JSON through a temporary file renamed into place."""
    temp = path.with_name(f".{path.name}.{os.getpid()}{TEMP_SUFFIX}")
    temp.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    os.replace(temp, path)


def read_manifest_items(out_dir: Path) -> dict[str, dict[str, Any]]:
    """The entries of an earlier ``manifest.json`` by path (empty when there is none or it is
    unreadable: then everything is rendered again)."""
    try:
        data = json.loads((out_dir / MANIFEST_NAME).read_text(encoding="utf-8"))
        return {entry["path"]: entry for entry in data["items"]}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def is_finished(out_dir: Path, entry: dict[str, Any] | None, key: str) -> bool:
    """True when ``entry`` was rendered with ``key`` and its file is still the file written then
    (same size and SHA-256): a deleted, torn or edited file is rendered again."""
    if entry is None or entry.get("key") != key:
        return False
    path = out_dir / entry["path"]
    try:
        return path.stat().st_size == entry.get("bytes") and sha256_file(path) == entry.get("sha256")
    except OSError:
        return False


def save_contact_sheet(entries: list[dict[str, Any]], out_dir: Path, sample_rate: int, title: str) -> Path | None:
    """``contact_sheet.png``: spectrograms of the rendered files, one row per (pair, velocity,
    morph), one column per note (phrases: one column), at most ``MAX_SHEET_ROWS`` ×
    ``MAX_SHEET_COLUMNS`` (evenly spaced ones kept). ``None`` when nothing was rendered."""
    from ..plots import save_spectrogram_grid

    if not entries:
        return None
    row_keys = list(dict.fromkeys((e["a"]["path"], e["b"]["path"], e["velocity"], e["morph"]) for e in entries))
    col_keys = sorted({e["note"] if e["note"] is not None else -1 for e in entries})
    rows, cols = _evenly(row_keys, MAX_SHEET_ROWS), _evenly(col_keys, MAX_SHEET_COLUMNS)
    cells: dict[tuple[int, int], np.ndarray] = {}
    for e in entries:
        row_key = (e["a"]["path"], e["b"]["path"], e["velocity"], e["morph"])
        col_key = e["note"] if e["note"] is not None else -1
        if row_key in rows and col_key in cols:
            audio, _ = sf.read(out_dir / e["path"], dtype="float32", always_2d=True)
            cells[rows.index(row_key), cols.index(col_key)] = audio.mean(axis=1)
    multi_pair = len({(r[0], r[1]) for r in rows}) > 1
    multi_velocity = len({r[2] for r in rows}) > 1
    row_labels = [
        (f"{Path(a).stem}→{Path(b).stem}\n" if multi_pair else "")
        + f"morph {m:.2f}"
        + (f" v{v}" if multi_velocity else "")
        for a, b, v, m in rows
    ]
    col_labels = [f"note {c}" if c >= 0 else "phrase" for c in cols]
    return save_spectrogram_grid(cells, row_labels, col_labels, sample_rate, out_dir / CONTACT_SHEET_NAME, title)


def _evenly(keys: list, limit: int) -> list:
    if len(keys) <= limit:
        return keys
    return [keys[i] for i in np.linspace(0, len(keys) - 1, limit).round().astype(int)]


def _split(values: list[int | float], scale: float) -> list[tuple[int, int]]:
    """``[lo, hi]`` ranges on 0…127 around sorted ``values`` (× ``scale``), split at midpoints."""
    points = [v * scale for v in values]
    edges = [0] + [int(np.floor((p + q) / 2)) + 1 for p, q in zip(points, points[1:])] + [128]
    return [(edges[i], edges[i + 1] - 1) for i in range(len(values))]


def write_sfz(entries: list[dict[str, Any]], out_dir: Path) -> list[Path]:
    """One SFZ instrument per source pair (``<a>_<b>.sfz`` in ``out_dir``) mapping the rendered
    notes across the keyboard (``lokey``/``hikey`` split at midpoints between rendered notes,
    ``pitch_keycenter`` = the note), morph positions to CC 1 ranges (``locc1``/``hicc1``, morph × 127)
    and velocities to velocity layers (``lovel``/``hivel``). Phrases are left out. Returns the paths."""
    by_pair: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for e in entries:
        if e["note"] is not None:
            by_pair.setdefault((e["a"]["path"], e["b"]["path"]), []).append(e)
    written = []
    for (a, b), group in by_pair.items():
        notes = sorted({e["note"] for e in group})
        morphs = sorted({e["morph"] for e in group})
        velocities = sorted({e["velocity"] for e in group})
        keys = dict(zip(notes, _split(notes, 1.0)))
        ccs = dict(zip(morphs, _split(morphs, 127.0)))
        vels = dict(zip(velocities, _split(velocities, 1.0)))
        lines = [
            f"// LatentMorph render: {Path(a).name} -> {Path(b).name}; morph on CC {SFZ_MORPH_CC}",
            "<global>",
            "loop_mode=one_shot",
        ]
        for e in sorted(group, key=lambda e: (e["morph"], e["velocity"], e["note"])):
            (lokey, hikey), (locc, hicc), (lovel, hivel) = keys[e["note"]], ccs[e["morph"]], vels[e["velocity"]]
            lines += [
                "<region>",
                f"sample={e['path']}",
                f"lokey={lokey} hikey={hikey} pitch_keycenter={e['note']}",
                f"locc{SFZ_MORPH_CC}={locc} hicc{SFZ_MORPH_CC}={hicc} lovel={max(lovel, 1)} hivel={hivel}",
            ]
        path = out_dir / f"{Path(a).stem}_{Path(b).stem}.sfz"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        written.append(path)
    return written

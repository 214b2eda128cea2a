"""Segment hits as files of their own: the span of a longer file that a search found, written once
as a WAV into ``segments/`` beside the library database, so that the plugin loads the sound found,
not the whole loop (docs/protocol.md, ``similar``)."""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from pathlib import Path

import soundfile as sf

from ..audio import AudioLoadError, load_audio

#: Folder beside the library database where segment hits are written as WAV files.
SEGMENTS_DIR = "segments"

log = logging.getLogger(__name__)


def segments_dir(db_path: Path) -> Path:
    """The folder of segment files of the library database ``db_path`` (not created)."""
    return db_path.parent / SEGMENTS_DIR


def write_segment(source: Path, start_s: float, end_s: float, folder: Path, sample_rate: int) -> Path | None:
    """The span ``start_s`` … ``end_s`` (seconds) of ``source`` as its own mono float32 WAV at
    ``sample_rate`` Hz in ``folder``, written once and kept: a slot that loads it must find it again
    when the project is reopened. The name carries the file's stem, the span and a hash of path,
    modification time and span, so an edited source gets a new file; written to a temp file of its
    own and renamed (another host's backend may write the same segment).

    Returns:
        The file's path, or ``None`` (logged as a warning) when the source cannot be read or the
        file not written.
    """
    try:
        stamp = f"{source.resolve()}|{source.stat().st_mtime_ns}|{start_s:.4f}|{end_s:.4f}"
        digest = hashlib.sha256(stamp.encode()).hexdigest()[:12]
        target = folder / f"{source.stem}_{start_s:.2f}-{end_s:.2f}s_{digest}.wav"
        if not target.exists():
            audio, _ = load_audio(source, sample_rate, max_duration_s=end_s + 1.0)
            span = audio[int(round(start_s * sample_rate)) : int(round(end_s * sample_rate))]
            folder.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=folder, suffix=".wav")
            os.close(fd)
            sf.write(tmp, span, sample_rate, subtype="FLOAT")
            os.replace(tmp, target)
        return target
    except (OSError, AudioLoadError, ValueError) as error:
        log.warning("cannot write the segment %s %.2f-%.2f s: %s", source, start_s, end_s, error)
        return None

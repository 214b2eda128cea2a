"""Audio file decoding for the runtime and the data pipeline.

soundfile (libsndfile) is tried first; pedalboard's AudioFile is the fallback because it reads
Vorbis-in-WAV (format tag 0x674F), which libsndfile refuses (see shared/DATA.md). Every failure is
raised as :class:`AudioLoadError` naming the path and the reason.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

#: Extensions the loader reads, lower case; matching is case-insensitive (``.WAV``, ``.Aif``).
AUDIO_EXTENSIONS = frozenset({".wav", ".wave", ".aif", ".aiff", ".aifc", ".flac", ".ogg", ".oga", ".mp3"})

#: Longest input accepted, in seconds. Guards against streamed WAVs whose header claims 2^31 frames.
DEFAULT_MAX_DURATION_S = 30.0


class AudioLoadError(Exception):
    """A file could not be decoded. ``path`` and ``reason`` are kept as attributes."""

    def __init__(self, path: str | Path, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"cannot load audio '{self.path}': {reason}")


def is_audio_path(path: str | Path) -> bool:
    """True when the file name has an audio extension (case-insensitive)."""
    return Path(path).suffix.lower() in AUDIO_EXTENSIONS


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes (the content key of caches and plugin state)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _read_soundfile(path: Path, max_duration_s: float) -> tuple[np.ndarray, int]:
    with sf.SoundFile(str(path)) as f:
        sample_rate = f.samplerate
        max_frames = int(max_duration_s * sample_rate)
        data = f.read(frames=min(f.frames, max_frames) if f.frames > 0 else max_frames,
                      dtype="float32", always_2d=True)
    return data, sample_rate


def _read_pedalboard(path: Path, max_duration_s: float) -> tuple[np.ndarray, int]:
    from pedalboard.io import AudioFile  # imported lazily: only the fallback needs it

    with AudioFile(str(path)) as f:
        sample_rate = int(f.samplerate)
        # Streamed WAVs report 2^31 frames: never trust the header for the allocation size.
        frames = min(int(f.frames), int(max_duration_s * sample_rate))
        data = f.read(frames)  # (channels, frames)
    return np.ascontiguousarray(data.T, dtype=np.float32), sample_rate


def load_audio(
    path: str | Path,
    sample_rate: int | None = None,
    max_duration_s: float = DEFAULT_MAX_DURATION_S,
) -> tuple[np.ndarray, int]:
    """Decode an audio file to mono float32, optionally resampled.

    Args:
        path: file to read; any extension in :data:`AUDIO_EXTENSIONS`, any case.
        sample_rate: target rate in Hz (soxr "HQ" resampling); ``None`` keeps the file's rate.
        max_duration_s: frames beyond this duration are not read.

    Returns:
        ``(audio, sample_rate)``: ``audio`` has shape ``[num_samples]``, dtype float32, the channel
        mean of the file (a downmix); ``sample_rate`` in Hz.

    Raises:
        AudioLoadError: missing file, directory, empty file, undecodable content, zero frames or
            non-finite samples. The message names the path and the reason.
    """
    path = Path(path)
    if not path.exists():
        raise AudioLoadError(path, "file not found")
    if not path.is_file():
        raise AudioLoadError(path, "not a regular file")
    if path.stat().st_size == 0:
        raise AudioLoadError(path, "file is empty (0 bytes)")
    try:
        data, file_rate = _read_soundfile(path, max_duration_s)
    except Exception as sf_error:  # libsndfile refuses: try the fallback, keep both reasons
        try:
            data, file_rate = _read_pedalboard(path, max_duration_s)
        except Exception as pb_error:
            raise AudioLoadError(
                path, f"not a readable audio file (soundfile: {sf_error}; pedalboard: {pb_error})"
            ) from pb_error
    if data.shape[0] == 0:
        raise AudioLoadError(path, "audio has 0 frames")
    audio = data.mean(axis=1, dtype=np.float32)
    if not np.all(np.isfinite(audio)):
        raise AudioLoadError(path, "audio contains NaN or infinite samples")
    if sample_rate is not None and sample_rate != file_rate:
        audio = soxr.resample(audio, file_rate, sample_rate, quality="HQ").astype(np.float32)
        file_rate = sample_rate
    return np.ascontiguousarray(audio), int(file_rate)

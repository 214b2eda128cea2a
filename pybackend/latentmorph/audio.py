"""Audio file decoding for the runtime and the data pipeline.

soundfile (libsndfile) is tried first; pedalboard's AudioFile is the fallback because it reads
Vorbis-in-WAV (format tag 0x674F), which libsndfile refuses. Every failure is
raised as :class:`AudioLoadError` naming the path and the reason; a file cut at the duration limit
is read with an :class:`AudioTruncatedWarning`.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from .errors import LatentMorphError
from .shared_constants import AUDIO_EXTENSIONS  # the extensions the loader reads, lower case (shared with the plugin)

#: Longest input accepted, in seconds. Guards against streamed WAVs whose header claims 2^31 frames.
DEFAULT_MAX_DURATION_S = 30.0

#: Largest file read or hashed, bytes (a 30 s, 8-channel, 768 kHz, 64-bit WAV is 1.5 GB).
MAX_FILE_BYTES = 2 << 30

#: Sample rates accepted, Hz: below the telephone band or above 768 kHz a header is wrong, not audio.
MIN_SAMPLE_RATE_HZ, MAX_SAMPLE_RATE_HZ = 8_000, 768_000

#: A multichannel file whose mono mix is this far below its channels' RMS level (dB) is refused: its
#: channels cancel out (one is phase-inverted) and the mix is what is left, mostly noise.
MIN_MIX_TO_CHANNELS_DB = -40.0

#: Held while file descriptor 2 is redirected (:func:`_quiet_decoder_output`).
_STDERR_LOCK = threading.Lock()


class AudioTruncatedWarning(UserWarning):
    """A file is longer than the duration limit: only its beginning is used."""


class AudioLoadError(LatentMorphError):
    """A file could not be decoded. ``path`` and ``reason`` are kept as attributes."""

    code = "audio_load_error"

    def __init__(self, path: str | Path, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"cannot load audio '{self.path}': {reason}")


def is_audio_path(path: str | Path) -> bool:
    """True when the file name has an audio extension (case-insensitive)."""
    return Path(path).suffix.lower() in AUDIO_EXTENSIONS


def check_audio_file(path: str | Path) -> int:
    """Check, by its metadata only, that ``path`` names a non-empty regular file of at most
    :data:`MAX_FILE_BYTES`: a FIFO, device or socket is never opened (reading one may block
    forever). Returns the size in bytes.

    Raises:
        AudioLoadError: missing, unreadable metadata, not a regular file (saying what it is), empty
            or too large.
    """
    try:
        info = os.stat(path)
    except FileNotFoundError as error:
        raise AudioLoadError(path, "file not found") from error
    except OSError as error:
        raise AudioLoadError(path, error.strerror or str(error)) from error
    if not stat.S_ISREG(info.st_mode):
        kind = next(
            (
                name
                for test, name in (
                    (stat.S_ISDIR, "a directory"),
                    (stat.S_ISFIFO, "a FIFO"),
                    (stat.S_ISCHR, "a character device"),
                    (stat.S_ISBLK, "a block device"),
                    (stat.S_ISSOCK, "a socket"),
                )
                if test(info.st_mode)
            ),
            "a special file",
        )
        raise AudioLoadError(path, f"not a regular file ({kind})")
    if info.st_size == 0:
        raise AudioLoadError(path, "file is empty (0 bytes)")
    if info.st_size > MAX_FILE_BYTES:
        raise AudioLoadError(path, f"file is {info.st_size / 2**30:.1f} GiB, over the {MAX_FILE_BYTES >> 30} GiB limit")
    return info.st_size


def sha256_file(path: str | Path, max_bytes: int = MAX_FILE_BYTES) -> str:
    """Hex SHA-256 of a file's first ``max_bytes`` bytes (the content key of caches and plugin
    state). Opened non-blocking, so a FIFO or device named by mistake cannot stall the caller beyond
    ``max_bytes``. Raises ``OSError`` when the file cannot be opened or read (``BlockingIOError``
    for a FIFO with a writer but no data)."""
    digest = hashlib.sha256()
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        remaining = max_bytes
        while remaining > 0 and (block := os.read(fd, min(remaining, 1 << 20))):
            digest.update(block)
            remaining -= len(block)
    finally:
        os.close(fd)
    return digest.hexdigest()


@contextlib.contextmanager
def _quiet_decoder_output() -> Iterator[None]:
    """Point file descriptor 2 at /dev/null while the C decoders run: libmpg123 prints "Note:" and
    "warning:" lines about damaged MP3s straight to it, which the :class:`AudioLoadError` raised
    here explains instead. Threads decoding at once take turns."""
    with _STDERR_LOCK:
        saved = os.dup(2)
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, 2)
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            os.close(devnull)


def _check_sample_rate(path: Path, sample_rate: int) -> None:
    if not MIN_SAMPLE_RATE_HZ <= sample_rate <= MAX_SAMPLE_RATE_HZ:
        raise AudioLoadError(
            path,
            f"sample rate {sample_rate} Hz is outside {MIN_SAMPLE_RATE_HZ}–{MAX_SAMPLE_RATE_HZ} Hz (a damaged header?)",
        )


def _read_soundfile(path: Path, max_duration_s: float) -> tuple[np.ndarray, int, bool]:
    with sf.SoundFile(str(path)) as f:
        sample_rate = f.samplerate
        _check_sample_rate(path, sample_rate)
        max_frames = int(max_duration_s * sample_rate)
        try:
            data = f.read(
                frames=min(f.frames, max_frames) if f.frames > 0 else max_frames, dtype="float32", always_2d=True
            )
        except sf.LibsndfileError as error:  # it opened, so it is that format: the fallback would read silence
            raise AudioLoadError(path, f"file is truncated or damaged ({error.error_string})") from error
        truncated = len(data) == max_frames and f.frames > max_frames
    return data, sample_rate, truncated


def _read_pedalboard(path: Path, max_duration_s: float) -> tuple[np.ndarray, int, bool]:
    from pedalboard.io import AudioFile  # imported lazily: only the fallback needs it

    with AudioFile(str(path)) as f:
        sample_rate = int(f.samplerate)
        _check_sample_rate(path, sample_rate)
        # Streamed WAVs report 2^31 frames: never trust the header for the allocation size.
        max_frames = int(max_duration_s * sample_rate)
        data = f.read(min(int(f.frames), max_frames))  # (channels, frames)
        truncated = data.shape[1] == max_frames and int(f.frames) > max_frames
    return np.ascontiguousarray(data.T, dtype=np.float32), sample_rate, truncated


def _mono_mix(path: Path, data: np.ndarray) -> np.ndarray:
    """The channel mean of ``data [frames, channels]``; refuses channels that cancel out in it."""
    audio = data.mean(axis=1, dtype=np.float32)
    if data.shape[1] > 1:
        channels_rms = float(np.sqrt(np.mean(np.square(data, dtype=np.float64))))
        mix_rms = float(np.sqrt(np.mean(np.square(audio, dtype=np.float64))))
        if channels_rms > 0 and mix_rms < channels_rms * 10 ** (MIN_MIX_TO_CHANNELS_DB / 20):
            below_db = 20 * np.log10(max(mix_rms, 1e-30) / channels_rms)
            raise AudioLoadError(
                path,
                f"the channels cancel out in the mono mix ({below_db:.0f} dB below the "
                "channels' level): one channel is phase-inverted",
            )
    return audio


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

    Warns:
        AudioTruncatedWarning: the file is longer than ``max_duration_s``; the message names it.

    Raises:
        AudioLoadError: missing file, not a regular file, empty or too large
            (:func:`check_audio_file`), undecodable, truncated or damaged content, a sample rate
            outside :data:`MIN_SAMPLE_RATE_HZ`–:data:`MAX_SAMPLE_RATE_HZ`, zero frames, channels
            that cancel out in the mix or non-finite samples. The message names the path and the reason.
    """
    path = Path(path)
    check_audio_file(path)
    with _quiet_decoder_output():
        try:
            data, file_rate, truncated = _read_soundfile(path, max_duration_s)
        except AudioLoadError:
            raise
        except Exception as sf_error:  # libsndfile refuses: try the fallback, keep both reasons
            try:
                data, file_rate, truncated = _read_pedalboard(path, max_duration_s)
            except AudioLoadError:
                raise
            except Exception as pb_error:
                raise AudioLoadError(
                    path, f"not a readable audio file (soundfile: {sf_error}; pedalboard: {pb_error})"
                ) from pb_error
    if data.shape[0] == 0:
        raise AudioLoadError(path, "audio has 0 frames")
    audio = _mono_mix(path, data)
    if not np.all(np.isfinite(audio)):
        raise AudioLoadError(path, "audio contains NaN or infinite samples")
    if truncated:
        warnings.warn(
            AudioTruncatedWarning(
                f"'{path}' is longer than {max_duration_s:g} s: only its first {max_duration_s:g} s are used"
            ),
            stacklevel=2,
        )
    if sample_rate is not None and sample_rate != file_rate:
        audio = soxr.resample(audio, file_rate, sample_rate, quality="HQ").astype(np.float32)
        file_rate = sample_rate
    return np.ascontiguousarray(audio), int(file_rate)

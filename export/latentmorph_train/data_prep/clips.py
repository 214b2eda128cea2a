"""Clips: trimming and normalisation, writing them as PCM_16 WAV, and their manifest records."""

from __future__ import annotations

import collections
import dataclasses
import os
import re
from pathlib import Path

import numpy as np
import soundfile as sf

from .categories import CATEGORIES
from .split import split_for_key

#: Bump when anything that changes the written clips changes: older clips are then re-made.
PIPELINE_VERSION = "2"  # 2: soundfont notes rendered in whole 64-frame blocks, independent of the notes before

SAMPLE_RATE = 44100
MAX_CLIP_S = 2.0
MIN_CLIP_S = 0.05
MIN_PEAK = 1e-4
TARGET_PEAK = 0.9
ONSET_DB = -40.0  # onset = first sample above peak * 10^(ONSET_DB/20)
PREROLL_S = 0.005  # kept before the onset
TAIL_DB = -60.0  # trailing frames whose max stays below peak * 10^(TAIL_DB/20) are cut
TAIL_FRAME_S = 0.010
FADE_OUT_S = 0.010
MAX_LOAD_S = 8.0  # seconds of a file decoded (room for leading silence before the 2 s clip)


@dataclasses.dataclass
class Stats:
    """Running tallies of one ``prepare`` run."""

    failed: list[dict] = dataclasses.field(default_factory=list)  # {"path", "reason"}
    dropped: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    written: int = 0
    reused: int = 0


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "x"


def write_wav_atomic(path: Path, clip: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    sf.write(str(tmp), pcm16(clip), SAMPLE_RATE, subtype="PCM_16", format="WAV")
    os.replace(tmp, path)


def existing_duration(path: Path, trust: bool) -> float | None:
    """Duration in s of a clip already written by this pipeline version, else ``None``."""
    if not trust or not path.is_file():
        return None
    try:
        info = sf.info(str(path))
    except Exception:  # unreadable leftover: make it again
        return None
    if info.samplerate != SAMPLE_RATE or info.channels != 1 or info.frames == 0:
        return None
    return info.frames / info.samplerate


def clip_record(data_dir: Path, clip_id: str, path: Path, duration_s: float, **fields) -> dict:
    record = {
        "id": clip_id,
        "path": path.relative_to(data_dir).as_posix(),
        "source": fields["source"],
        "category": fields["category"],
        "recording_key": fields["recording_key"],
        "split": split_for_key(fields["recording_key"]),
        "duration_s": round(duration_s, 6),
        "sample_rate": SAMPLE_RATE,
        "original": fields["original"],
        "license": fields["license"],
    }
    assert record["category"] in CATEGORIES, record
    return record


def pcm16(clip: np.ndarray) -> np.ndarray:
    """``[n]`` float in [-1, 1] → ``[n]`` int16 (x 32767, rounded): the samples written to disk."""
    return np.clip(np.round(clip * 32767.0), -32768, 32767).astype(np.int16)


def trim_and_normalise(
    audio: np.ndarray,
    sample_rate: int = SAMPLE_RATE,
    *,
    max_duration_s: float = MAX_CLIP_S,
    min_duration_s: float = MIN_CLIP_S,
    min_peak: float = MIN_PEAK,
    target_peak: float = TARGET_PEAK,
    onset_db: float = ONSET_DB,
    preroll_s: float = PREROLL_S,
    tail_db: float = TAIL_DB,
) -> np.ndarray | None:
    """Cut a one-shot clip out of a mono signal.

    Steps: drop when the peak of ``audio`` is below ``min_peak``; start ``preroll_s`` before the
    first sample reaching ``peak * 10**(onset_db/20)``; keep at most ``max_duration_s``; cut the
    trailing 10 ms frames whose maximum stays below ``peak * 10**(tail_db/20)``; drop when shorter
    than ``min_duration_s``; fade the last 10 ms out (linear); scale to a peak of ``target_peak``.

    Args:
        audio: ``[num_samples]`` float, full scale 1.0.
        sample_rate: Hz.

    Returns:
        ``[num_clip_samples]`` float32 with ``max(|clip|) == target_peak``, or ``None`` when the
        signal is (near) silent or the clip would be too short.
    """
    x = np.asarray(audio, dtype=np.float32).reshape(-1)
    if x.size == 0 or not np.all(np.isfinite(x)):
        return None
    magnitude = np.abs(x)
    peak = float(magnitude.max())
    if peak < min_peak:
        return None
    onset = int(np.argmax(magnitude >= peak * 10.0 ** (onset_db / 20.0)))
    start = max(0, onset - int(round(preroll_s * sample_rate)))
    x = x[start : start + int(round(max_duration_s * sample_rate))]
    frame = max(1, int(round(TAIL_FRAME_S * sample_rate)))
    n_frames = -(-x.size // frame)
    padded = np.zeros(n_frames * frame, dtype=np.float32)
    padded[: x.size] = np.abs(x)
    loud = np.nonzero(padded.reshape(n_frames, frame).max(axis=1) >= peak * 10.0 ** (tail_db / 20.0))[0]
    end = min(x.size, (int(loud[-1]) + 1) * frame) if loud.size else 0
    x = x[:end]
    if x.size < int(round(min_duration_s * sample_rate)):
        return None
    fade = min(int(round(FADE_OUT_S * sample_rate)), x.size // 4)
    if fade > 0:
        x = x.copy()
        x[-fade:] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
    clip_peak = float(np.abs(x).max())
    if clip_peak < min_peak:
        return None
    return (x * np.float32(target_peak / clip_peak)).astype(np.float32)

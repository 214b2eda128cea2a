"""Pitch of a sample: the pyin f0 track, and the root note a sampler should map it to.

A dropped sample plays at its own pitch on its root note; the root note is what the producer
would otherwise type in. :func:`detect_root_note` reads it from the f0 track (pyin, Mauch & Dixon
2014, "pYIN: a fundamental frequency estimator using probabilistic threshold distributions",
ICASSP) of the sample's first seconds: the median f0 of the voiced frames gives the nearest MIDI
note and the fine tuning in cents. A sound without a steady pitch (a drum, noise, a glide) falls
back to :data:`FALLBACK_ROOT_NOTE` and says why.
"""

from __future__ import annotations

import dataclasses

import librosa
import numpy as np

#: pyin search range, Hz (30 Hz: below E1, the lowest bass string; 2.5 kHz: above a piano's C7).
F0_MIN_HZ = 30.0
F0_MAX_HZ = 2500.0
#: pyin frame (samples at 44.1 kHz: 93 ms, two periods of 30 Hz fit) and hop (librosa's default, a quarter frame).
F0_FRAME_LENGTH = 4096
F0_HOP_LENGTH = 1024
#: Root note of a sample without a steady pitch (C4, the plugin's default).
FALLBACK_ROOT_NOTE = 60
#: Seconds after the onset that :func:`detect_root_note` reads (the sustain of a one-shot; a
#: longer sample's later notes do not decide its root).
ANALYSIS_S = 2.0
#: A frame has a pitch when pyin calls it voiced with at least this probability: a drum's body
#: tone is "voiced" at 0.01–0.02, a bass note at ~1, an inharmonic bell at ~0.3.
MIN_VOICED_PROBABILITY = 0.1
#: A steady pitch: at least this fraction of the sounding frames have a pitch …
MIN_VOICED_FRACTION = 0.5
#: … and their f0 within this interquartile range (cents): a vibrato fits, a glide does not.
MAX_F0_IQR_CENTS = 50.0
#: Frames quieter than this below the loudest do not count as sounding (dB).
SOUNDING_FLOOR_DB = 40.0


def f0_track(audio: np.ndarray, sample_rate: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """pyin f0 per frame (``librosa.pyin`` between :data:`F0_MIN_HZ` and :data:`F0_MAX_HZ`, frame
    :data:`F0_FRAME_LENGTH`, hop :data:`F0_HOP_LENGTH`). ``audio``: mono float ``[samples]``.
    Returns ``(f0_hz, voiced, voiced_probability)``: float64 ``[frames]`` (NaN where unvoiced),
    bool ``[frames]`` (pyin's Viterbi decision) and float64 ``[frames]`` in [0, 1]."""
    f0, voiced, probability = librosa.pyin(
        np.asarray(audio, dtype=np.float64),
        fmin=F0_MIN_HZ,
        fmax=F0_MAX_HZ,
        sr=sample_rate,
        frame_length=F0_FRAME_LENGTH,
        hop_length=F0_HOP_LENGTH,
    )
    return f0, voiced & np.isfinite(f0), probability


def midi_note_hz(note: float) -> float:
    """Equal-tempered frequency of MIDI ``note`` (A4 = 69 = 440 Hz), Hz."""
    return 440.0 * 2.0 ** ((note - 69.0) / 12.0)


def note_name(note: int) -> str:
    """Scientific pitch name of MIDI ``note``: 60 → ``"C4"``, 61 → ``"C#4"``, 21 → ``"A0"``."""
    names = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
    return f"{names[note % 12]}{note // 12 - 1}"


@dataclasses.dataclass(frozen=True)
class RootNote:
    """Where a sample sits on the keyboard. ``midi_note``: 0–127 (:data:`FALLBACK_ROOT_NOTE`
    when ``pitched`` is false); ``fine_tune_cents``: −50 … +50, what to add to ``midi_note`` to
    reach the sample's f0 (0 when unpitched); ``f0_hz``: median f0 of the voiced frames (NaN when
    none); ``pitched``: a steady pitch was found; ``message``: one line for the user."""

    midi_note: int
    fine_tune_cents: float
    f0_hz: float
    pitched: bool
    message: str

    def to_json(self) -> dict[str, object]:
        """The fields as the backend's ``root_note`` answer and ``latentmorph pitch --json`` give
        them: ``root_note``, ``fine_tune_cents`` (0.01 cent), ``f0_hz`` (mHz; ``None`` without a
        pitch), ``pitched``, ``message``."""
        return {
            "root_note": self.midi_note,
            "fine_tune_cents": round(self.fine_tune_cents, 2),
            "f0_hz": None if np.isnan(self.f0_hz) else round(self.f0_hz, 3),
            "pitched": self.pitched,
            "message": self.message,
        }


def detect_root_note(audio: np.ndarray, sample_rate: int) -> RootNote:
    """The root note of one sample (module docstring): pyin over :data:`ANALYSIS_S` from the
    onset; pitched when ≥ :data:`MIN_VOICED_FRACTION` of the sounding frames (within
    :data:`SOUNDING_FLOOR_DB` of the loudest) are voiced (with probability ≥
    :data:`MIN_VOICED_PROBABILITY`) and their f0 lies within an interquartile
    range of :data:`MAX_F0_IQR_CENTS`. ``audio``: mono float ``[samples]`` at ``sample_rate`` Hz.
    Raises ``ValueError`` for a silent or non-finite signal."""
    audio = np.asarray(audio, dtype=np.float64)
    if audio.ndim != 1 or audio.size == 0 or not np.all(np.isfinite(audio)) or not np.any(audio):
        raise ValueError("root note needs a mono, finite, non-silent signal")
    onset = int(np.argmax(np.abs(audio) >= 0.1 * np.abs(audio).max()))
    excerpt = audio[onset : onset + int(ANALYSIS_S * sample_rate)]
    excerpt = np.pad(excerpt, (0, max(0, F0_FRAME_LENGTH - len(excerpt))))
    f0, voiced, probability = f0_track(excerpt, sample_rate)
    rms = librosa.feature.rms(y=excerpt, frame_length=F0_FRAME_LENGTH, hop_length=F0_HOP_LENGTH)[0][: len(f0)]
    sounding = rms >= rms.max() * 10.0 ** (-SOUNDING_FLOOR_DB / 20.0)
    voiced_f0 = f0[voiced & sounding & (probability >= MIN_VOICED_PROBABILITY)]
    fraction = voiced_f0.size / max(int(sounding.sum()), 1)
    if voiced_f0.size == 0:
        return RootNote(
            FALLBACK_ROOT_NOTE, 0.0, float("nan"), False, f"no pitch found: root note {note_name(FALLBACK_ROOT_NOTE)}"
        )
    median_hz = float(np.median(voiced_f0))
    spread_cents = float(np.subtract(*np.percentile(1200.0 * np.log2(voiced_f0 / median_hz), [75, 25])))
    if fraction < MIN_VOICED_FRACTION or spread_cents > MAX_F0_IQR_CENTS:
        why = (
            f"only {fraction:.0%} of it has a pitch"
            if fraction < MIN_VOICED_FRACTION
            else f"its pitch moves ({spread_cents:.0f} cents)"
        )
        return RootNote(
            FALLBACK_ROOT_NOTE,
            0.0,
            median_hz,
            False,
            f"no steady pitch ({why}): root note {note_name(FALLBACK_ROOT_NOTE)}",
        )
    exact = 69.0 + 12.0 * np.log2(median_hz / 440.0)
    note = int(np.clip(np.rint(exact), 0, 127))
    cents = float(np.clip(100.0 * (exact - note), -50.0, 50.0))
    return RootNote(
        note, cents, median_hz, True, f"root note {note_name(note)} ({cents:+.0f} cents, {median_hz:.1f} Hz)"
    )

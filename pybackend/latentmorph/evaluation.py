"""Objective evaluation of reconstructions and morphs (``latentmorph eval``, ``make eval``).

Systems compared on the same clips and pairs:

- ``ours``: the model through the product path — :func:`latentmorph.morph.reconstruct` for
  reconstructions, :func:`latentmorph.morph.render_grid` (what the plugin plays) for morphs;
- ``previous``: another model folder (``latentmorph eval --previous-model DIR``) through the same
  reconstruction path, reconstructions only — did a new model get better?
- ``mel_gl_16k_80`` / ``mel_gl_44k_128``: oracle mel spectrogram + Griffin-Lim
  (:class:`MelGriffinLim`), reconstructions only — the ceiling of a spectrogram VAE that decodes
  with Griffin-Lim (NeuralFunk's is 16 kHz / 80 mels);
- ``crossfade``: the waveform crossfade ``(1 − t)·A + t·B`` of the onset-aligned sources, morphs only.

Reconstruction metrics per clip (:func:`reconstruction_metrics`): MR-STFT distance, log-spectral
distance (dB), HF excess (dB) and, on a seeded subset of the clips (it costs ~0.3 s per clip and
system), the perceptual ViSQOL v3 MOS (:func:`visqol_mos`). Morph metrics per pair
(:func:`morph_metrics`): linearity R² and Spearman monotonicity of spectral centroid, loudness and
attack time against t; step smoothness; endpoint fidelity; doubling at t = 0.5. Formulas are in
:mod:`latentmorph.metrics`.

The report (:func:`write_report`) is ``eval.json`` (per file, medians with IQR overall and per
category / pair kind, targets), ``eval.md`` (tables) and ``eval.png`` (box plots) in one folder;
:class:`ListeningPage` adds ``listen.html`` there, the renders of a few clips and pairs to listen to.
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import html
import io
import itertools
import json
import math
import random
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import librosa
import numpy as np
import scipy.signal
import soundfile as sf
import soxr
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from . import metrics
from .audio import AudioLoadError, is_audio_path, load_audio
from .model import MorphModel
from .morph import (
    ALIGN_MODES,
    INTERP_MODES,
    MorphInputError,
    align_sources,
    check_choice,
    morph_positions,
    prepare_source,
    reconstruct,
    render_grid,
)

#: Categories of the data pipeline (``latentmorph_train.data.CATEGORIES``) that make pair kinds;
#: ``fx`` and ``other`` belong to neither.
PITCHED_CATEGORIES = frozenset(
    {"bass", "keys", "guitar", "strings", "brass", "reed", "pipe", "synth", "pad", "bell", "vocal"}
)
DRUM_CATEGORIES = frozenset({"kick", "snare", "hat", "cymbal", "tom", "perc"})
#: Auto-built pitched pairs: B's MIDI note at most this far from A's when both are known
#: (FluidR3 notes are rendered every 4 semitones, so this is the same or the next note).
MAX_PAIR_INTERVAL_SEMITONES = 4

RECONSTRUCTION_METRICS = (
    "mrstft",
    "lsd_db",
    "hf_excess_db",
    "visqol_mos",
    "comb_excess_db",
    "autocorrelation_deviation",
    "no_frame_periodicity",
    "f0_error_cents",
    "f0_within_25_cents",
)
MORPH_METRICS = (
    "centroid_r2",
    "centroid_spearman",
    "loudness_r2",
    "loudness_spearman",
    "attack_r2",
    "attack_spearman",
    "step_smoothness",
    "step_max_over_median",
    "endpoint_mrstft",
    "endpoint_ratio",
    "doubling",
)
#: A reconstructed pitched clip is "in tune" within this many cents of the original's f0 (issue 9).
F0_TARGET_CENTS = 25.0
OURS, PREVIOUS, CROSSFADE = "ours", "previous", "crossfade"
MEL_GL_16K, MEL_GL_44K = "mel_gl_16k_80", "mel_gl_44k_128"

#: Griffin-Lim iterations of the baselines (librosa's default).
GL_ITERATIONS = 32

#: ViSQOL v3 audio mode: it works at 48 kHz on a spectrogram of 80 ms frames every 20 ms, compares
#: patches of 30 frames (0.6 s) and starts the first at frame 14 (0.28 s): a clip's first 0.28 s and
#: any tail past the last whole patch are never compared, so :func:`visqol_mos` pads clips to fit.
VISQOL_SAMPLE_RATE_HZ = 48000
VISQOL_FRAME_S = 0.08
VISQOL_HOP_S = 0.02
VISQOL_PATCH_FRAMES = 30
VISQOL_FIRST_PATCH_FRAME = 14
#: Clips scored with ViSQOL by default (seeded subset; 0: all): ~0.2–0.4 s per clip and system.
VISQOL_LIMIT = 50

#: ``listen.html``: clips (spread over categories) and pairs (spread over kinds) on the page, and
#: the longest render it embeds (s; 16-bit FLAC at the model rate).
LISTEN_CLIPS = 12
LISTEN_PAIRS = 6
LISTEN_MAX_DURATION_S = 2.0
#: The reconstruction systems a clip on the page is heard through, after its original.
LISTEN_SYSTEMS = (OURS, MEL_GL_44K, PREVIOUS)
#: Spectrogram thumbnails of the page: mel power (dB re. the loudest bin of the clip or pair, down
#: to −THUMBNAIL_RANGE_DB), one pixel per band and hop.
THUMBNAIL_N_FFT = 2048
THUMBNAIL_HOP_SAMPLES = 512
THUMBNAIL_N_MELS = 64
THUMBNAIL_RANGE_DB = 80.0


class EvaluationError(ValueError):
    """The evaluation cannot start: no clips, a bad manifest or pairs file, bad options."""


# --- inputs ---------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Clip:
    """One audio file. ``category``: manifest category or parent folder name; ``recording_key``:
    clips sharing it come from one recording; ``midi_note``: known pitch or ``None``."""

    path: Path
    category: str
    recording_key: str
    midi_note: int | None = None


@dataclasses.dataclass(frozen=True)
class Pair:
    """Morph from ``a`` (t = 0) to ``b`` (t = 1); ``kind``: ``pitched``, ``drum`` or a pairs-file label."""

    a: Clip
    b: Clip
    kind: str


def clips_from_manifest(manifest_path: Path, split: str) -> list[Clip]:
    """Clips of ``split`` in a data-pipeline manifest (JSON lines with ``path`` relative to the
    manifest's folder, ``split``, ``category``, ``recording_key``, optional ``original.note``;
    FluidR3 drum-kit notes are not pitches and are ignored). Raises :class:`EvaluationError` for a
    missing or malformed manifest or an empty split."""
    if not manifest_path.is_file():
        raise EvaluationError(f"manifest not found: {manifest_path} (run `make data`)")
    clips = []
    for number, line in enumerate(manifest_path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            if row["split"] != split:
                continue
            original = row.get("original") or {}
            note = original.get("note") if original.get("bank") == 0 else None
            clips.append(Clip(manifest_path.parent / row["path"], row["category"], row["recording_key"], note))
        except (json.JSONDecodeError, KeyError, TypeError) as error:
            raise EvaluationError(f"{manifest_path}:{number}: malformed manifest line ({error!r})") from error
    if not clips:
        raise EvaluationError(f"{manifest_path} has no clips in split '{split}'")
    return clips


def clips_from_dirs(dirs: Sequence[Path]) -> list[Clip]:
    """Audio files under ``dirs`` (recursive, sorted); category = parent folder name, each file its
    own recording. Raises :class:`EvaluationError` for a missing folder or no audio files."""
    clips = []
    for folder in dirs:
        if not folder.is_dir():
            raise EvaluationError(f"not a folder: {folder}")
        clips += [
            Clip(path, path.parent.name, str(path.resolve()))
            for path in sorted(folder.rglob("*"))
            if path.is_file() and is_audio_path(path)
        ]
    if not clips:
        raise EvaluationError(f"no audio files in {', '.join(map(str, dirs))}")
    return clips


T = TypeVar("T")


def select_clips(clips: Sequence[Clip], limit: int, seed: int) -> list[Clip]:
    """A seeded random subset of ``limit`` clips (all when ``limit`` is 0 or ≥ the count), in
    their original order."""
    if limit <= 0 or limit >= len(clips):
        return list(clips)
    chosen = sorted(random.Random(seed).sample(range(len(clips)), limit))
    return [clips[i] for i in chosen]


def spread(items: Sequence[T], count: int, seed: int, group: Callable[[T], str]) -> list[T]:
    """Up to ``count`` items taken in turns from each group (groups sorted by name, items in a seeded
    random order within each), so that a few items still cover every group (category, pair kind)."""
    shuffled = random.Random(seed).sample(list(items), len(items))
    groups = [[item for item in shuffled if group(item) == key] for key in sorted({group(item) for item in items})]
    return [item for turn in itertools.zip_longest(*groups) for item in turn if item is not None][:count]


def build_pairs(clips: Sequence[Clip], num_pairs: int, seed: int) -> list[Pair]:
    """``num_pairs`` seeded pairs, half ``pitched`` (two :data:`PITCHED_CATEGORIES` clips of
    different categories and recordings, notes at most :data:`MAX_PAIR_INTERVAL_SEMITONES` apart
    when both are known) and half ``drum`` (two :data:`DRUM_CATEGORIES` clips of different
    recordings). A kind without a possible pair gets none; no pair is drawn twice."""
    rng = random.Random(seed)
    pitched = [c for c in clips if c.category in PITCHED_CATEGORIES]
    drums = [c for c in clips if c.category in DRUM_CATEGORIES]

    def pitched_match(a: Clip, b: Clip) -> bool:
        near = (
            a.midi_note is None or b.midi_note is None or abs(a.midi_note - b.midi_note) <= MAX_PAIR_INTERVAL_SEMITONES
        )
        return a.category != b.category and a.recording_key != b.recording_key and near

    def drum_match(a: Clip, b: Clip) -> bool:
        return a.recording_key != b.recording_key

    pairs: list[Pair] = []
    n_pitched = (num_pairs + 1) // 2
    for kind, pool, match, count in (
        ("pitched", pitched, pitched_match, n_pitched),
        ("drum", drums, drum_match, num_pairs - n_pitched),
    ):
        seen: set[tuple[Path, Path]] = set()
        for a in rng.sample(pool, len(pool)):
            if len(seen) == count:
                break
            candidates = [b for b in pool if match(a, b) and (a.path, b.path) not in seen]
            if candidates:
                b = rng.choice(candidates)
                seen.add((a.path, b.path))
                pairs.append(Pair(a, b, kind))
    return pairs


def read_pairs(pairs_path: Path, known: Iterable[Clip] = ()) -> list[Pair]:
    """Pairs from a text file, one ``A<TAB>B[<TAB>kind]`` a line (``#`` comments and blank lines
    skipped; relative paths are relative to the file's folder; kind defaults to ``pair``). A path
    among ``known`` clips keeps its category, others take their parent folder name. Raises
    :class:`EvaluationError` for a missing file or a line without two paths."""
    if not pairs_path.is_file():
        raise EvaluationError(f"pairs file not found: {pairs_path}")
    by_path = {clip.path.resolve(): clip for clip in known}
    pairs = []
    for number, line in enumerate(pairs_path.read_text().splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = line.rstrip("\n").split("\t")
        if len(fields) not in (2, 3) or not all(fields[:2]):
            raise EvaluationError(f"{pairs_path}:{number}: expected 'A<TAB>B[<TAB>kind]', got {line!r}")
        ends = []
        for field in fields[:2]:
            path = (pairs_path.parent / field).resolve()
            ends.append(by_path.get(path) or Clip(path, path.parent.name, str(path)))
        pairs.append(Pair(ends[0], ends[1], fields[2] if len(fields) == 3 else "pair"))
    if not pairs:
        raise EvaluationError(f"{pairs_path} lists no pairs")
    return pairs


# --- systems ----------------------------------------------------------------------------------


def _at_rate(process: Callable[[np.ndarray], np.ndarray], audio: np.ndarray, audio_rate: int, rate: int) -> np.ndarray:
    """``process`` (float ``[samples]`` at ``rate`` → float ``[samples']``) applied to ``audio``
    float32 ``[samples]`` at ``audio_rate``: resampled there and back (soxr HQ) when the rates
    differ, then cut or zero-padded to ``len(audio)``. Returns float32."""
    x = soxr.resample(audio, audio_rate, rate, quality="HQ") if audio_rate != rate else audio
    y = process(x)
    if audio_rate != rate:
        y = soxr.resample(y, rate, audio_rate, quality="HQ")
    out = np.zeros(len(audio), dtype=np.float32)
    out[: min(len(y), len(out))] = y[: len(out)]
    return out


@dataclasses.dataclass(frozen=True)
class ModelReconstruction:
    """A model's reconstruction through the product path (:func:`~latentmorph.morph.reconstruct`),
    at the model's own rate (the input is resampled there and back when it is at another)."""

    name: str
    model: MorphModel

    def __call__(self, audio: np.ndarray, audio_rate: int) -> np.ndarray:
        """float32 ``[samples]`` at ``audio_rate`` → float32 of the same length and rate.
        Raises :class:`~latentmorph.morph.MorphInputError` for a silent input."""
        return _at_rate(functools.partial(reconstruct, self.model), audio, audio_rate, self.model.sample_rate)


@dataclasses.dataclass(frozen=True)
class MelGriffinLim:
    """Oracle mel spectrogram + Griffin-Lim reconstruction at ``sample_rate``.

    The input is resampled to ``sample_rate`` (soxr HQ), its power mel spectrogram taken
    (``librosa.feature.melspectrogram``: Hann, ``n_fft``, ``hop_length``, ``n_mels`` bands up to
    Nyquist), mapped back to a linear magnitude with the least-squares (Moore-Penrose) inverse of
    the mel filter bank clipped at 0 — as good as librosa's NNLS ``mel_to_stft`` on our clips and
    ~5× faster — then ``librosa.griffinlim`` (``n_iter`` iterations, momentum 0.99) and resampled
    back.
    """

    name: str
    sample_rate: int
    n_mels: int
    n_fft: int
    hop_length: int
    n_iter: int = GL_ITERATIONS

    def __call__(self, audio: np.ndarray, audio_rate: int) -> np.ndarray:
        """float32 ``[samples]`` at ``audio_rate`` → float32 of the same length and rate."""
        return _at_rate(self._at_own_rate, audio, audio_rate, self.sample_rate)

    def _at_own_rate(self, x: np.ndarray) -> np.ndarray:
        x = np.pad(x, (0, max(0, self.n_fft - len(x))))  # at least one frame
        mel = librosa.feature.melspectrogram(
            y=x, sr=self.sample_rate, n_fft=self.n_fft, hop_length=self.hop_length, n_mels=self.n_mels
        )
        magnitude = np.sqrt(np.maximum(_mel_pseudo_inverse(self.sample_rate, self.n_fft, self.n_mels) @ mel, 0.0))
        return librosa.griffinlim(
            magnitude, n_iter=self.n_iter, hop_length=self.hop_length, n_fft=self.n_fft, length=len(x)
        )


@functools.lru_cache(maxsize=4)
def _mel_pseudo_inverse(sample_rate: int, n_fft: int, n_mels: int) -> np.ndarray:
    return np.linalg.pinv(librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels))


def mel_gl_baselines(n_iter: int = GL_ITERATIONS) -> tuple[MelGriffinLim, ...]:
    """The two baselines: 16 kHz / 80 mels (n_fft 1024, hop 256: NeuralFunk-style) and
    44.1 kHz / 128 mels (n_fft 2048, hop 512)."""
    return (
        MelGriffinLim(MEL_GL_16K, 16000, 80, 1024, 256, n_iter),
        MelGriffinLim(MEL_GL_44K, 44100, 128, 2048, 512, n_iter),
    )


def crossfade_grid(audio_a: np.ndarray, audio_b: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Waveform crossfade ``(1 − t)·A + t·B`` of the sources at their own levels, aligned at their
    onsets as :func:`latentmorph.morph.render_grid` aligns them: float32 ``[steps, samples]``.
    Raises :class:`~latentmorph.morph.MorphInputError` for a silent source."""
    sources = [prepare_source(audio_a, "sample A"), prepare_source(audio_b, "sample B")]
    aligned = align_sources(sources) * np.array([[s.gain] for s in sources], dtype=np.float32)
    return ((1.0 - t)[:, None] * aligned[0] + t[:, None] * aligned[1]).astype(np.float32)


# --- metrics of one item --------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _visqol_api():
    from visqol import VisqolApi  # imported here: only `latentmorph eval` needs ViSQOL, never the backend

    api = VisqolApi()
    api.create(mode="audio")
    return api


def visqol_mos(output: np.ndarray, reference: np.ndarray, sample_rate: int) -> float:
    """ViSQOL v3 MOS-LQO of ``output`` against ``reference`` (mono float ``[samples]`` at
    ``sample_rate`` Hz): a perceptual quality score from 1 (bad) to 5, in practice at most 4.73
    (identical signals) — Chinen et al., "ViSQOL v3: an open source production ready objective
    speech and audio metric", QoMEX 2020.

    Audio mode (32 gammatone bands, NSIM of 0.6 s spectrogram patches mapped to MOS by the
    bundled SVR model) of the ``visqol-python`` port of Google's C++ ViSQOL 3.3.3. Both signals are
    resampled to :data:`VISQOL_SAMPLE_RATE_HZ` (soxr HQ) and zero-padded — 0.28 s before, so that
    the first patch starts with the clip (ViSQOL skips a signal's first 0.28 s, a one-shot's
    attack), and after, to the end of the patch holding the clip's end (≥ 0.98 s in all; more
    silence would add perfect silent patches). NaN when ``output`` is silent. The first call in a
    fresh environment compiles ViSQOL's numba kernels (~15 s, cached on disk); then each call takes
    ~0.1 s + 0.1 s per started 0.6 s of clip (2-core machine, busy).
    """
    hop = round(VISQOL_HOP_S * VISQOL_SAMPLE_RATE_HZ)
    lead = VISQOL_FIRST_PATCH_FRAME * hop
    patch = VISQOL_PATCH_FRAMES * hop
    signals = [np.asarray(audio, dtype=np.float64) for audio in (reference, output)]
    if sample_rate != VISQOL_SAMPLE_RATE_HZ:
        signals = [soxr.resample(x, sample_rate, VISQOL_SAMPLE_RATE_HZ, quality="HQ") for x in signals]
    patches = max(1, -(-max(map(len, signals)) // patch))
    # ViSQOL compares patch k (frames 14 + 30k …) only when the spectrogram has ≥ 46 + 30k frames.
    total = round(VISQOL_FRAME_S * VISQOL_SAMPLE_RATE_HZ) + hop * (
        VISQOL_FIRST_PATCH_FRAME + 1 + VISQOL_PATCH_FRAMES * patches
    )
    padded = [np.pad(x, (lead, total - lead - len(x))) for x in signals]
    with np.errstate(invalid="ignore", divide="ignore"):  # a silent output: NaN, said above
        return float(_visqol_api().measure_from_arrays(*padded, VISQOL_SAMPLE_RATE_HZ).moslqo)


def reconstruction_metrics(
    output: np.ndarray,
    reference: np.ndarray,
    sample_rate: int,
    visqol: bool = False,
    frame_period_samples: int = 512,
    reference_f0_hz: float | None = None,
) -> dict[str, float]:
    """Metrics of ``output`` against ``reference``, mono float ``[samples]`` at ``sample_rate`` Hz:

    - ``mrstft`` (:func:`~latentmorph.metrics.mrstft_distance`), ``lsd_db``
      (:func:`~latentmorph.metrics.log_spectral_distance_db`), ``hf_excess_db``
      (:func:`~latentmorph.metrics.hf_excess_db`, above 12 kHz); when ``visqol``, ``visqol_mos``
      (:func:`visqol_mos`);
    - ``comb_excess_db``, ``autocorrelation_deviation`` and ``no_frame_periodicity`` (1 when both are
      within bounds, else 0) of :func:`~latentmorph.metrics.frame_periodicity` at
      ``frame_period_samples`` (the model's latent hop); NaN for clips shorter than two periods;
    - when ``reference_f0_hz`` is given (a pitched clip whose pitch pyin found): ``f0_error_cents``
      (absolute, :func:`~latentmorph.metrics.f0_hz` of the output; NaN when it finds none) and
      ``f0_within_25_cents`` (1 or 0; an output without pitch counts 0)."""
    result = {
        "mrstft": metrics.mrstft_distance(output, reference),
        "lsd_db": metrics.log_spectral_distance_db(output, reference),
        "hf_excess_db": metrics.hf_excess_db(output, reference, sample_rate),
    }
    if visqol:
        result["visqol_mos"] = visqol_mos(output, reference, sample_rate)
    if min(len(output), len(reference)) >= 2 * frame_period_samples:
        periodicity = metrics.frame_periodicity(output, reference, sample_rate, frame_period_samples)
        result.update(
            comb_excess_db=periodicity.comb_excess_db,
            autocorrelation_deviation=periodicity.autocorrelation_deviation,
            no_frame_periodicity=float(periodicity.ok),
        )
    if reference_f0_hz is not None:
        error = abs(metrics.cents(metrics.f0_hz(output, sample_rate), reference_f0_hz))
        result.update(f0_error_cents=error, f0_within_25_cents=float(error <= F0_TARGET_CENTS))
    return result


def _align_to(step: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """The ``len(reference)`` samples of ``step`` at the lag (≥ 0) of maximum cross-correlation:
    undoes the onset padding of a grid step whatever alignment produced it."""
    if len(step) < len(reference):
        step = np.pad(step, (0, len(reference) - len(step)))
    lag = int(np.argmax(scipy.signal.correlate(step, reference, mode="valid", method="fft")))
    return step[lag : lag + len(reference)]


def morph_metrics(grid: np.ndarray, audio_a: np.ndarray, audio_b: np.ndarray, sample_rate: int) -> dict[str, float]:
    """Metrics of one morph ``grid`` float32 ``[steps, samples]`` (t = i / (steps − 1), steps odd
    so that t = 0.5 is a step) between sources ``audio_a`` and ``audio_b`` ``[samples]``, all at
    ``sample_rate`` Hz:

    - ``{centroid,loudness,attack}_{r2,spearman}``: :func:`~latentmorph.metrics.linearity_r2` and
      :func:`~latentmorph.metrics.monotonicity` against t of the energy-weighted spectral centroid,
      the RMS level (dB) and the 10 %→90 % attack time (ms);
    - ``step_smoothness``: :func:`~latentmorph.metrics.step_smoothness`; ``step_max_over_median``:
      the largest MR-STFT distance between neighbouring steps over the median one (continuity:
      the ends included, no step may jump);
    - ``endpoint_mrstft``: mean MR-STFT distance of step 0 from A and of the last step from B, each
      step cut at the lag that best matches its source;
    - ``doubling`` (+ ``doubling_r2``, ``doubling_weight_a``, ``doubling_weight_b``):
      :func:`~latentmorph.metrics.doubling_score` of the t = 0.5 step.

    Raises ``ValueError`` for an even number of steps, fewer than 3, or a silent step or source.
    """
    steps = len(grid)
    if steps < 3 or steps % 2 == 0:
        raise ValueError(f"need an odd number ≥ 3 of steps (t = 0.5 must be a step), got {steps}")
    t = morph_positions(steps)
    descriptors = {
        "centroid": [metrics.spectral_centroid_hz(g, sample_rate) for g in grid],
        "loudness": [metrics.loudness_db(g) for g in grid],
        "attack": [metrics.attack_time_ms(g, sample_rate) for g in grid],
    }
    result = {}
    for name, values in descriptors.items():
        result[f"{name}_r2"] = metrics.linearity_r2(t, np.array(values))
        result[f"{name}_spearman"] = metrics.monotonicity(t, np.array(values))
    result["step_smoothness"] = metrics.step_smoothness(grid)
    distances = [metrics.mrstft_distance(grid[i + 1], grid[i]) for i in range(steps - 1)]
    result["step_max_over_median"] = float(max(distances) / max(float(np.median(distances)), 1e-12))
    result["endpoint_mrstft"] = 0.5 * (
        metrics.mrstft_distance(_align_to(grid[0], audio_a), audio_a)
        + metrics.mrstft_distance(_align_to(grid[-1], audio_b), audio_b)
    )
    doubling = metrics.doubling_score(grid[steps // 2], audio_a, audio_b, sample_rate)
    result.update(
        doubling=doubling.score,
        doubling_r2=doubling.explained_variance,
        doubling_weight_a=doubling.weight_a,
        doubling_weight_b=doubling.weight_b,
    )
    return result


# --- the run ----------------------------------------------------------------------------------------


@dataclasses.dataclass
class EvaluationConfig:
    """Options of one run. ``render_options``: keyword arguments forwarded to
    :func:`~latentmorph.morph.render_grid` (``align``, ``interp``) — only those given;
    ``visqol_limit``: clips scored with ViSQOL, a seeded subset (0: all)."""

    steps: int = 9
    seed: int = 0
    baselines: bool = True
    gl_iterations: int = GL_ITERATIONS
    render_options: dict[str, Any] = dataclasses.field(default_factory=dict)
    visqol_limit: int = VISQOL_LIMIT


def render_options(align: str | None, interp: str | None) -> dict[str, str]:
    """Keyword arguments for :func:`~latentmorph.morph.render_grid`: only those given, so its own
    defaults apply otherwise. Raises ``ValueError`` for a value outside ``ALIGN_MODES`` /
    ``INTERP_MODES`` (up front, rather than as a skip of every pair)."""
    options = {}
    for name, value, allowed in (("align", align, ALIGN_MODES), ("interp", interp, INTERP_MODES)):
        if value is not None:
            check_choice(name, value, allowed)
            options[name] = value
    return options


#: Errors that make one clip or pair unusable (unreadable, silent); counted, not fatal.
SKIPPABLE = (AudioLoadError, MorphInputError, ValueError)


def _progress(items: Sequence[T], description: str, console: Console) -> Iterator[T]:
    """A rich progress bar on a terminal; otherwise a plain log line about every 10 %."""
    if console.is_terminal:
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
        with Progress(*columns, console=console) as progress:
            yield from progress.track(items, description=description)
        return
    every = max(1, len(items) // 10)
    start = time.monotonic()
    for i, item in enumerate(items):
        if i % every == 0:
            console.print(f"{description}: {i}/{len(items)} ({time.monotonic() - start:.0f} s)", highlight=False)
        yield item
    console.print(f"{description}: {len(items)}/{len(items)} ({time.monotonic() - start:.0f} s)", highlight=False)


def evaluate(
    model: MorphModel,
    clips: Sequence[Clip],
    pairs: Sequence[Pair],
    config: EvaluationConfig,
    console: Console | None = None,
    previous: MorphModel | None = None,
    listening: ListeningPage | None = None,
) -> dict:
    """Run every system on ``clips`` (reconstruction) and ``pairs`` (morphs).

    Returns the report dict written by :func:`write_report`: ``model``, ``config``, ``sizes``,
    ``skipped`` (count and reasons), ``clips`` / ``pairs`` (per item, per system metrics; NaN
    where undefined; ``visqol_mos`` only on the ``sizes["visqol_clips"]`` clips of the seeded
    ViSQOL subset), ``summary`` (:func:`summarise`) and ``targets`` (:func:`check_targets`).
    ``ours`` morphs also get ``endpoint_ratio`` = ``endpoint_mrstft`` / mean reconstruction
    MR-STFT of A and B: 1 when the grid's ends are as good as plain reconstructions.
    ``previous``: a second model whose reconstructions are scored as system ``previous``.
    ``listening``: given the renders of its clips and pairs as they are made.
    Clips and pairs that raise one of :data:`SKIPPABLE` are skipped and counted.
    """
    console = console or Console(stderr=True)
    sample_rate = model.sample_rate
    baselines = mel_gl_baselines(config.gl_iterations) if config.baselines else ()
    systems: tuple[ModelReconstruction | MelGriffinLim, ...] = (
        ModelReconstruction(OURS, model),
        *baselines,
        *([ModelReconstruction(PREVIOUS, previous)] if previous is not None else []),
    )
    visqol_paths = {clip.path for clip in select_clips(clips, config.visqol_limit, config.seed)}
    skipped: list[str] = []

    @functools.lru_cache(maxsize=256)
    def load(path: Path) -> np.ndarray:
        return load_audio(path, sample_rate)[0]

    @functools.lru_cache(maxsize=None)
    def recon_distance(path: Path) -> float:
        audio = load(path)
        return metrics.mrstft_distance(reconstruct(model, audio), audio)

    clip_rows: list[dict[str, Any]] = []
    for clip in _progress(clips, "reconstructions", console):
        try:
            audio = load(clip.path)
            outputs = {system.name: system(audio, sample_rate) for system in systems}
            f0 = metrics.f0_hz(audio, sample_rate) if clip.category in PITCHED_CATEGORIES else math.nan
            scores = {
                name: reconstruction_metrics(
                    output,
                    audio,
                    sample_rate,
                    visqol=clip.path in visqol_paths,
                    frame_period_samples=model.hop_length,
                    reference_f0_hz=f0 if math.isfinite(f0) else None,
                )
                for name, output in outputs.items()
            }
        except SKIPPABLE as error:
            skipped.append(f"clip {clip.path}: {error}")
            continue
        clip_rows.append({"path": str(clip.path), "category": clip.category, "systems": scores})
        if listening is not None:
            listening.add_clip(clip, audio, outputs, scores, sample_rate)

    t = morph_positions(config.steps)
    pair_rows: list[dict[str, Any]] = []
    for pair in _progress(pairs, "morphs", console):
        try:
            a, b = load(pair.a.path), load(pair.b.path)
            grid = render_grid(model, a, b, config.steps, **config.render_options)
            ours = morph_metrics(grid, a, b, sample_rate)
            ours["endpoint_ratio"] = ours["endpoint_mrstft"] / (
                0.5 * (recon_distance(pair.a.path) + recon_distance(pair.b.path))
            )
            crossfade = crossfade_grid(a, b, t)
            pair_systems = {OURS: ours, CROSSFADE: morph_metrics(crossfade, a, b, sample_rate)}
        except SKIPPABLE as error:
            skipped.append(f"pair {pair.a.path} → {pair.b.path}: {error}")
            continue
        pair_rows.append(
            {
                "a": str(pair.a.path),
                "b": str(pair.b.path),
                "kind": pair.kind,
                "categories": [pair.a.category, pair.b.category],
                "systems": pair_systems,
            }
        )
        if listening is not None:
            listening.add_pair(pair, {OURS: grid, CROSSFADE: crossfade}, sample_rate)

    report: dict[str, Any] = {
        "model": {"model_id": model.model_id, "sample_rate": sample_rate, "hop_length": model.hop_length},
        "previous_model": None
        if previous is None
        else {"model_id": previous.model_id, "sample_rate": previous.sample_rate},
        "config": {
            "steps": config.steps,
            "seed": config.seed,
            "baselines": [b.name for b in baselines],
            "gl_iterations": config.gl_iterations,
            "render_options": config.render_options,
            "visqol_limit": config.visqol_limit,
        },
        "sizes": {
            "clips": len(clip_rows),
            "pairs": len(pair_rows),
            "visqol_clips": sum("visqol_mos" in r["systems"][OURS] for r in clip_rows),
            "pairs_by_kind": {
                kind: sum(r["kind"] == kind for r in pair_rows) for kind in sorted({r["kind"] for r in pair_rows})
            },
        },
        "skipped": {"count": len(skipped), "reasons": skipped},
        "clips": clip_rows,
        "pairs": pair_rows,
    }
    report["summary"] = summarise(clip_rows, pair_rows)
    report["targets"] = check_targets(report["summary"])
    return report


def stats(values: Iterable[float]) -> dict[str, float | int | None]:
    """``count`` of finite values, their ``median``, ``q1`` and ``q3`` (25th/75th percentiles) and
    ``mean`` (for 0/1 metrics: the fraction of items that pass); ``None`` when there is none."""
    finite = np.array([v for v in values if v is not None and math.isfinite(v)], dtype=np.float64)
    if finite.size == 0:
        return {"count": 0, "median": None, "q1": None, "q3": None, "mean": None}
    q1, median, q3 = np.percentile(finite, [25, 50, 75])
    return {
        "count": int(finite.size),
        "median": float(median),
        "q1": float(q1),
        "q3": float(q3),
        "mean": float(finite.mean()),
    }


def _group_stats(rows: list[dict], names: Sequence[str], group: Callable[[dict], str]) -> dict:
    systems = sorted({s for r in rows for s in r["systems"]}, key=_system_order)
    out: dict = {}
    for system in systems:
        with_system = [r for r in rows if system in r["systems"]]
        out[system] = {"all": {m: stats(r["systems"][system].get(m) for r in with_system) for m in names}, "groups": {}}
        for key in sorted({group(r) for r in with_system}):
            members = [r for r in with_system if group(r) == key]
            out[system]["groups"][key] = {m: stats(r["systems"][system].get(m) for r in members) for m in names}
    return out


def _system_order(name: str) -> tuple[int, str]:
    return ({OURS: 0, PREVIOUS: 1}.get(name, 2), name)


def summarise(clip_rows: list[dict], pair_rows: list[dict]) -> dict:
    """Medians with IQR per system: ``reconstruction[system]["all" | "groups"][category][metric]``
    and ``morph[system]["all" | "groups"][pair kind][metric]``."""
    return {
        "reconstruction": _group_stats(clip_rows, RECONSTRUCTION_METRICS, lambda r: r["category"]),
        "morph": _group_stats(pair_rows, MORPH_METRICS, lambda r: r["kind"]),
    }


@dataclasses.dataclass(frozen=True)
class Target:
    """``system``'s ``statistic`` (``median``, or ``mean``: the passing fraction of a 0/1 metric) of
    ``metric`` over ``scope`` (``all`` or a pair kind) must be ``≤`` or ``≥`` ``threshold`` (a
    number, or the same statistic of system ``relative_to``)."""

    name: str
    section: str
    metric: str
    op: str
    threshold: float | None = None
    relative_to: str | None = None
    scope: str = "all"
    statistic: str = "median"


#: The targets of issue 9 (the decoder's frame-periodic buzz and exact endpoints).
TARGETS = (
    Target("reconstruction MR-STFT ≤ mel+GL 44.1 kHz/128", "reconstruction", "mrstft", "≤", relative_to=MEL_GL_44K),
    Target("log-spectral distance ≤ 6 dB", "reconstruction", "lsd_db", "≤", 6.0),
    Target(
        "no frame-rate comb or periodicity on every clip",
        "reconstruction",
        "no_frame_periodicity",
        "≥",
        1.0,
        statistic="mean",
    ),
    Target(
        "pitched clips within 25 cents on ≥ 90 %", "reconstruction", "f0_within_25_cents", "≥", 0.9, statistic="mean"
    ),
    Target("endpoint MR-STFT ≤ 0.02", "morph", "endpoint_mrstft", "≤", 0.02),
    Target("attack-time R² ≥ 0.85", "morph", "attack_r2", "≥", 0.85),
    Target("doubling at t=0.5 on pitched pairs ≤ 0.15", "morph", "doubling", "≤", 0.15, scope="pitched"),
    Target("centroid R² ≥ 0.9", "morph", "centroid_r2", "≥", 0.9),
    Target("loudness R² ≥ 0.9", "morph", "loudness_r2", "≥", 0.9),
    Target("step smoothness ≤ 1.5", "morph", "step_smoothness", "≤", 1.5),
    Target("largest step ≤ 1.5 × the median step", "morph", "step_max_over_median", "≤", 1.5),
)


def _statistic(
    summary: dict, section: str, system: str, metric: str, scope: str, statistic: str = "median"
) -> float | None:
    entry = summary[section].get(system, {})
    group = entry.get("all") if scope == "all" else entry.get("groups", {}).get(scope)
    return (group or {}).get(metric, {}).get(statistic)


def check_targets(summary: dict) -> list[dict]:
    """Each of :data:`TARGETS` for system ``ours``: ``name``, ``value`` (median), ``threshold``,
    ``met`` (``None`` when either side could not be measured, e.g. no pitched pair or no
    baseline)."""
    results = []
    for target in TARGETS:
        value = _statistic(summary, target.section, OURS, target.metric, target.scope, target.statistic)
        threshold = (
            _statistic(summary, target.section, target.relative_to, target.metric, target.scope, target.statistic)
            if target.relative_to
            else target.threshold
        )
        met = (
            None
            if value is None or threshold is None
            else (value <= threshold if target.op == "≤" else value >= threshold)
        )
        results.append(
            {
                "name": target.name,
                "metric": target.metric,
                "scope": target.scope,
                "op": target.op,
                "value": value,
                "threshold": threshold,
                "met": met,
            }
        )
    return results


# --- listening page -----------------------------------------------------------------------------


def _data_uri(media_type: str, payload: bytes) -> str:
    return f"data:{media_type};base64,{base64.b64encode(payload).decode('ascii')}"


def _media_cells(renders: Sequence[np.ndarray], sample_rate: int) -> list[dict[str, str]]:
    """Per render (float ``[samples]`` at ``sample_rate`` Hz): ``audio``, its first
    :data:`LISTEN_MAX_DURATION_S` as a data URI of a 16-bit FLAC (clipped to ±1), and ``image``,
    its mel spectrogram as a data URI of a PNG (``THUMBNAIL_N_MELS`` rows, one column per
    ``THUMBNAIL_HOP_SAMPLES``; dB re. the loudest bin of all ``renders``, magma colours)."""
    import matplotlib.image  # imported here, as the plots are: only the report needs matplotlib

    cut = [np.clip(render[: int(LISTEN_MAX_DURATION_S * sample_rate)], -1.0, 1.0) for render in renders]
    mels = [
        librosa.feature.melspectrogram(
            y=np.pad(x, (0, max(0, THUMBNAIL_N_FFT - len(x)))),
            sr=sample_rate,
            n_fft=THUMBNAIL_N_FFT,
            hop_length=THUMBNAIL_HOP_SAMPLES,
            n_mels=THUMBNAIL_N_MELS,
            fmax=sample_rate / 2,
        )
        for x in cut
    ]
    ref = max(float(mel.max()) for mel in mels) or 1.0
    cells = []
    for x, mel in zip(cut, mels):
        image, sound = io.BytesIO(), io.BytesIO()
        matplotlib.image.imsave(
            image,
            librosa.power_to_db(mel, ref=ref, top_db=None),
            cmap="magma",
            vmin=-THUMBNAIL_RANGE_DB,
            vmax=0.0,
            origin="lower",
            format="png",
        )
        sf.write(sound, x, sample_rate, format="FLAC", subtype="PCM_16")
        cells.append(
            {"image": _data_uri("image/png", image.getvalue()), "audio": _data_uri("audio/flac", sound.getvalue())}
        )
    return cells


def _caption(scores: dict[str, float]) -> str:
    """``MR-STFT 0.83 · LSD 5.1 dB · ViSQOL 3.20`` (each part only where measured)."""
    parts = (("MR-STFT {:.2f}", "mrstft"), ("LSD {:.1f} dB", "lsd_db"), ("ViSQOL {:.2f}", "visqol_mos"))
    return " · ".join(
        text.format(scores[key]) for text, key in parts if scores.get(key) is not None and math.isfinite(scores[key])
    )


class ListeningPage:
    """``listen.html``: renders of a few clips and pairs, kept while :func:`evaluate` makes them.

    Per chosen clip: its original and its reconstructions by the :data:`LISTEN_SYSTEMS` that ran,
    captioned with their metrics; per chosen pair: the ``ours`` morph steps and the crossfade
    steps. Each render is a player (``<audio controls>``, a base64 16-bit FLAC at the model rate,
    cut to :data:`LISTEN_MAX_DURATION_S`) under a mel spectrogram thumbnail (base64 PNG, one dB
    reference per clip or pair, so levels compare). The page (``listen_template.html`` filled with
    the data as inline JSON) loads nothing from the network; once built it records the number of
    players on ``<body data-players="N">``. A chosen clip or pair that is skipped is missing.
    Size: 10 MB for the defaults (156 renders at 9 steps) on the validation split; at most
    ~0.25 MB per 2 s render (white noise, which FLAC cannot shrink), so ≤ ~40 MB.
    """

    def __init__(self, clips: Sequence[Clip], pairs: Sequence[Pair]):
        self._clip_paths = {clip.path for clip in clips}
        self._pair_paths = {(pair.a.path, pair.b.path) for pair in pairs}
        self.clip_groups: list[dict] = []
        self.pair_groups: list[dict] = []

    @classmethod
    def choose(
        cls,
        clips: Sequence[Clip],
        pairs: Sequence[Pair],
        num_clips: int = LISTEN_CLIPS,
        num_pairs: int = LISTEN_PAIRS,
        seed: int = 0,
    ) -> ListeningPage:
        """A page for ``num_clips`` of ``clips`` spread over categories and ``num_pairs`` of
        ``pairs`` spread over kinds (:func:`spread`)."""
        return cls(
            spread(clips, num_clips, seed, lambda clip: clip.category),
            spread(pairs, num_pairs, seed, lambda pair: pair.kind),
        )

    def add_clip(
        self,
        clip: Clip,
        audio: np.ndarray,
        outputs: dict[str, np.ndarray],
        scores: dict[str, dict[str, float]],
        sample_rate: int,
    ) -> None:
        """Keep ``clip`` if chosen: its ``audio`` and the ``outputs`` of the systems (name → float32
        ``[samples]``, all at ``sample_rate`` Hz) with their ``scores`` (name → metrics)."""
        if clip.path not in self._clip_paths:
            return
        names = [name for name in LISTEN_SYSTEMS if name in outputs]
        cells = _media_cells([audio, *(outputs[name] for name in names)], sample_rate)
        labels, captions = ["original", *names], ["", *(_caption(scores[name]) for name in names)]
        self.clip_groups.append(
            {
                "title": f"{clip.category} — {clip.path.name}",
                "rows": [
                    {
                        "label": "",
                        "cells": [
                            {"label": label, "caption": caption, **cell}
                            for label, caption, cell in zip(labels, captions, cells)
                        ],
                    }
                ],
            }
        )

    def add_pair(self, pair: Pair, grids: dict[str, np.ndarray], sample_rate: int) -> None:
        """Keep ``pair`` if chosen: one row per grid (system name → float32 ``[steps, samples]`` at
        ``sample_rate`` Hz, t = i / (steps − 1))."""
        if (pair.a.path, pair.b.path) not in self._pair_paths:
            return
        cells = iter(_media_cells([step for grid in grids.values() for step in grid], sample_rate))
        rows = [
            {
                "label": name,
                "cells": [{"label": f"t = {t:.2f}", "caption": "", **next(cells)} for t in morph_positions(len(grid))],
            }
            for name, grid in grids.items()
        ]
        self.pair_groups.append({"title": f"{pair.kind} — {pair.a.path.name} → {pair.b.path.name}", "rows": rows})

    def write(self, path: Path, report: dict) -> Path:
        """Write the page to ``path`` (UTF-8; its folder must exist), titled and annotated from the
        ``report`` of the same :func:`evaluate` run. Returns ``path``."""
        from .library.map import _TEMPLATE_FIELDS, _script_json  # the map page's escaping and fields

        model, previous, config = report["model"], report["previous_model"], report["config"]
        notes = [f"ours: model {model['model_id']} (the product path: reconstruct, render_grid)."]
        if previous:
            notes.append(f"previous: model {previous['model_id']}.")
        if MEL_GL_44K in config["baselines"]:
            notes.append(
                f"{MEL_GL_44K}: oracle mel spectrogram (128 bands at 44.1 kHz) + Griffin-Lim, "
                f"{config['gl_iterations']} iterations."
            )
        notes += [
            "crossfade: (1 − t)·A + t·B of the onset-aligned sources.",
            "Captions: MR-STFT distance and log-spectral distance (lower is better), ViSQOL v3 MOS "
            "(1–5, higher is better; on the ViSQOL subset only).",
            f"Renders: first {LISTEN_MAX_DURATION_S:g} s, 16-bit FLAC at {model['sample_rate']} Hz. "
            f"Spectrograms: mel dB, one reference per clip or pair, {THUMBNAIL_RANGE_DB:g} dB range.",
        ]
        data = {
            "notes": notes,
            "sections": [
                {"heading": "Reconstructions", "groups": self.clip_groups},
                {"heading": "Morphs", "groups": self.pair_groups},
            ],
        }
        fields = {
            "TITLE": html.escape(f"LatentMorph listening page — model {model['model_id']}"),
            "DATA": _script_json(data),
        }
        template = resources.files(__package__).joinpath("listen_template.html").read_text(encoding="utf-8")
        path.write_text(_TEMPLATE_FIELDS.sub(lambda m: fields[m.group(1)], template), encoding="utf-8")
        return path


# --- report ---------------------------------------------------------------------------------------


def _cell(entry: dict) -> str:
    if entry["median"] is None:
        return "–"
    return f"{entry['median']:.3g} [{entry['q1']:.3g}, {entry['q3']:.3g}]"


def _table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def markdown_report(report: dict) -> str:
    """The report as markdown: sizes, targets (met / not met), then per system the medians
    [q1, q3] of every metric, overall and per category / pair kind."""
    summary = report["summary"]
    sizes = report["sizes"]
    previous = report["previous_model"]
    lines = [
        f"# LatentMorph evaluation — model `{report['model']['model_id']}`"
        + (f", previous model `{previous['model_id']}`" if previous else ""),
        "",
        f"{sizes['clips']} clips (ViSQOL MOS on {sizes['visqol_clips']}), {sizes['pairs']} pairs "
        f"({', '.join(f'{n} {k}' for k, n in sizes['pairs_by_kind'].items()) or 'none'}), "
        f"{report['config']['steps']} steps, seed {report['config']['seed']}, "
        f"{report['skipped']['count']} skipped. Cells: median [25th, 75th percentile].",
        "",
        "## Targets",
        "",
    ]
    mark = {True: "met", False: "**not met**", None: "not measured"}
    lines += _table(
        ("target", "ours (median)", "threshold", ""),
        (
            (
                t["name"],
                "–" if t["value"] is None else f"{t['value']:.3g}",
                "–" if t["threshold"] is None else f"{t['threshold']:.3g}",
                mark[t["met"]],
            )
            for t in report["targets"]
        ),
    )
    for section, names, group_label in (
        ("reconstruction", RECONSTRUCTION_METRICS, "category"),
        ("morph", MORPH_METRICS, "pair kind"),
    ):
        systems = summary[section]
        if not systems:
            continue
        lines += ["", f"## {section.capitalize()}", ""]
        lines += _table(("system", *names), ((s, *(_cell(v["all"][m]) for m in names)) for s, v in systems.items()))
        lines += ["", f"### {section.capitalize()} per {group_label}", ""]
        groups = sorted({g for v in systems.values() for g in v["groups"]})
        lines += _table(
            (group_label, "n", "system", *names),
            (
                (g, str(v["groups"][g][names[0]]["count"]), s, *(_cell(v["groups"][g][m]) for m in names))
                for g in groups
                for s, v in systems.items()
                if g in v["groups"]
            ),
        )
    if report["skipped"]["count"]:
        lines += ["", "## Skipped", ""] + [f"- {reason}" for reason in report["skipped"]["reasons"]]
    return "\n".join(lines) + "\n"


def save_plot(report: dict, path: Path) -> Path:
    """Box plots (PNG at ``path``, 4 × 3 panels): reconstruction MR-STFT, log-spectral distance,
    HF excess, ViSQOL MOS, the frame-rate comb above the input's and the f0 error of pitched
    clips per system; doubling on pitched pairs, R² of centroid / loudness / attack time, step
    smoothness and largest over median step of the morphs, ours vs crossfade."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def values(rows: list[dict], system: str, metric: str, kind: str | None = None) -> list[float]:
        found = (
            r["systems"][system].get(metric)
            for r in rows
            if system in r["systems"] and (kind is None or r["kind"] == kind)
        )
        return [v for v in found if v is not None and math.isfinite(v)]

    clips, pairs = report["clips"], report["pairs"]
    recon_systems = list(report["summary"]["reconstruction"])
    morph_systems = list(report["summary"]["morph"])
    panels = [
        (title, [(s, values(clips, s, metric)) for s in recon_systems])
        for metric, title in (
            ("mrstft", "reconstruction MR-STFT"),
            ("lsd_db", "log-spectral distance (dB)"),
            ("hf_excess_db", "HF excess > 12 kHz (dB)"),
            ("visqol_mos", "ViSQOL v3 MOS (1–5, higher is better)"),
            ("comb_excess_db", "86 Hz comb above the input's (dB)"),
            ("f0_error_cents", "pitched clips: |f0 error| (cents)"),
        )
    ]
    panels.append(
        ("doubling at t=0.5, pitched pairs", [(s, values(pairs, s, "doubling", "pitched")) for s in morph_systems])
    )
    panels += [
        (title, [(s, values(pairs, s, metric)) for s in morph_systems])
        for metric, title in (
            ("centroid_r2", "morph: centroid R²"),
            ("loudness_r2", "morph: loudness R²"),
            ("attack_r2", "morph: attack-time R²"),
            ("step_smoothness", "morph: step smoothness"),
            ("step_max_over_median", "morph: largest step / median step"),
        )
    ]
    fig, axes = plt.subplots(4, 3, figsize=(11, 13))
    for ax, (title, series) in zip(axes.flat, panels):
        shown = [(name, v) for name, v in series if v]
        if shown:
            ax.boxplot([v for _, v in shown])
            ax.set_xticks(range(1, len(shown) + 1), [name.replace("_", "\n", 1) for name, _ in shown], fontsize=8)
        ax.set_title(title, fontsize=9)
        ax.tick_params(axis="y", labelsize=8)
    fig.suptitle(f"LatentMorph evaluation — {report['model']['model_id']}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def json_safe(value):
    """``value`` (nested dicts / lists) with non-finite floats as ``None`` (strict JSON)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [json_safe(v) for v in value]
    return value


def write_report(report: dict, out_dir: Path) -> tuple[Path, Path, Path]:
    """Write ``eval.json`` (NaN as ``null``), ``eval.md`` and ``eval.png`` into ``out_dir``
    (created); returns their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, md_path, png_path = out_dir / "eval.json", out_dir / "eval.md", out_dir / "eval.png"
    json_path.write_text(json.dumps(json_safe(report), indent=1, ensure_ascii=False) + "\n")
    md_path.write_text(markdown_report(report))
    save_plot(report, png_path)
    return json_path, md_path, png_path

"""Objective evaluation of reconstructions and morphs (``latentmorph eval``, ``make eval``).

Systems compared on the same clips and pairs:

- ``ours``: the model through the product path — :func:`latentmorph.morph.reconstruct` for
  reconstructions, :func:`latentmorph.morph.render_grid` (what the plugin plays) for morphs;
- ``mel_gl_16k_80`` / ``mel_gl_44k_128``: oracle mel spectrogram + Griffin-Lim
  (:class:`MelGriffinLim`), reconstructions only — the ceiling of a spectrogram VAE that decodes
  with Griffin-Lim (NeuralFunk's is 16 kHz / 80 mels);
- ``crossfade``: the waveform crossfade ``(1 − t)·A + t·B`` of the onset-aligned sources, morphs only.

Reconstruction metrics per clip (:func:`reconstruction_metrics`): MR-STFT distance, log-spectral
distance (dB) and HF excess (dB). Morph metrics per pair (:func:`morph_metrics`): linearity R² and
Spearman monotonicity of spectral centroid, loudness and attack time against t; step smoothness;
endpoint fidelity; doubling at t = 0.5. Formulas are in :mod:`latentmorph.metrics`.

The report (:func:`write_report`) is ``eval.json`` (per file, medians with IQR overall and per
category / pair kind, targets), ``eval.md`` (tables) and ``eval.png`` (box plots) in one folder.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import random
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TypeVar

import librosa
import numpy as np
import scipy.signal
import soxr
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from . import metrics
from .audio import AudioLoadError, is_audio_path, load_audio
from .model import MorphModel
from .morph import (ALIGN_MODES, INTERP_MODES, MorphInputError, align_sources, check_choice, morph_positions,
                    prepare_source, reconstruct, render_grid)

#: Categories of the data pipeline (``latentmorph_train.data.CATEGORIES``) that make pair kinds;
#: ``fx`` and ``other`` belong to neither.
PITCHED_CATEGORIES = frozenset({"bass", "keys", "guitar", "strings", "brass", "reed", "pipe", "synth",
                                "pad", "bell", "vocal"})
DRUM_CATEGORIES = frozenset({"kick", "snare", "hat", "cymbal", "tom", "perc"})
#: Auto-built pitched pairs: B's MIDI note at most this far from A's when both are known
#: (FluidR3 notes are rendered every 4 semitones, so this is the same or the next note).
MAX_PAIR_INTERVAL_SEMITONES = 4

RECONSTRUCTION_METRICS = ("mrstft", "lsd_db", "hf_excess_db")
MORPH_METRICS = ("centroid_r2", "centroid_spearman", "loudness_r2", "loudness_spearman", "attack_r2",
                 "attack_spearman", "step_smoothness", "endpoint_mrstft", "endpoint_ratio", "doubling")
OURS, CROSSFADE = "ours", "crossfade"

#: Griffin-Lim iterations of the baselines (librosa's default).
GL_ITERATIONS = 32


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
        clips += [Clip(path, path.parent.name, str(path.resolve()))
                  for path in sorted(folder.rglob("*")) if path.is_file() and is_audio_path(path)]
    if not clips:
        raise EvaluationError(f"no audio files in {', '.join(map(str, dirs))}")
    return clips


def select_clips(clips: Sequence[Clip], limit: int, seed: int) -> list[Clip]:
    """A seeded random subset of ``limit`` clips (all when ``limit`` is 0 or ≥ the count), in
    their original order."""
    if limit <= 0 or limit >= len(clips):
        return list(clips)
    chosen = sorted(random.Random(seed).sample(range(len(clips)), limit))
    return [clips[i] for i in chosen]


def build_pairs(clips: Sequence[Clip], num_pairs: int, seed: int) -> list[Pair]:
    """``num_pairs`` seeded pairs, half ``pitched`` (two :data:`PITCHED_CATEGORIES` clips of
    different categories and recordings, notes at most :data:`MAX_PAIR_INTERVAL_SEMITONES` apart
    when both are known) and half ``drum`` (two :data:`DRUM_CATEGORIES` clips of different
    recordings). A kind without a possible pair gets none; no pair is drawn twice."""
    rng = random.Random(seed)
    pitched = [c for c in clips if c.category in PITCHED_CATEGORIES]
    drums = [c for c in clips if c.category in DRUM_CATEGORIES]

    def pitched_match(a: Clip, b: Clip) -> bool:
        near = a.midi_note is None or b.midi_note is None or abs(a.midi_note - b.midi_note) <= MAX_PAIR_INTERVAL_SEMITONES
        return a.category != b.category and a.recording_key != b.recording_key and near

    def drum_match(a: Clip, b: Clip) -> bool:
        return a.recording_key != b.recording_key

    pairs: list[Pair] = []
    n_pitched = (num_pairs + 1) // 2
    for kind, pool, match, count in (("pitched", pitched, pitched_match, n_pitched),
                                     ("drum", drums, drum_match, num_pairs - n_pitched)):
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
        x = soxr.resample(audio, audio_rate, self.sample_rate, quality="HQ") if audio_rate != self.sample_rate else audio
        x = np.pad(x, (0, max(0, self.n_fft - len(x))))  # at least one frame
        mel = librosa.feature.melspectrogram(y=x, sr=self.sample_rate, n_fft=self.n_fft, hop_length=self.hop_length,
                                             n_mels=self.n_mels)
        magnitude = np.sqrt(np.maximum(_mel_pseudo_inverse(self.sample_rate, self.n_fft, self.n_mels) @ mel, 0.0))
        y = librosa.griffinlim(magnitude, n_iter=self.n_iter, hop_length=self.hop_length, n_fft=self.n_fft,
                               length=len(x))
        if audio_rate != self.sample_rate:
            y = soxr.resample(y, self.sample_rate, audio_rate, quality="HQ")
        out = np.zeros(len(audio), dtype=np.float32)
        out[:min(len(y), len(out))] = y[:len(out)]
        return out


@functools.lru_cache(maxsize=4)
def _mel_pseudo_inverse(sample_rate: int, n_fft: int, n_mels: int) -> np.ndarray:
    return np.linalg.pinv(librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels))


def mel_gl_baselines(n_iter: int = GL_ITERATIONS) -> tuple[MelGriffinLim, ...]:
    """The two baselines: 16 kHz / 80 mels (n_fft 1024, hop 256: NeuralFunk-style) and
    44.1 kHz / 128 mels (n_fft 2048, hop 512)."""
    return (MelGriffinLim("mel_gl_16k_80", 16000, 80, 1024, 256, n_iter),
            MelGriffinLim("mel_gl_44k_128", 44100, 128, 2048, 512, n_iter))


def crossfade_grid(audio_a: np.ndarray, audio_b: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Waveform crossfade ``(1 − t)·A + t·B`` of the sources at their own levels, aligned at their
    onsets as :func:`latentmorph.morph.render_grid` aligns them: float32 ``[steps, samples]``.
    Raises :class:`~latentmorph.morph.MorphInputError` for a silent source."""
    sources = [prepare_source(audio_a, "sample A"), prepare_source(audio_b, "sample B")]
    aligned = align_sources(sources) * np.array([[s.gain] for s in sources], dtype=np.float32)
    return ((1.0 - t)[:, None] * aligned[0] + t[:, None] * aligned[1]).astype(np.float32)


# --- metrics of one item --------------------------------------------------------------------------

def reconstruction_metrics(output: np.ndarray, reference: np.ndarray, sample_rate: int) -> dict[str, float]:
    """``mrstft`` (:func:`~latentmorph.metrics.mrstft_distance`), ``lsd_db``
    (:func:`~latentmorph.metrics.log_spectral_distance_db`) and ``hf_excess_db``
    (:func:`~latentmorph.metrics.hf_excess_db`, above 12 kHz) of ``output`` against ``reference``,
    mono float ``[samples]`` at ``sample_rate`` Hz."""
    return {"mrstft": metrics.mrstft_distance(output, reference),
            "lsd_db": metrics.log_spectral_distance_db(output, reference),
            "hf_excess_db": metrics.hf_excess_db(output, reference, sample_rate)}


def _align_to(step: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """The ``len(reference)`` samples of ``step`` at the lag (≥ 0) of maximum cross-correlation:
    undoes the onset padding of a grid step whatever alignment produced it."""
    if len(step) < len(reference):
        step = np.pad(step, (0, len(reference) - len(step)))
    lag = int(np.argmax(scipy.signal.correlate(step, reference, mode="valid", method="fft")))
    return step[lag:lag + len(reference)]


def morph_metrics(grid: np.ndarray, audio_a: np.ndarray, audio_b: np.ndarray, sample_rate: int) -> dict[str, float]:
    """Metrics of one morph ``grid`` float32 ``[steps, samples]`` (t = i / (steps − 1), steps odd
    so that t = 0.5 is a step) between sources ``audio_a`` and ``audio_b`` ``[samples]``, all at
    ``sample_rate`` Hz:

    - ``{centroid,loudness,attack}_{r2,spearman}``: :func:`~latentmorph.metrics.linearity_r2` and
      :func:`~latentmorph.metrics.monotonicity` against t of the energy-weighted spectral centroid,
      the RMS level (dB) and the 10 %→90 % attack time (ms);
    - ``step_smoothness``: :func:`~latentmorph.metrics.step_smoothness`;
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
    result["endpoint_mrstft"] = 0.5 * (metrics.mrstft_distance(_align_to(grid[0], audio_a), audio_a)
                                       + metrics.mrstft_distance(_align_to(grid[-1], audio_b), audio_b))
    doubling = metrics.doubling_score(grid[steps // 2], audio_a, audio_b, sample_rate)
    result.update(doubling=doubling.score, doubling_r2=doubling.explained_variance,
                  doubling_weight_a=doubling.weight_a, doubling_weight_b=doubling.weight_b)
    return result


# --- the run ----------------------------------------------------------------------------------------

@dataclasses.dataclass
class EvaluationConfig:
    """Options of one run. ``render_options``: keyword arguments forwarded to
    :func:`~latentmorph.morph.render_grid` (``align``, ``interp``) — only those given."""

    steps: int = 9
    seed: int = 0
    baselines: bool = True
    gl_iterations: int = GL_ITERATIONS
    render_options: dict[str, str] = dataclasses.field(default_factory=dict)


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


T = TypeVar("T")
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


def evaluate(model: MorphModel, clips: Sequence[Clip], pairs: Sequence[Pair], config: EvaluationConfig,
             console: Console | None = None) -> dict:
    """Run every system on ``clips`` (reconstruction) and ``pairs`` (morphs).

    Returns the report dict written by :func:`write_report`: ``model``, ``config``, ``sizes``,
    ``skipped`` (count and reasons), ``clips`` / ``pairs`` (per item, per system metrics; NaN
    where undefined), ``summary`` (:func:`summarise`) and ``targets`` (:func:`check_targets`).
    ``ours`` morphs also get ``endpoint_ratio`` = ``endpoint_mrstft`` / mean reconstruction
    MR-STFT of A and B: 1 when the grid's ends are as good as plain reconstructions.
    Clips and pairs that raise one of :data:`SKIPPABLE` are skipped and counted.
    """
    console = console or Console(stderr=True)
    sample_rate = model.sample_rate
    baselines = mel_gl_baselines(config.gl_iterations) if config.baselines else ()
    skipped: list[str] = []

    @functools.lru_cache(maxsize=256)
    def load(path: Path) -> np.ndarray:
        return load_audio(path, sample_rate)[0]

    @functools.lru_cache(maxsize=None)
    def recon_distance(path: Path) -> float:
        audio = load(path)
        return metrics.mrstft_distance(reconstruct(model, audio), audio)

    clip_rows = []
    for clip in _progress(clips, "reconstructions", console):
        try:
            audio = load(clip.path)
            systems = {OURS: reconstruction_metrics(reconstruct(model, audio), audio, sample_rate)}
            for baseline in baselines:
                systems[baseline.name] = reconstruction_metrics(baseline(audio, sample_rate), audio, sample_rate)
        except SKIPPABLE as error:
            skipped.append(f"clip {clip.path}: {error}")
            continue
        clip_rows.append({"path": str(clip.path), "category": clip.category, "systems": systems})

    t = morph_positions(config.steps)
    pair_rows = []
    for pair in _progress(pairs, "morphs", console):
        try:
            a, b = load(pair.a.path), load(pair.b.path)
            grid = render_grid(model, a, b, config.steps, **config.render_options)
            ours = morph_metrics(grid, a, b, sample_rate)
            ours["endpoint_ratio"] = ours["endpoint_mrstft"] / (0.5 * (recon_distance(pair.a.path)
                                                                       + recon_distance(pair.b.path)))
            systems = {OURS: ours, CROSSFADE: morph_metrics(crossfade_grid(a, b, t), a, b, sample_rate)}
        except SKIPPABLE as error:
            skipped.append(f"pair {pair.a.path} → {pair.b.path}: {error}")
            continue
        pair_rows.append({"a": str(pair.a.path), "b": str(pair.b.path), "kind": pair.kind,
                          "categories": [pair.a.category, pair.b.category], "systems": systems})

    report = {
        "model": {"model_id": model.model_id, "sample_rate": sample_rate, "hop_length": model.hop_length},
        "config": {"steps": config.steps, "seed": config.seed, "baselines": [b.name for b in baselines],
                   "gl_iterations": config.gl_iterations, "render_options": config.render_options},
        "sizes": {"clips": len(clip_rows), "pairs": len(pair_rows),
                  "pairs_by_kind": {kind: sum(r["kind"] == kind for r in pair_rows)
                                    for kind in sorted({r["kind"] for r in pair_rows})}},
        "skipped": {"count": len(skipped), "reasons": skipped},
        "clips": clip_rows,
        "pairs": pair_rows,
    }
    report["summary"] = summarise(clip_rows, pair_rows)
    report["targets"] = check_targets(report["summary"])
    return report


def stats(values: Iterable[float]) -> dict[str, float | int | None]:
    """``count`` of finite values, their ``median``, ``q1`` and ``q3`` (25th/75th percentiles;
    ``None`` when there is none)."""
    finite = np.array([v for v in values if v is not None and math.isfinite(v)], dtype=np.float64)
    if finite.size == 0:
        return {"count": 0, "median": None, "q1": None, "q3": None}
    q1, median, q3 = np.percentile(finite, [25, 50, 75])
    return {"count": int(finite.size), "median": float(median), "q1": float(q1), "q3": float(q3)}


def _group_stats(rows: list[dict], names: Sequence[str], group: Callable[[dict], str]) -> dict:
    systems = sorted({s for r in rows for s in r["systems"]}, key=_system_order)
    out: dict = {}
    for system in systems:
        with_system = [r for r in rows if system in r["systems"]]
        out[system] = {"all": {m: stats(r["systems"][system].get(m) for r in with_system) for m in names},
                       "groups": {}}
        for key in sorted({group(r) for r in with_system}):
            members = [r for r in with_system if group(r) == key]
            out[system]["groups"][key] = {m: stats(r["systems"][system].get(m) for r in members) for m in names}
    return out


def _system_order(name: str) -> tuple[int, str]:
    return (0 if name == OURS else 1, name)


def summarise(clip_rows: list[dict], pair_rows: list[dict]) -> dict:
    """Medians with IQR per system: ``reconstruction[system]["all" | "groups"][category][metric]``
    and ``morph[system]["all" | "groups"][pair kind][metric]``."""
    return {"reconstruction": _group_stats(clip_rows, RECONSTRUCTION_METRICS, lambda r: r["category"]),
            "morph": _group_stats(pair_rows, MORPH_METRICS, lambda r: r["kind"])}


@dataclasses.dataclass(frozen=True)
class Target:
    """``system``'s median ``metric`` over ``scope`` (``all`` or a pair kind) must be ``≤`` or
    ``≥`` ``threshold`` (a number, or the median of the same metric of system ``relative_to``)."""

    name: str
    section: str
    metric: str
    op: str
    threshold: float | None = None
    relative_to: str | None = None
    scope: str = "all"


#: The targets of issue 3.
TARGETS = (
    Target("reconstruction MR-STFT ≤ mel+GL 44.1 kHz/128", "reconstruction", "mrstft", "≤", relative_to="mel_gl_44k_128"),
    Target("HF excess ≤ +1 dB", "reconstruction", "hf_excess_db", "≤", 1.0),
    Target("doubling at t=0.5 on pitched pairs ≤ 0.2", "morph", "doubling", "≤", 0.2, scope="pitched"),
    Target("attack-time R² ≥ 0.8", "morph", "attack_r2", "≥", 0.8),
    Target("centroid R² ≥ 0.9", "morph", "centroid_r2", "≥", 0.9),
    Target("loudness R² ≥ 0.9", "morph", "loudness_r2", "≥", 0.9),
    Target("step smoothness ≤ 1.6", "morph", "step_smoothness", "≤", 1.6),
    Target("endpoint MR-STFT within 10 % of reconstruction", "morph", "endpoint_ratio", "≤", 1.1),
)


def _median(summary: dict, section: str, system: str, metric: str, scope: str) -> float | None:
    entry = summary[section].get(system, {})
    group = entry.get("all") if scope == "all" else entry.get("groups", {}).get(scope)
    return (group or {}).get(metric, {}).get("median")


def check_targets(summary: dict) -> list[dict]:
    """Each of :data:`TARGETS` for system ``ours``: ``name``, ``value`` (median), ``threshold``,
    ``met`` (``None`` when either side could not be measured, e.g. no pitched pair or no
    baseline)."""
    results = []
    for target in TARGETS:
        value = _median(summary, target.section, OURS, target.metric, target.scope)
        threshold = (_median(summary, target.section, target.relative_to, target.metric, target.scope)
                     if target.relative_to else target.threshold)
        met = None if value is None or threshold is None else (value <= threshold if target.op == "≤" else value >= threshold)
        results.append({"name": target.name, "metric": target.metric, "scope": target.scope, "op": target.op,
                        "value": value, "threshold": threshold, "met": met})
    return results


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
    lines = [f"# LatentMorph evaluation — model `{report['model']['model_id']}`", "",
             f"{sizes['clips']} clips, {sizes['pairs']} pairs "
             f"({', '.join(f'{n} {k}' for k, n in sizes['pairs_by_kind'].items()) or 'none'}), "
             f"{report['config']['steps']} steps, seed {report['config']['seed']}, "
             f"{report['skipped']['count']} skipped. Cells: median [25th, 75th percentile].", "",
             "## Targets", ""]
    mark = {True: "met", False: "**not met**", None: "not measured"}
    lines += _table(("target", "ours (median)", "threshold", ""), (
        (t["name"], "–" if t["value"] is None else f"{t['value']:.3g}",
         "–" if t["threshold"] is None else f"{t['threshold']:.3g}", mark[t["met"]]) for t in report["targets"]))
    for section, names, group_label in (("reconstruction", RECONSTRUCTION_METRICS, "category"),
                                        ("morph", MORPH_METRICS, "pair kind")):
        systems = summary[section]
        if not systems:
            continue
        lines += ["", f"## {section.capitalize()}", ""]
        lines += _table(("system", *names), ((s, *(_cell(v["all"][m]) for m in names)) for s, v in systems.items()))
        lines += ["", f"### {section.capitalize()} per {group_label}", ""]
        groups = sorted({g for v in systems.values() for g in v["groups"]})
        lines += _table((group_label, "n", "system", *names), (
            (g, str(v["groups"][g][names[0]]["count"]), s, *(_cell(v["groups"][g][m]) for m in names))
            for g in groups for s, v in systems.items() if g in v["groups"]))
    if report["skipped"]["count"]:
        lines += ["", "## Skipped", ""] + [f"- {reason}" for reason in report["skipped"]["reasons"]]
    return "\n".join(lines) + "\n"


def save_plot(report: dict, path: Path) -> Path:
    """Box plots (PNG at ``path``, 2 × 4 panels): reconstruction MR-STFT, log-spectral distance and
    HF excess per system; doubling on pitched pairs, R² of centroid / loudness / attack time and
    step smoothness of the morphs, ours vs crossfade."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def values(rows: list[dict], system: str, metric: str, kind: str | None = None) -> list[float]:
        return [r["systems"][system][metric] for r in rows if system in r["systems"]
                and (kind is None or r["kind"] == kind) and math.isfinite(r["systems"][system][metric])]

    clips, pairs = report["clips"], report["pairs"]
    recon_systems = list(report["summary"]["reconstruction"])
    morph_systems = list(report["summary"]["morph"])
    panels = [(title, [(s, values(clips, s, metric)) for s in recon_systems])
              for metric, title in (("mrstft", "reconstruction MR-STFT"), ("lsd_db", "log-spectral distance (dB)"),
                                    ("hf_excess_db", "HF excess > 12 kHz (dB)"))]
    panels.append(("doubling at t=0.5, pitched pairs", [(s, values(pairs, s, "doubling", "pitched")) for s in morph_systems]))
    panels += [(title, [(s, values(pairs, s, metric)) for s in morph_systems])
               for metric, title in (("centroid_r2", "morph: centroid R²"), ("loudness_r2", "morph: loudness R²"),
                                     ("attack_r2", "morph: attack-time R²"), ("step_smoothness", "morph: step smoothness"))]
    fig, axes = plt.subplots(2, 4, figsize=(13, 7))
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

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

The modules: :mod:`.inputs` (clips and pairs), :mod:`.systems`, :mod:`.item_metrics` (one clip or
pair), :mod:`.run` (:func:`evaluate`), :mod:`.summary` (statistics and targets),
:mod:`.listening` (``listen.html``) and :mod:`.report`; this package re-exports what the CLI and
the tests use.
"""

from __future__ import annotations

from .inputs import (
    DRUM_CATEGORIES,
    MAX_PAIR_INTERVAL_SEMITONES,
    PITCHED_CATEGORIES,
    Clip,
    EvaluationError,
    Pair,
    build_pairs,
    clips_from_dirs,
    clips_from_manifest,
    read_pairs,
    select_clips,
    spread,
)
from .item_metrics import MORPH_METRICS, RECONSTRUCTION_METRICS, morph_metrics, reconstruction_metrics, visqol_mos
from .listening import LISTEN_MAX_DURATION_S, ListeningPage
from .report import json_safe, markdown_report, save_plot, write_report
from .run import EvaluationConfig, evaluate, render_options
from .summary import TARGETS, Target, check_targets, stats, summarise
from .systems import GL_ITERATIONS, MelGriffinLim, ModelReconstruction, crossfade_grid, mel_gl_baselines

__all__ = [
    "DRUM_CATEGORIES",
    "GL_ITERATIONS",
    "LISTEN_MAX_DURATION_S",
    "MAX_PAIR_INTERVAL_SEMITONES",
    "MORPH_METRICS",
    "PITCHED_CATEGORIES",
    "RECONSTRUCTION_METRICS",
    "TARGETS",
    "Clip",
    "EvaluationConfig",
    "EvaluationError",
    "ListeningPage",
    "MelGriffinLim",
    "ModelReconstruction",
    "Pair",
    "Target",
    "build_pairs",
    "check_targets",
    "clips_from_dirs",
    "clips_from_manifest",
    "crossfade_grid",
    "evaluate",
    "json_safe",
    "markdown_report",
    "mel_gl_baselines",
    "morph_metrics",
    "read_pairs",
    "reconstruction_metrics",
    "render_options",
    "save_plot",
    "select_clips",
    "spread",
    "stats",
    "summarise",
    "visqol_mos",
    "write_report",
]

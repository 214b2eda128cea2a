"""One evaluation run: every system on the clips and pairs, the report dict."""

from __future__ import annotations

import dataclasses
import functools
import math
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from .. import metrics
from ..audio import AudioLoadError, load_audio
from ..model import MorphModel
from ..latents import ALIGN_MODES, INTERP_MODES, check_choice
from ..morph import MorphInputError, morph_positions, reconstruct, render_grid
from .inputs import PITCHED_CATEGORIES, Clip, Pair, select_clips
from .item_metrics import morph_metrics, reconstruction_metrics
from .listening import ListeningPage
from .summary import check_targets, summarise
from .systems import (
    CROSSFADE,
    GL_ITERATIONS,
    OURS,
    PREVIOUS,
    MelGriffinLim,
    ModelReconstruction,
    crossfade_grid,
    mel_gl_baselines,
)

#: Clips scored with ViSQOL by default (seeded subset; 0: all): ~0.2–0.4 s per clip and system.
VISQOL_LIMIT = 50

T = TypeVar("T")


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

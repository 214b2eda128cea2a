"""The report files of a run: ``eval.json``, ``eval.md`` (tables) and ``eval.png`` (box plots)."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from pathlib import Path

from .item_metrics import MORPH_METRICS, RECONSTRUCTION_METRICS


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

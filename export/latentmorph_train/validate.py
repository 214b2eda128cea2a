"""Validation of an exported model on the held-out split:
``python -m latentmorph_train.validate --data .data [--model-dir DIR] [--out report.json]``.

Reconstructs every ``valid`` clip of the manifest through the ONNX model (the runtime path:
``latentmorph.morph.reconstruct``) and reports the multi-resolution STFT distance
(``latentmorph.metrics.mrstft_distance``) as median, IQR and mean, overall and per source.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import soundfile as sf
import typer
from rich.console import Console
from rich.progress import track

from latentmorph.metrics import mrstft_distance
from latentmorph.model import MorphModel
from latentmorph.morph import reconstruct

console = Console(stderr=True)
app = typer.Typer(add_completion=False)


def _stats(values: list[float]) -> dict:
    q1, median, q3 = np.percentile(values, [25, 50, 75])
    return {
        "count": len(values),
        "median": float(median),
        "iqr": [float(q1), float(q3)],
        "mean": float(np.mean(values)),
    }


def save_training_curves(metrics_path: Path, png_path: Path) -> Path:
    """Plot train MR-STFT loss (smoothed), KL and validation MR-STFT against step from a run's
    ``metrics.jsonl``; writes ``png_path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = [json.loads(line) for line in metrics_path.read_text().splitlines() if line.strip()]
    train = [r for r in records if "mrstft" in r]
    valid = [r for r in records if "valid_mrstft" in r]
    fig, (ax_loss, ax_kl) = plt.subplots(1, 2, figsize=(11, 3.6))
    steps = np.array([r["step"] for r in train])
    loss = np.array([r["mrstft"] for r in train])
    kernel = np.ones(min(20, len(loss))) / min(20, len(loss))
    ax_loss.plot(steps, loss, color="0.8", lw=0.8, label="train (every 25 steps)")
    ax_loss.plot(steps[len(kernel) - 1 :], np.convolve(loss, kernel, mode="valid"), lw=1.5, label="train, smoothed")
    ax_loss.plot([r["step"] for r in valid], [r["valid_mrstft"] for r in valid], "o-", label="validation")
    ax_loss.set(xlabel="step", ylabel="MR-STFT loss", title="reconstruction")
    ax_loss.legend()
    ax_kl.plot(steps, [r["kl"] for r in train], lw=0.8)
    ax_kl.set(xlabel="step", ylabel="nats / frame", title="KL divergence")
    fig.tight_layout()
    fig.savefig(png_path, dpi=100)
    plt.close(fig)
    return png_path


def validate_model(data_dir: Path, model: MorphModel) -> dict:
    """Per-clip MR-STFT distances of reconstructions, summarised overall and per source."""
    rows = [json.loads(line) for line in (data_dir / "manifest.jsonl").read_text().splitlines() if line.strip()]
    rows = [r for r in rows if r["split"] == "valid"]
    by_source: dict[str, list[float]] = {}
    for row in track(rows, description="validating", console=console):
        audio, rate = sf.read(data_dir / row["path"], dtype="float32")
        if rate != model.sample_rate:
            raise ValueError(f"{row['path']}: {rate} Hz, model runs at {model.sample_rate} Hz")
        distance = mrstft_distance(reconstruct(model, audio), audio)
        by_source.setdefault(row["source"], []).append(distance)
    everything = [d for values in by_source.values() for d in values]
    return {
        "model_id": model.model_id,
        "mrstft_distance": _stats(everything),
        "by_source": {source: _stats(values) for source, values in sorted(by_source.items())},
    }


@app.command()
def main(
    data: Path = typer.Option(Path(".data"), help="data dir with manifest.jsonl"),
    model_dir: Path | None = typer.Option(None, help="ONNX model dir (default: the shipped model)"),
    out: Path | None = typer.Option(None, help="write the report as JSON here"),
    curves: Path | None = typer.Option(None, help="also plot this run's metrics.jsonl next to --out"),
) -> None:
    """Report the validation MR-STFT distance of an exported model."""
    if curves and out:
        console.print(f"wrote {save_training_curves(curves, out.with_suffix('.png'))}")
    report = validate_model(data, MorphModel.load(model_dir))
    text = json.dumps(report, indent=2)
    if out:
        out.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    app()

"""Command line: ``latentmorph morph A B --steps 9 --out DIR``, ``latentmorph reconstruct IN OUT`` and
``latentmorph map --out map.html``.

Errors (unreadable audio, missing model) are printed as one clear line and exit with status 1.
"""

from __future__ import annotations

import json
from pathlib import Path

import soundfile as sf
import typer
from rich.console import Console

from .audio import AudioLoadError, load_audio
from .library import LibraryError, commands as library_commands, default_db_path
from .library.map import build_map
from .model import ModelError, MorphModel
from .morph import MorphInputError, morph_positions, reconstruct, render_grid
from .plots import save_grid_spectrograms

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="LatentMorph: morph between samples in a learned latent space.")
console = Console(stderr=True)
library_commands.register(app)  # index, similar, tags, library-eval

MODEL_DIR_OPTION = typer.Option(None, "--model-dir", help="folder with encoder.onnx/decoder.onnx "
                                "(default: the shipped model, or $LATENTMORPH_MODEL_DIR)")


def _fail(error: Exception) -> None:
    console.print(f"[bold red]error:[/] {error}", soft_wrap=True, highlight=False)
    raise typer.Exit(1)


def _load_model(model_dir: Path | None) -> MorphModel:
    try:
        return MorphModel.load(model_dir)
    except ModelError as error:
        _fail(error)


@app.command()
def morph(
    sample_a: Path = typer.Argument(..., help="first source (t = 0)"),
    sample_b: Path = typer.Argument(..., help="second source (t = 1)"),
    steps: int = typer.Option(9, min=2, max=65, help="grid steps K, t = i/(K-1)"),
    out: Path = typer.Option(Path("morph_out"), help="output folder"),
    model_dir: Path | None = MODEL_DIR_OPTION,
) -> None:
    """Write one WAV per morph step (step_00_t0.000.wav …) and morph.png with their spectrograms."""
    model = _load_model(model_dir)
    try:
        a, _ = load_audio(sample_a, model.sample_rate)
        b, _ = load_audio(sample_b, model.sample_rate)
        with console.status(f"rendering {steps} steps"):
            grid = render_grid(model, a, b, steps)
    except (AudioLoadError, MorphInputError) as error:
        _fail(error)
    out.mkdir(parents=True, exist_ok=True)
    for i, (t, audio) in enumerate(zip(morph_positions(steps), grid)):
        path = out / f"step_{i:02d}_t{t:.3f}.wav"
        sf.write(path, audio, model.sample_rate, subtype="FLOAT")
        console.print(f"wrote {path}")
    png = save_grid_spectrograms(grid, model.sample_rate, out / "morph.png",
                                 title=f"{sample_a.name} → {sample_b.name} ({model.model_id})")
    console.print(f"wrote {png}")


@app.command("reconstruct")
def reconstruct_command(
    input_path: Path = typer.Argument(..., metavar="IN", help="audio file to encode and decode"),
    output_path: Path = typer.Argument(..., metavar="OUT", help="WAV to write (float, model rate)"),
    model_dir: Path | None = MODEL_DIR_OPTION,
) -> None:
    """Encode and decode one file through the model."""
    model = _load_model(model_dir)
    try:
        audio, _ = load_audio(input_path, model.sample_rate)
        out = reconstruct(model, audio)
    except (AudioLoadError, MorphInputError) as error:
        _fail(error)
    sf.write(output_path, out, model.sample_rate, subtype="FLOAT")
    console.print(f"wrote {output_path}")


@app.command("map")
def map_command(
    out: Path = typer.Option(Path("map.html"), "--out", help="interactive HTML map to write"),
    png: Path | None = typer.Option(None, "--png", help="static PNG to write (default: --out with .png)"),
    db: Path | None = typer.Option(None, "--db", help="library database (default: $LATENTMORPH_LIBRARY_DB, "
                                   "else library.sqlite in the user data folder)"),
    category: str | None = typer.Option(None, "--category", help="map only the sounds with this tag"),
    seed: int = typer.Option(0, help="t-SNE random seed (the same seed gives the same map)"),
    as_json: bool = typer.Option(False, "--json", help="print the report as JSON on stdout"),
) -> None:
    """Write a 2-D t-SNE map of the library: an HTML page (colour: tag, hover: name, click: play) and a PNG."""
    db_path = db if db is not None else default_db_path()
    png_path = png if png is not None else out.with_suffix(".png")
    try:
        with console.status(f"laying out the library {db_path} with t-SNE"):
            report = build_map(db_path, out, png_path=png_path, category=category, seed=seed)
    except LibraryError as error:
        _fail(error)
    if as_json:
        typer.echo(json.dumps(report.to_json()))
    else:
        console.print(f"wrote {report.html_path} and {report.png_path}: {report.num_points} sounds, "
                      f"{report.num_tags} tags, {report.seconds:.1f} s")


if __name__ == "__main__":
    app()

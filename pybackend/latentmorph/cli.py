"""Command line: ``latentmorph morph A B --steps 9 --out DIR``, ``latentmorph reconstruct IN OUT``,
``latentmorph eval [DIR ...] [--manifest M --split valid]`` and ``latentmorph map --out map.html``;
``latentmorph blend A B [C D] --weights …``, ``new``, ``variation FILE`` and ``fit-prior`` (morph.py, generate.py).

Errors (unreadable audio, missing model) are printed as one clear line and exit with status 1.
The tools (evaluation, plots, the library map: matplotlib, scikit-learn, ViSQOL; the ``tools``
extra) are imported by the commands that use them, so ``--help`` and the morph commands start
without them and a missing extra is one clear error.
"""

from __future__ import annotations

import importlib
import json
import warnings
from pathlib import Path
from types import ModuleType
from typing import NoReturn

import numpy as np
import soundfile as sf
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import track

from .audio import AudioLoadError, AudioTruncatedWarning, load_audio
from .generate import PRIOR_FILE, fit_latent_prior, sample_prior, variation
from .library import LibraryError, default_db_path
from .library import commands as library_commands
from .model import ModelError, MorphModel, default_model_dir
from .latents import ALIGN_MODES, DEFAULT_ALIGN, DEFAULT_INTERP, INTERP_MODES
from .morph import (
    DEFAULT_DETAIL,
    MAX_SOURCES,
    MorphInputError,
    blend,
    morph_positions,
    reconstruct,
    render_grid,
)
from .protocol import MAX_COUNT, MAX_STEPS
from .render import commands as render_commands

app = typer.Typer(
    add_completion=False, no_args_is_help=True, help="LatentMorph: morph between samples in a learned latent space."
)
console = Console(stderr=True)
library_commands.register(app)  # index, similar, tags, library-eval
render_commands.register(app)  # render: batches through the VST3 (heavy imports inside the command)

MODEL_DIR_OPTION = typer.Option(
    None,
    "--model-dir",
    help="folder with encoder.onnx/decoder.onnx (default: the shipped model, or $LATENTMORPH_MODEL_DIR)",
)


def _choice(allowed: tuple[str, ...]):
    """Option callback refusing values outside ``allowed`` with a usage error."""

    def check(value: str) -> str:
        if value not in allowed:
            raise typer.BadParameter(f"{value!r} is not one of {', '.join(allowed)}")
        return value

    return check


ALIGN_OPTION = typer.Option(
    DEFAULT_ALIGN,
    callback=_choice(ALIGN_MODES),
    help="latent alignment: onset (pad so onsets coincide) or dtw (also "
    "time-warp the latent sequences against each other)",
)
INTERP_OPTION = typer.Option(
    DEFAULT_INTERP, callback=_choice(INTERP_MODES), help="latent interpolation per frame: linear or slerp (spherical)"
)
DETAIL_OPTION = typer.Option(
    DEFAULT_DETAIL,
    min=0.0,
    max=1.0,
    help="how far each source's residual (its detail the model misses) "
    "reaches into the morph: 0 = pure model between the ends",
)
JSON_OPTION = typer.Option(False, "--json", help="print the written files as JSON on stdout")


def _fail(error: Exception) -> NoReturn:
    """Print ``error`` as one line (as text: a path with [brackets] is not markup) and exit with status 1."""
    console.print(f"[bold red]error:[/] {escape(str(error))}", soft_wrap=True, highlight=False)
    raise typer.Exit(1)


def _tool(module: str) -> ModuleType:
    """Import a tools module of this package (``.plots``, ``.evaluation``, ``.library.map``), or fail
    saying how to install the ``tools`` extra it needs."""
    try:
        return importlib.import_module(module, __package__)
    except ModuleNotFoundError as error:
        _fail(RuntimeError(f"the `{error.name}` module is missing: install the tools, pip install -e '.[tools]'"))


def _warn(message: str) -> None:
    console.print(f"[bold yellow]warning:[/] {escape(message)}", soft_wrap=True, highlight=False)


def _show_warning(
    message: Warning | str, category: type[Warning], filename: str, lineno: int, file=None, line: str | None = None
) -> None:
    """``warnings.showwarning`` of the CLI: one line, as the errors are."""
    _warn(str(message))


@app.callback()
def _main() -> None:
    # every command: the loader's warnings (a file cut at the length limit) each time, one line each
    warnings.simplefilter("always", AudioTruncatedWarning)
    warnings.showwarning = _show_warning


def _limit_peak(audio: np.ndarray, what: str) -> np.ndarray:
    """``audio`` scaled down to a peak of 1 (full scale) when it is louder, saying so; a float WAV
    would otherwise hold values that clip wherever it is played."""
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    if peak <= 1.0:
        return audio
    _warn(f"{what} peaked at {peak:.3g} ({20 * np.log10(peak):+.1f} dBFS): scaled down to full scale")
    return (audio / peak).astype(np.float32)


def _load_model(model_dir: Path | None) -> MorphModel:
    try:
        return MorphModel.load(model_dir)
    except ModelError as error:
        _fail(error)


def _write_wavs(audio: np.ndarray, sample_rate: int, paths: list[Path], json_output: bool = False) -> None:
    """Write ``audio [n, samples]`` as float WAVs, one per path (their folder is created)."""
    for path, clip in zip(paths, audio):
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, clip, sample_rate, subtype="FLOAT")
        console.print(f"wrote {path}", highlight=False)
    if json_output:
        typer.echo(json.dumps({"files": [str(p) for p in paths], "sample_rate": sample_rate}))


@app.command()
def morph(
    sample_a: Path = typer.Argument(..., help="first source (t = 0)"),
    sample_b: Path = typer.Argument(..., help="second source (t = 1)"),
    steps: int = typer.Option(9, min=2, max=MAX_STEPS, help="grid steps K, t = i/(K-1)"),
    out: Path = typer.Option(Path("morph_out"), help="output folder"),
    align: str = ALIGN_OPTION,
    interp: str = INTERP_OPTION,
    detail: float = DETAIL_OPTION,
    model_dir: Path | None = MODEL_DIR_OPTION,
) -> None:
    """Write one WAV per morph step (step_00_t0.000.wav …) and morph.png with their spectrograms.
    The first and last steps are the sources themselves."""
    model = _load_model(model_dir)
    try:
        a, _ = load_audio(sample_a, model.sample_rate)
        b, _ = load_audio(sample_b, model.sample_rate)
        with console.status(f"rendering {steps} steps"):
            grid = render_grid(model, a, b, steps, align=align, interp=interp, detail=detail)
    except (AudioLoadError, MorphInputError) as error:
        _fail(error)
    _write_wavs(
        grid, model.sample_rate, [out / f"step_{i:02d}_t{t:.3f}.wav" for i, t in enumerate(morph_positions(steps))]
    )
    png = _tool(".plots").save_grid_spectrograms(
        grid, model.sample_rate, out / "morph.png", title=f"{sample_a.name} → {sample_b.name} ({model.model_id})"
    )
    console.print(f"wrote {png}")


@app.command("reconstruct")
def reconstruct_command(
    input_path: Path = typer.Argument(..., metavar="IN", help="audio file to encode and decode"),
    output_path: Path = typer.Argument(..., metavar="OUT", help="WAV to write (float, model rate)"),
    model_dir: Path | None = MODEL_DIR_OPTION,
) -> None:
    """Encode and decode one file through the model, at the file's level, limited to full scale as a
    morph is (said when it is)."""
    model = _load_model(model_dir)
    try:
        audio, _ = load_audio(input_path, model.sample_rate)
        out = reconstruct(model, audio)
    except (AudioLoadError, MorphInputError) as error:
        _fail(error)
    sf.write(output_path, _limit_peak(out, "the reconstruction"), model.sample_rate, subtype="FLOAT")
    console.print(f"wrote {output_path}")


@app.command("pitch")
def pitch_command(
    paths: list[Path] = typer.Argument(..., metavar="FILE...", help="samples to read the root note of"),
    json_output: bool = typer.Option(False, "--json", help="print one JSON object per file on stdout"),
) -> None:
    """The root note of each sample, as the plugin maps it (pyin; a sound without a steady pitch
    gets C4 and the reason). Exits 1 when any file cannot be read."""
    from .pitch import detect_root_note

    failed = False
    for path in paths:
        try:
            audio, rate = load_audio(path)
            root = detect_root_note(audio, rate)
        except (AudioLoadError, ValueError) as error:
            console.print(f"[bold red]error:[/] {path}: {error}", soft_wrap=True, highlight=False)
            failed = True
            continue
        if json_output:
            typer.echo(json.dumps({"path": str(path), **root.to_json()}))
        else:
            console.print(f"{path}: {root.message}", soft_wrap=True, highlight=False)
    if failed:
        raise typer.Exit(1)


@app.command("blend")
def blend_command(
    samples: list[Path] = typer.Argument(..., metavar="A B [C [D]]", help=f"2 to {MAX_SOURCES} sources"),
    weights: list[str] = typer.Option(
        ...,
        "--weights",
        help="one weight per source, comma-separated, "
        'each ≥ 0, summing to 1 ("0.25,0.25,0.25,0.25"); repeat for '
        "more points",
    ),
    out: Path = typer.Option(Path("blend_out"), help="output folder"),
    align: str = ALIGN_OPTION,
    interp: str = INTERP_OPTION,
    detail: float = DETAIL_OPTION,
    model_dir: Path | None = MODEL_DIR_OPTION,
    json_output: bool = JSON_OPTION,
) -> None:
    """N-way morph: write one WAV per --weights row (blend_00.wav …)."""
    if not 2 <= len(samples) <= MAX_SOURCES:
        _fail(ValueError(f"give 2 to {MAX_SOURCES} sources, got {len(samples)}"))
    rows = []
    for row in weights:
        try:
            rows.append([float(w) for w in row.split(",")])
        except ValueError:
            _fail(ValueError(f"--weights {row!r} is not a comma-separated list of numbers"))
        if len(rows[-1]) != len(samples):
            _fail(ValueError(f"--weights {row!r} has {len(rows[-1])} values for {len(samples)} sources"))
    model = _load_model(model_dir)
    try:
        sources = [load_audio(path, model.sample_rate)[0] for path in samples]
        with console.status(f"rendering {len(rows)} points"):
            audio = blend(model, sources, np.array(rows), align=align, interp=interp, detail=detail)
    except (AudioLoadError, ValueError) as error:
        _fail(error)
    _write_wavs(audio, model.sample_rate, [out / f"blend_{i:02d}.wav" for i in range(len(rows))], json_output)


@app.command("new")
def new_command(
    seconds: float = typer.Option(1.5, min=0.01, help="length of each sound in seconds (≤ 2)"),
    count: int = typer.Option(4, min=1, max=MAX_COUNT, help="number of sounds"),
    seed: int = typer.Option(0, min=0, help="random seed (the same seed gives the same sounds)"),
    temperature: float = typer.Option(1.0, min=0.0, help="spread around the mean sound (0: the mean)"),
    prior: Path | None = typer.Option(None, help=f"latent prior file (default: {PRIOR_FILE} in the model folder)"),
    out: Path = typer.Option(Path("new_out"), help="output folder"),
    model_dir: Path | None = MODEL_DIR_OPTION,
    json_output: bool = JSON_OPTION,
) -> None:
    """New sounds sampled from the latent prior of the training clips: new_00.wav …"""
    model = _load_model(model_dir)
    try:
        audio = sample_prior(
            model, seconds, count, seed, temperature, prior=prior or (model_dir or default_model_dir()) / PRIOR_FILE
        )
    except ValueError as error:
        _fail(error)
    _write_wavs(audio, model.sample_rate, [out / f"new_{i:02d}.wav" for i in range(count)], json_output)


@app.command("variation")
def variation_command(
    input_path: Path = typer.Argument(..., metavar="FILE", help="audio file to vary"),
    amount: float = typer.Option(0.3, min=0.0, max=1.0, help="noise relative to the latent's std per dimension"),
    count: int = typer.Option(4, min=1, max=MAX_COUNT, help="number of variations"),
    seed: int = typer.Option(0, min=0, help="random seed (the same seed gives the same variations)"),
    out: Path = typer.Option(Path("variation_out"), help="output folder"),
    model_dir: Path | None = MODEL_DIR_OPTION,
    json_output: bool = JSON_OPTION,
) -> None:
    """Variations of one sound (small smooth latent perturbations): variation_00.wav …"""
    model = _load_model(model_dir)
    try:
        audio, _ = load_audio(input_path, model.sample_rate)
        renders = variation(model, audio, amount, count, seed)
    except (AudioLoadError, ValueError) as error:
        _fail(error)
    _write_wavs(renders, model.sample_rate, [out / f"variation_{i:02d}.wav" for i in range(count)], json_output)


@app.command("fit-prior")
def fit_prior_command(
    manifest: Path = typer.Option(Path(".data/manifest.jsonl"), help="data manifest (JSON lines)"),
    split: str = typer.Option("train", help="manifest split to fit on"),
    max_clips: int = typer.Option(2000, min=1, help="clips used, seeded random subset"),
    seed: int = typer.Option(0, help="seed of the subset"),
    components: int = typer.Option(64, min=1, help="principal components kept"),
    out: Path | None = typer.Option(None, help=f"file to write (default: {PRIOR_FILE} in the model folder)"),
    model_dir: Path | None = MODEL_DIR_OPTION,
) -> None:
    """Fit the latent prior that `latentmorph new` samples from (run after every model export)."""
    evaluation = _tool(".evaluation")
    try:
        clips = evaluation.select_clips(evaluation.clips_from_manifest(manifest, split), max_clips, seed)
    except evaluation.EvaluationError as error:
        _fail(error)
    model = _load_model(model_dir)
    loaded = (
        load_audio(clip.path, model.sample_rate)[0]
        for clip in track(clips, description="encoding clips", console=console)
    )
    try:
        prior = fit_latent_prior(model, loaded, n_components=components)
    except (AudioLoadError, ValueError) as error:
        _fail(error)
    path = prior.save(out or (model_dir or default_model_dir()) / PRIOR_FILE)
    console.print(
        f"wrote {path}: {prior.num_clips} clips, {components} components keep "
        f"{100 * prior.explained_variance:.1f} % of the variance",
        highlight=False,
    )


@app.command("eval")
def eval_command(
    dirs: list[Path] = typer.Argument(None, metavar="[DIR]...", help="folders of audio (category = parent folder)"),
    manifest: Path | None = typer.Option(None, help="data manifest (JSON lines) instead of folders"),
    split: str = typer.Option("valid", help="manifest split to evaluate"),
    pairs: Path | None = typer.Option(
        None, help="morph pairs, lines 'A<TAB>B[<TAB>kind]' (default: built from the clips)"
    ),
    model_dir: Path | None = MODEL_DIR_OPTION,
    steps: int = typer.Option(9, min=3, max=MAX_STEPS, help="morph steps K (odd: t = 0.5 must be a step)"),
    limit: int = typer.Option(150, min=0, help="clips for reconstruction, seeded random subset (0: all)"),
    num_pairs: int = typer.Option(100, min=0, help="pairs built when no --pairs is given (half pitched, half drum)"),
    seed: int = typer.Option(0, help="seed of the clip subset and the pairs"),
    baselines: bool = typer.Option(True, help="also run the oracle mel + Griffin-Lim baselines"),
    gl_iterations: int | None = typer.Option(
        None, min=1, help="Griffin-Lim iterations of the baselines (default: evaluation.GL_ITERATIONS, 32)"
    ),
    align: str | None = typer.Option(None, help="forwarded to render_grid(align=...) when given"),
    interp: str | None = typer.Option(None, help="forwarded to render_grid(interp=...) when given"),
    previous_model: Path | None = typer.Option(
        None,
        "--previous-model",
        metavar="DIR",
        help="an earlier model folder: its reconstructions are scored as system 'previous' and heard on listen.html",
    ),
    visqol_limit: int = typer.Option(
        50, min=0, help="clips also scored with ViSQOL (~0.3 s per clip and system), seeded subset (0: all)"
    ),
    listen_clips: int = typer.Option(12, min=0, help="clips on listen.html, spread over categories"),
    listen_pairs: int = typer.Option(6, min=0, help="pairs on listen.html, spread over kinds"),
    out: Path = typer.Option(Path("out/eval"), help="folder for eval.json, eval.md, eval.png, listen.html"),
    json_output: bool = typer.Option(False, "--json", help="print summary and targets as JSON on stdout"),
) -> None:
    """Objective reconstruction and morph metrics of the model against baselines (see eval.md), and
    listen.html: originals, reconstructions and morph steps to hear side by side."""
    evaluation = _tool(".evaluation")
    if steps % 2 == 0:
        _fail(ValueError(f"--steps must be odd so that t = 0.5 is a step, got {steps}"))
    if bool(dirs) == (manifest is not None):
        _fail(ValueError("give folders or --manifest (one of the two)"))
    try:
        clips = evaluation.clips_from_manifest(manifest, split) if manifest else evaluation.clips_from_dirs(dirs)
        pair_list = evaluation.read_pairs(pairs, clips) if pairs else evaluation.build_pairs(clips, num_pairs, seed)
        render_options = evaluation.render_options(align, interp)
    except ValueError as error:  # EvaluationError, or an unknown align / interp
        _fail(error)
    model = _load_model(model_dir)
    previous = _load_model(previous_model) if previous_model is not None else None
    selected = evaluation.select_clips(clips, limit, seed)
    console.print(
        f"model {model.model_id}: {len(selected)} of {len(clips)} clips, {len(pair_list)} pairs, "
        f"{steps} steps, baselines {'on' if baselines else 'off'}"
        + (f", previous model {previous.model_id}" if previous else ""),
        highlight=False,
    )
    config = evaluation.EvaluationConfig(
        steps, seed, baselines, gl_iterations or evaluation.GL_ITERATIONS, render_options, visqol_limit
    )
    listening = evaluation.ListeningPage.choose(selected, pair_list, listen_clips, listen_pairs, seed)
    report = evaluation.evaluate(model, selected, pair_list, config, console, previous, listening)
    paths = (*evaluation.write_report(report, out), listening.write(out / "listen.html", report))
    if json_output:
        typer.echo(json.dumps(evaluation.json_safe({k: report[k] for k in ("model", "sizes", "summary", "targets")})))
    else:
        console.print(evaluation.markdown_report(report).split("\n## Reconstruction")[0], highlight=False)
    console.print(f"wrote {', '.join(map(str, paths))}", highlight=False)


@app.command("map")
def map_command(
    out: Path = typer.Option(Path("map.html"), "--out", help="interactive HTML map to write"),
    png: Path | None = typer.Option(None, "--png", help="static PNG to write (default: --out with .png)"),
    db: Path | None = typer.Option(
        None,
        "--db",
        help="library database (default: $LATENTMORPH_LIBRARY_DB, else library.sqlite in the user data folder)",
    ),
    category: str | None = typer.Option(None, "--category", help="map only the sounds with this tag"),
    seed: int = typer.Option(0, help="t-SNE random seed (the same seed gives the same map)"),
    as_json: bool = typer.Option(False, "--json", help="print the report as JSON on stdout"),
) -> None:
    """Write a 2-D t-SNE map of the library: an HTML page (colour: tag, hover: name, click: play) and a PNG."""
    build_map = _tool(".library.map").build_map
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
        console.print(
            f"wrote {report.html_path} and {report.png_path}: {report.num_points} sounds, "
            f"{report.num_tags} tags, {report.seconds:.1f} s"
        )


if __name__ == "__main__":
    app()

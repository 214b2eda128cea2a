"""``latentmorph render``: a job file, or flags for the simple cases (the same keys underneath).

Heavy modules (pedalboard, pyloudnorm, mido, matplotlib) are imported when the command runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from . import RenderError

console = Console(stderr=True)
#: The flag that sets each job key (named in error messages instead of the key).
FLAG_OF_KEY = {
    "sources": "--a/--b",
    "morph": "--morph",
    "notes": "--notes",
    "velocities": "--velocity",
    "length_s": "--length",
    "tail_s": "--tail",
    "sample_rate": "--sample-rate",
    "bit_depth": "--bit-depth",
    "format": "--format",
    "name": "--name",
}
#: Exit status when Ctrl-C stopped the run (128 + SIGINT, as shells report it).
EXIT_INTERRUPTED = 130


def _fail(message: str) -> NoReturn:
    console.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True, highlight=False)
    raise typer.Exit(1)


def flags_job(a: Path, b: Path, values: Mapping[str, object]) -> dict[str, object]:
    """Job keys from flags: ``a``/``b`` files make a pair, two folders are crossed; ``values`` maps
    job keys to flag values (``None``: not given, the job default applies)."""
    kind = "cross" if a.is_dir() and b.is_dir() else "pairs"
    data: dict[str, object] = {"sources": {kind: [[str(a), str(b)]]}}
    data.update({key: value for key, value in values.items() if value is not None})
    if isinstance(data.get("bit_depth"), str) and str(data["bit_depth"]).isdigit():
        data["bit_depth"] = int(str(data["bit_depth"]))
    return data


def render_command(
    job_file: Path | None = typer.Argument(None, metavar="[JOB.toml]", help="job file (see README: Batch rendering)"),
    plugin: Path | None = typer.Option(
        None,
        "--plugin",
        help="LatentMorph.vst3 (default: the job's `plugin`, else the one `make build` builds in this repository)",
    ),
    a: Path | None = typer.Option(None, "--a", help="source A (t = 0): a file, or a folder crossed with --b's"),
    b: Path | None = typer.Option(None, "--b", help="source B (t = 1): a file, or a folder"),
    morph: str | None = typer.Option(None, "--morph", help="morph positions, e.g. 0,0.25,0.5,0.75,1"),
    notes: str | None = typer.Option(None, "--notes", help="MIDI notes: 60,64,67 or LOW:HIGH:STEP or a .mid phrase"),
    melody_from: Path | None = typer.Option(
        None,
        "--melody-from",
        metavar="AUDIO",
        help="play the notes of this recorded melody (transcribed by basic-pitch) instead of --notes",
    ),
    velocity: str | None = typer.Option(None, "--velocity", help="velocities 1-127, e.g. 100 or 64,127"),
    length: float | None = typer.Option(None, "--length", help="note held, s"),
    tail: float | None = typer.Option(None, "--tail", help="rendered after the note-off, s"),
    sample_rate: int | None = typer.Option(None, "--sample-rate", help="Hz (default 44100)"),
    bit_depth: str | None = typer.Option(None, "--bit-depth", help="16, 24 or float (default 24)"),
    file_format: str | None = typer.Option(None, "--format", help="wav or flac"),
    name: str | None = typer.Option(None, "--name", help="file name template, e.g. {a}_{b}_m{morph:.2f}_n{note}"),
    out: Path = typer.Option(Path("render_out"), "--out", help="output folder (a re-run resumes in it)"),
    workers: int = typer.Option(1, "--workers", min=1, help="processes, one plugin instance each"),
    ray: str | None = typer.Option(
        None,
        "--ray",
        metavar="ADDRESS",
        help="render as Ray tasks on this cluster "
        "('auto', 'ray://host:10001', 'local'); needs Ray: the `cluster` extra",
    ),
    sfz: bool = typer.Option(False, "--sfz", help="also write an SFZ instrument per source pair"),
) -> None:
    """Render notes (or a MIDI phrase) at morph positions through the real VST3: audio files,
    manifest.json, contact_sheet.png, optionally SFZ. A re-run skips finished files. Exit status 1
    when any item failed (each is listed with its reason in manifest.json), 130 after Ctrl-C."""
    from .job import JobError, job_from_dict, load_job
    from .runner import default_plugin_path, run_job

    if melody_from is not None and notes is not None:
        _fail("give --notes or --melody-from, not both")
    flag_values = {
        "morph": morph,
        "notes": {"melody": str(melody_from)} if melody_from else notes,
        "velocities": velocity,
        "length_s": length,
        "tail_s": tail,
        "sample_rate": sample_rate,
        "bit_depth": bit_depth,
        "format": file_format,
        "name": name,
    }
    flag_of_key = {**FLAG_OF_KEY, "notes": "--melody-from"} if melody_from else FLAG_OF_KEY
    try:
        if job_file is not None:
            given = [flag_of_key[k] for k, v in flag_values.items() if v is not None] + (["--a/--b"] if a or b else [])
            if given:
                _fail(f"give a job file or sample flags, not both ({', '.join(given)} with {job_file})")
            job = load_job(job_file)
        else:
            if a is None or b is None:
                _fail("give a job file, or --a and --b (see `latentmorph render --help`)")
            job = job_from_dict(flags_job(a, b, flag_values), Path.cwd())
    except JobError as error:
        if error.key == "file":  # the message names the file (and tomllib's line and column)
            _fail(error.message)
        where = f"{job_file}: key '{error.key}'" if job_file else flag_of_key.get(error.key.split(".")[0], error.key)
        _fail(f"{where}: {error.message}")
    try:
        report = run_job(
            job, out, plugin or job.plugin or default_plugin_path(), workers=workers, ray_address=ray, sfz=sfz
        )
    except JobError as error:
        _fail(f"{job_file or 'job'}: key '{error.key}': {error.message}")
    except RenderError as error:
        _fail(str(error))
    rate = report.rendered / report.render_s if report.render_s else 0.0
    console.print(
        f"{report.rendered} rendered, {report.skipped} already done, {len(report.failed)} failed in "
        f"{report.seconds:.1f} s (rendering {report.render_s:.1f} s: {rate:.2f} renders/s, real-time "
        f"factor {report.audio_s / report.render_s if report.render_s else 0.0:.1f})",
        highlight=False,
    )
    for path, reason in report.failed:
        console.print(f"[bold red]failed:[/] {escape(f'{path}: {reason}')}", soft_wrap=True, highlight=False)
    for output in report.outputs:
        print(output)
    if report.interrupted:
        console.print("interrupted: finished files are kept; run the same command again to resume")
        raise typer.Exit(EXIT_INTERRUPTED)
    if report.failed:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add ``render`` to the ``latentmorph`` command line."""
    app.command("render")(render_command)

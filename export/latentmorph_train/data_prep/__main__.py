"""``python -m latentmorph_train.data_prep prepare --out DATA_DIR`` and ``... compare OLD NEW``."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console

from .manifest import compare_splits, prepare, read_manifest

app = typer.Typer(add_completion=False, help="LatentMorph training-data preparation.")


@app.callback()
def _main() -> None:
    """LatentMorph training-data preparation."""


@app.command("prepare")
def prepare_command(
    out: Path = typer.Option(..., "--out", help="Data folder (e.g. .data); created if missing."),
    max_notes: int | None = typer.Option(None, "--max-notes", min=0, help="Cap on the renders per soundfont."),
) -> None:
    """Fetch the Debian sample packages, render FluidR3_GM and MuseScore General, write clips + manifest."""
    console = Console()
    summary = prepare(out, max_notes=max_notes, console=console)
    console.print(
        f"[bold green]{summary['clips']} clips, {summary['hours']:.2f} h[/] in {summary['wall_time_s']:.0f} s "
        f"(written {summary['clips_written']}, reused {summary['clips_reused']}, "
        f"failed {len(summary['failed'])}) → {Path(out) / 'manifest.jsonl'}"
    )
    for split, entry in summary["by_split"].items():
        console.print(f"  {split}: {entry['clips']} clips, {entry['seconds'] / 3600:.2f} h")


@app.command("compare")
def compare_command(
    old: Path = typer.Argument(..., help="manifest.jsonl of the data a model was trained on."),
    new: Path = typer.Argument(..., help="manifest.jsonl of the rebuilt data."),
    as_json: bool = typer.Option(False, "--json", help="Print the comparison as JSON."),
) -> None:
    """Check that a rebuilt manifest keeps every old clip's split; exit 1 when one moved."""
    console = Console()
    try:
        result = compare_splits(read_manifest(old), read_manifest(new))
    except (OSError, ValueError) as error:
        console.print(f"[red]{error}[/]")
        raise typer.Exit(2) from None
    if as_json:
        print(json.dumps(result, indent=2))
    else:
        console.print(f"kept {result['kept']}, split changed {len(result['changed'])}, "
                      f"removed {result['removed']}, added {result['added']}")  # fmt: skip
        for key, count in result["added_by_source_split"].items():
            console.print(f"  + {key}: {count}")
        for entry in result["changed"][:20]:
            console.print(f"  [red]moved[/] {entry['id']}: {entry['old']} → {entry['new']}")
    if result["changed"]:
        raise typer.Exit(1)


if __name__ == "__main__":
    app()

"""``python -m latentmorph.demo --plugin LatentMorph.vst3 --presets presets --out DIR`` (what
``make demo`` runs).

Loads the real VST3 in pedalboard, loads a factory preset (shipped model, bundled samples) and
renders a phrase in which ``morph`` goes from 0 to 1: one note per morph step, rendered as
consecutive offline renders (pedalboard has no in-render automation) and concatenated. Writes
``DIR/<preset>.wav`` and ``DIR/<preset>.png`` (spectrogram with the morph value of each note)
and prints their paths.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import typer
from rich.console import Console
from rich.progress import track

from .plots import save_spectrogram
from .plugin_state import plugin_state

DEFAULT_PRESETS = ("pitched_bass_to_bell", "drums_kick_to_snare")
SAMPLE_RATE = 44100
NOTE_S = 0.5  # key held
STEP_S = 0.75  # note + room for the release tail
console = Console(stderr=True)
app = typer.Typer(add_completion=False)


def render_note(
    plugin,
    note: int,
    velocity: int = 100,
    note_s: float = NOTE_S,
    duration_s: float = STEP_S,
    sample_rate: int = SAMPLE_RATE,
) -> np.ndarray:
    """One note-on at 0 s, note-off at ``note_s``; returns float32 ``[2, duration_s * sample_rate]``."""
    messages = [(bytes([0x90, note, velocity]), 0.0), (bytes([0x80, note, 0]), note_s)]
    return plugin(messages, duration=duration_s, sample_rate=sample_rate, num_channels=2, reset=True)


def render_morph_phrase(plugin, steps: int, notes: list[int]) -> tuple[np.ndarray, list[tuple[float, str]]]:
    """``steps`` notes with morph = i/(steps−1), cycling through ``notes``. Returns the stereo
    phrase ``[2, samples]`` and the (start time s, label) of each note."""
    pieces, markers = [], []
    for i in track(range(steps), description="rendering through the VST3", console=console):
        plugin.morph = i / (steps - 1)
        markers.append((i * STEP_S, f"{plugin.morph:.2f}"))
        pieces.append(render_note(plugin, notes[i % len(notes)]))
    return np.concatenate(pieces, axis=1), markers


@app.command()
def main(
    plugin_path: Path = typer.Option(..., "--plugin", help="LatentMorph.vst3 bundle (`make build` builds it)"),
    presets_dir: Path = typer.Option(Path("presets"), "--presets", help="folder of the factory presets"),
    out: Path = typer.Option(Path("out/demo"), help="output folder"),
    preset: list[str] = typer.Option(list(DEFAULT_PRESETS), help="preset names (<--presets>/<name>.vstpreset)"),
    steps: int = typer.Option(9, min=2, help="notes (morph steps) per phrase"),
) -> None:
    """Render morph phrases through the VST3 and write WAV + PNG per preset."""
    import pedalboard  # the host; imported here so `--help` stays fast

    if not plugin_path.exists():
        console.print(f"[bold red]error:[/] plugin not found: {plugin_path} (run `make build`)")
        raise typer.Exit(1)
    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    plugin: Any = pedalboard.load_plugin(str(plugin_path), initialization_timeout=1.0)  # a VST3Plugin
    console.print(f"loaded {plugin.name} in {time.monotonic() - started:.2f} s")
    for name in preset:
        preset_path = presets_dir / f"{name}.vstpreset"
        plugin.load_preset(str(preset_path))
        notes = [48, 52, 55, 60] if name.startswith("pitched") else [60]
        audio, markers = render_morph_phrase(plugin, steps, notes)
        status = plugin_state(plugin).status
        if status.get("state") == "error":
            console.print(f"[bold red]error:[/] {name}: {status.get('message')}")
            raise typer.Exit(1)
        wav = out / f"{name}.wav"
        sf.write(wav, audio.T, SAMPLE_RATE, subtype="PCM_24")
        png = save_spectrogram(
            audio.mean(axis=0),
            SAMPLE_RATE,
            out / f"{name}.png",
            title=f"LatentMorph VST3 — {name}: morph 0 → 1",
            markers=markers,
        )
        print(wav)
        print(png)
    console.print(f"done in {time.monotonic() - started:.1f} s")


if __name__ == "__main__":
    app()

"""Offline batch rendering through the real VST3: sample packs and phrases (``latentmorph render``).

- :mod:`.job` — the job: a TOML file or command-line flags, validated into render items.
- :mod:`.post` — the post chain: pedalboard effects, loudness / peak normalisation, trim, fade-out.
- :mod:`.runner` — the VST3 in pedalboard, one instance per worker; process pool or Ray; resume.
- :mod:`.outputs` — audio files, ``manifest.json``, ``contact_sheet.png`` and the SFZ instrument.
- :mod:`.commands` — the typer command.

This package imports nothing heavy at import time (pedalboard, matplotlib, mido load where used).
"""

from __future__ import annotations


class RenderError(Exception):
    """A batch cannot start: the plugin is missing or not LatentMorph, the output folder is not
    writable, Ray is not installed. (A failing item is recorded, never raised.)"""

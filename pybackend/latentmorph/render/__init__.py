"""Offline batch rendering through the real VST3: sample packs and phrases (``latentmorph render``).

- :mod:`.job` — the job: a TOML file or command-line flags, validated into render items.
- :mod:`.post` — the post chain: pedalboard effects, loudness / peak normalisation, trim, fade-out.
- :mod:`.melody` — a recorded melody's notes (basic-pitch's ONNX model), for ``--melody-from``.
- :mod:`.workers` — the VST3 in pedalboard, one instance per worker: this process, a pool, or Ray.
- :mod:`.runner` — a run: what is already finished (resume), the journal, the manifest.
- :mod:`.outputs` — audio files, ``manifest.json``, ``contact_sheet.png`` and the SFZ instrument.
- :mod:`.commands` — the typer command.

This package imports nothing heavy at import time (pedalboard, matplotlib, mido load where used).
"""

from __future__ import annotations

from ..errors import LatentMorphError


class RenderError(LatentMorphError):
    """A batch cannot start: the plugin is missing or not LatentMorph, the output folder is not
    writable, Ray is not installed or not reachable. (A failing item is recorded, never raised.)"""


class JobError(LatentMorphError, ValueError):
    """A job key is missing or wrong. ``key`` names it (``notes``, ``sources.pairs[0]``, ``post[1].x``)."""

    code = "bad_request"

    def __init__(self, key: str, message: str):
        self.key = key
        self.message = message
        super().__init__(f"{key}: {message}")

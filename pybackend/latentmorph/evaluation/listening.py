"""``listen.html``: the renders of a few clips and pairs of a run, to listen to."""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

import librosa
import numpy as np
import soundfile as sf

from ..morph import morph_positions
from .inputs import Clip, Pair, spread
from .systems import MEL_GL_44K, OURS, PREVIOUS

#: ``listen.html``: clips (spread over categories) and pairs (spread over kinds) on the page, and
#: the longest render it embeds (s; 16-bit FLAC at the model rate).
LISTEN_CLIPS = 12
LISTEN_PAIRS = 6
LISTEN_MAX_DURATION_S = 2.0
#: The reconstruction systems a clip on the page is heard through, after its original.
LISTEN_SYSTEMS = (OURS, MEL_GL_44K, PREVIOUS)
#: Spectrogram thumbnails of the page: mel power (dB re. the loudest bin of the clip or pair, down
#: to −THUMBNAIL_RANGE_DB), one pixel per band and hop.
THUMBNAIL_N_FFT = 2048
THUMBNAIL_HOP_SAMPLES = 512
THUMBNAIL_N_MELS = 64
THUMBNAIL_RANGE_DB = 80.0


def _data_uri(media_type: str, payload: bytes) -> str:
    return f"data:{media_type};base64,{base64.b64encode(payload).decode('ascii')}"


def _media_cells(renders: Sequence[np.ndarray], sample_rate: int) -> list[dict[str, str]]:
    """Per render (float ``[samples]`` at ``sample_rate`` Hz): ``audio``, its first
    :data:`LISTEN_MAX_DURATION_S` as a data URI of a 16-bit FLAC (clipped to ±1), and ``image``,
    its mel spectrogram as a data URI of a PNG (``THUMBNAIL_N_MELS`` rows, one column per
    ``THUMBNAIL_HOP_SAMPLES``; dB re. the loudest bin of all ``renders``, magma colours)."""
    import matplotlib.image  # imported here, as the plots are: only the report needs matplotlib

    cut = [np.clip(render[: int(LISTEN_MAX_DURATION_S * sample_rate)], -1.0, 1.0) for render in renders]
    mels = [
        librosa.feature.melspectrogram(
            y=np.pad(x, (0, max(0, THUMBNAIL_N_FFT - len(x)))),
            sr=sample_rate,
            n_fft=THUMBNAIL_N_FFT,
            hop_length=THUMBNAIL_HOP_SAMPLES,
            n_mels=THUMBNAIL_N_MELS,
            fmax=sample_rate / 2,
        )
        for x in cut
    ]
    ref = max(float(mel.max()) for mel in mels) or 1.0
    cells = []
    for x, mel in zip(cut, mels):
        image, sound = io.BytesIO(), io.BytesIO()
        matplotlib.image.imsave(
            image,
            librosa.power_to_db(mel, ref=ref, top_db=None),
            cmap="magma",
            vmin=-THUMBNAIL_RANGE_DB,
            vmax=0.0,
            origin="lower",
            format="png",
        )
        sf.write(sound, x, sample_rate, format="FLAC", subtype="PCM_16")
        cells.append(
            {"image": _data_uri("image/png", image.getvalue()), "audio": _data_uri("audio/flac", sound.getvalue())}
        )
    return cells


def _caption(scores: dict[str, float]) -> str:
    """``MR-STFT 0.83 · LSD 5.1 dB · ViSQOL 3.20`` (each part only where measured)."""
    parts = (("MR-STFT {:.2f}", "mrstft"), ("LSD {:.1f} dB", "lsd_db"), ("ViSQOL {:.2f}", "visqol_mos"))
    return " · ".join(
        text.format(scores[key]) for text, key in parts if scores.get(key) is not None and math.isfinite(scores[key])
    )


class ListeningPage:
    """``listen.html``: renders of a few clips and pairs, kept while :func:`evaluate` makes them.

    Per chosen clip: its original and its reconstructions by the :data:`LISTEN_SYSTEMS` that ran,
    captioned with their metrics; per chosen pair: the ``ours`` morph steps and the crossfade
    steps. Each render is a player (``<audio controls>``, a base64 16-bit FLAC at the model rate,
    cut to :data:`LISTEN_MAX_DURATION_S`) under a mel spectrogram thumbnail (base64 PNG, one dB
    reference per clip or pair, so levels compare). The page (``listen_template.html`` filled with
    the data as inline JSON) loads nothing from the network; once built it records the number of
    players on ``<body data-players="N">``. A chosen clip or pair that is skipped is missing.
    Size: 10 MB for the defaults (156 renders at 9 steps) on the validation split; at most
    ~0.25 MB per 2 s render (white noise, which FLAC cannot shrink), so ≤ ~40 MB.
    """

    def __init__(self, clips: Sequence[Clip], pairs: Sequence[Pair]):
        self._clip_paths = {clip.path for clip in clips}
        self._pair_paths = {(pair.a.path, pair.b.path) for pair in pairs}
        self.clip_groups: list[dict] = []
        self.pair_groups: list[dict] = []

    @classmethod
    def choose(
        cls,
        clips: Sequence[Clip],
        pairs: Sequence[Pair],
        num_clips: int = LISTEN_CLIPS,
        num_pairs: int = LISTEN_PAIRS,
        seed: int = 0,
    ) -> ListeningPage:
        """A page for ``num_clips`` of ``clips`` spread over categories and ``num_pairs`` of
        ``pairs`` spread over kinds (:func:`spread`)."""
        return cls(
            spread(clips, num_clips, seed, lambda clip: clip.category),
            spread(pairs, num_pairs, seed, lambda pair: pair.kind),
        )

    def add_clip(
        self,
        clip: Clip,
        audio: np.ndarray,
        outputs: dict[str, np.ndarray],
        scores: dict[str, dict[str, float]],
        sample_rate: int,
    ) -> None:
        """Keep ``clip`` if chosen: its ``audio`` and the ``outputs`` of the systems (name → float32
        ``[samples]``, all at ``sample_rate`` Hz) with their ``scores`` (name → metrics)."""
        if clip.path not in self._clip_paths:
            return
        names = [name for name in LISTEN_SYSTEMS if name in outputs]
        cells = _media_cells([audio, *(outputs[name] for name in names)], sample_rate)
        labels, captions = ["original", *names], ["", *(_caption(scores[name]) for name in names)]
        self.clip_groups.append(
            {
                "title": f"{clip.category} — {clip.path.name}",
                "rows": [
                    {
                        "label": "",
                        "cells": [
                            {"label": label, "caption": caption, **cell}
                            for label, caption, cell in zip(labels, captions, cells)
                        ],
                    }
                ],
            }
        )

    def add_pair(self, pair: Pair, grids: dict[str, np.ndarray], sample_rate: int) -> None:
        """Keep ``pair`` if chosen: one row per grid (system name → float32 ``[steps, samples]`` at
        ``sample_rate`` Hz, t = i / (steps − 1))."""
        if (pair.a.path, pair.b.path) not in self._pair_paths:
            return
        cells = iter(_media_cells([step for grid in grids.values() for step in grid], sample_rate))
        rows = [
            {
                "label": name,
                "cells": [{"label": f"t = {t:.2f}", "caption": "", **next(cells)} for t in morph_positions(len(grid))],
            }
            for name, grid in grids.items()
        ]
        self.pair_groups.append({"title": f"{pair.kind} — {pair.a.path.name} → {pair.b.path.name}", "rows": rows})

    def write(self, path: Path, report: dict) -> Path:
        """Write the page to ``path`` (UTF-8; its folder must exist), titled and annotated from the
        ``report`` of the same :func:`evaluate` run. Returns ``path``."""
        from ..library.map import _TEMPLATE_FIELDS, _script_json  # the map page's escaping and fields

        model, previous, config = report["model"], report["previous_model"], report["config"]
        notes = [f"ours: model {model['model_id']} (the product path: reconstruct, render_grid)."]
        if previous:
            notes.append(f"previous: model {previous['model_id']}.")
        if MEL_GL_44K in config["baselines"]:
            notes.append(
                f"{MEL_GL_44K}: oracle mel spectrogram (128 bands at 44.1 kHz) + Griffin-Lim, "
                f"{config['gl_iterations']} iterations."
            )
        notes += [
            "crossfade: (1 − t)·A + t·B of the onset-aligned sources.",
            "Captions: MR-STFT distance and log-spectral distance (lower is better), ViSQOL v3 MOS "
            "(1–5, higher is better; on the ViSQOL subset only).",
            f"Renders: first {LISTEN_MAX_DURATION_S:g} s, 16-bit FLAC at {model['sample_rate']} Hz. "
            f"Spectrograms: mel dB, one reference per clip or pair, {THUMBNAIL_RANGE_DB:g} dB range.",
        ]
        data = {
            "notes": notes,
            "sections": [
                {"heading": "Reconstructions", "groups": self.clip_groups},
                {"heading": "Morphs", "groups": self.pair_groups},
            ],
        }
        fields = {
            "TITLE": html.escape(f"LatentMorph listening page — model {model['model_id']}"),
            "DATA": _script_json(data),
        }
        template = resources.files(__package__).joinpath("listen_template.html").read_text(encoding="utf-8")
        path.write_text(_TEMPLATE_FIELDS.sub(lambda m: fields[m.group(1)], template), encoding="utf-8")
        return path

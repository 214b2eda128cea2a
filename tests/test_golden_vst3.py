"""Golden renders of the VST3: each factory preset played through pedalboard at three morph positions
must sound as recorded in tests/golden/vst3_presets.json, within GOLDEN_TOLERANCE_DB in every frame
and band of tests/golden.py's fingerprint. ``LATENTMORPH_GOLDEN=1`` re-records them (after an intended
change of the plugin, the backend's rendering or the model)."""

from __future__ import annotations

import pytest

from .conftest import PRESETS_DIR, SAMPLE_RATE, render, status_of
from .golden import band_levels_db, check_golden

#: Largest allowed difference from the golden, dB (any frame, any band above golden.FLOOR_DB). The
#: renders are deterministic on one machine (0 dB); this leaves room for ONNX Runtime's rounding on
#: other CPUs, and is far below what a changed level (1 dB), pitch or morph position gives.
GOLDEN_TOLERANCE_DB = 0.5
MORPHS = (0.0, 0.5, 1.0)
#: (note, on_s, off_s): the root note, and a fifth above overlapping it (pitch shift, two voices).
NOTES = [(60, 0.0, 0.6), (67, 0.3, 0.9)]
DURATION_S = 1.2


def preset_fingerprints(plugin, preset: str) -> dict:
    plugin.load_preset(str(PRESETS_DIR / f"{preset}.vstpreset"))
    fingerprints = {}
    for morph in MORPHS:
        plugin.morph = morph
        audio = render(plugin, NOTES, duration_s=DURATION_S)
        assert status_of(plugin).get("state") == "ready", status_of(plugin)
        fingerprints[f"{preset}/morph_{morph:.1f}"] = band_levels_db(audio, SAMPLE_RATE)
    return fingerprints


def test_factory_presets_render_as_recorded(plugin):
    presets = sorted(path.stem for path in PRESETS_DIR.glob("*.vstpreset"))
    assert presets, f"no factory presets in {PRESETS_DIR}"
    fingerprints = {}
    for preset in presets:
        fingerprints.update(preset_fingerprints(plugin, preset))
    check_golden("vst3_presets", fingerprints, GOLDEN_TOLERANCE_DB)

"""Golden renders of the VST3: each factory preset played through pedalboard at three morph positions
must sound as when its golden in tests/goldens/ was written (tests/golden.py; ``LATENTMORPH_GOLDEN=1``
rewrites them after an intended change of the plugin, the backend's rendering or the model).

Tolerances as in tests/test_golden_render.py: the renders are deterministic on one machine (0 dB
apart); 0.5 dB per band and 0.02 dB of RMS pass float noise from another CPU or ONNX Runtime build,
while morph 0.45 instead of 0.5 moves a band of the drum preset by 9 dB and a gain change of 0.1 dB
moves every RMS level by 0.1 dB.
"""

from __future__ import annotations

import numpy as np
import pytest

from .conftest import PRESETS_DIR, SAMPLE_RATE, render, status_of
from .golden import check_golden

BAND_TOL_DB, RMS_TOL_DB = 0.5, 0.02
MORPHS = (0.0, 0.5, 1.0)
#: (note, on_s, off_s): the root note, and a fifth above overlapping it (pitch shift, two voices).
NOTES = [(60, 0.0, 0.6), (67, 0.3, 0.9)]
DURATION_S = 1.2
PRESETS = sorted(path.stem for path in PRESETS_DIR.glob("*.vstpreset"))


def test_there_are_factory_presets():
    assert PRESETS, f"no factory presets in {PRESETS_DIR}"


@pytest.mark.parametrize("preset", PRESETS)
def test_factory_preset_renders_as_its_golden(plugin, preset):
    plugin.load_preset(str(PRESETS_DIR / f"{preset}.vstpreset"))
    renders = []
    for morph in MORPHS:
        plugin.morph = morph
        renders.append(render(plugin, NOTES, duration_s=DURATION_S))
        assert status_of(plugin).get("state") == "ready", status_of(plugin)
    check_golden(f"vst3_{preset}", np.stack(renders), SAMPLE_RATE, BAND_TOL_DB, RMS_TOL_DB)

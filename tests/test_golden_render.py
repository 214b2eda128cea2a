"""Golden renders: ``render_grid`` on the factory samples must sound as it did when the goldens
were written (tests/golden.py; ``LATENTMORPH_GOLDEN=1`` rewrites them).

Tolerances, measured on the bass → bell grid (5 steps): a re-render on another thread count
differs by 0 dB; white noise at −100 dBFS added to the grid moves a band level by at most 0.11 dB
and the RMS levels by < 0.001 dB; ``detail`` 0.49 instead of 0.5 moves a band by 0.88 dB, and a
gain of +0.1 dB moves every RMS level by 0.1 dB. So 0.5 dB per band and 0.02 dB of RMS level pass
the rounding of another CPU or ONNX Runtime build and fail a change of the rendering itself.
"""

from __future__ import annotations

import pytest

from latentmorph.audio import load_audio
from latentmorph.model import get_model
from latentmorph.morph import render_grid

from .conftest import SAMPLES_DIR
from .golden import check_golden

BAND_TOL_DB, RMS_TOL_DB = 0.5, 0.02
STEPS = 5

CASES = {  # golden name: (source A, source B, render_grid options)
    "grid_bass_bell": ("bass_c4.wav", "bell_c4.wav", {}),
    "grid_kick_snare": ("kick.wav", "snare.wav", {}),
    "grid_bass_bell_dtw_slerp_detail0": (
        "bass_c4.wav",
        "bell_c4.wav",
        {"align": "dtw", "interp": "slerp", "detail": 0.0},
    ),
}


@pytest.mark.parametrize("name", CASES)
def test_render_grid_matches_golden(name):
    model = get_model()
    file_a, file_b, options = CASES[name]
    a, _ = load_audio(SAMPLES_DIR / file_a, model.sample_rate)
    b, _ = load_audio(SAMPLES_DIR / file_b, model.sample_rate)
    grid = render_grid(model, a, b, STEPS, **options)
    check_golden(name, grid, model.sample_rate, BAND_TOL_DB, RMS_TOL_DB)

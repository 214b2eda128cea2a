"""Audio → notes (``--melody-from``): a recorded melody transcribed with basic-pitch's ONNX model.

basic-pitch (Spotify, Apache-2.0; Bittner et al., ICASSP 2022) ships its network as ``nmp.onnx``
inside the ``basic-pitch`` package; onnxruntime runs it. The package declares TensorFlow as a
dependency, which is neither needed nor installed: ``pip install --no-deps basic-pitch==0.4.0``,
then ``pip install -e '.[melody]'`` for what its inference and note decoding import (``make`` does
both). Its note decoding (onset/frame thresholds, the "melodia trick") is used as it is.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path

from . import JobError

#: basic-pitch's defaults (``basic_pitch.inference.predict``).
ONSET_THRESHOLD, FRAME_THRESHOLD, MIN_NOTE_S = 0.5, 0.3, 0.1277
#: The model file inside the basic-pitch package.
MODEL_RESOURCE = "saved_models/icassp_2022/nmp.onnx"
INSTALL = "pip install --no-deps basic-pitch==0.4.0 && pip install -e '.[melody]'"


def transcribe(path: Path) -> list[tuple[float, float, int, int]]:
    """Notes of the audio file ``path`` as ``(start_s, end_s, midi_note, velocity 1–127)`` in time
    order (velocity from basic-pitch's note amplitude). Raises :class:`JobError` (key ``notes``)
    when basic-pitch is missing, the file cannot be read or holds no note."""
    try:
        with _quiet_logging():  # basic_pitch warns at import about each backend it does not find
            import basic_pitch
            from basic_pitch import inference, note_creation
    except ImportError as error:
        raise JobError("notes", f"--melody-from needs basic-pitch ({error.name} is missing): {INSTALL}") from error
    model = inference.Model(Path(basic_pitch.__file__).parent / MODEL_RESOURCE)
    try:
        output = inference.run_inference(path, model)
    except (OSError, ValueError, RuntimeError, EOFError) as error:  # librosa/soundfile/audioread errors
        raise JobError("notes", f"cannot read melody {path}: {error}") from error
    frames_per_s = inference.AUDIO_SAMPLE_RATE / inference.FFT_HOP
    _, events = note_creation.model_output_to_notes(
        output,
        onset_thresh=ONSET_THRESHOLD,
        frame_thresh=FRAME_THRESHOLD,
        min_note_len=round(MIN_NOTE_S * frames_per_s),
    )
    if not events:
        raise JobError("notes", f"no notes found in melody {path}")
    return sorted(
        (float(start), float(end), int(pitch), min(127, max(1, round(127 * float(amplitude)))))
        for start, end, pitch, amplitude, _bends in events
    )


@contextlib.contextmanager
def _quiet_logging():
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)

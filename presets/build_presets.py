"""Build the factory presets: ``python presets/build_presets.py --plugin LatentMorph.vst3``.

1. Renders the bundled samples in ``presets/samples/`` from FluidR3_GM (MIT, see
   ``presets/samples/NOTICE``) with the training pipeline's renderer, if they are missing.
2. Writes each preset's plugin state (slots as ``factory:`` paths, parameters) into the real VST3
   through pedalboard and saves ``presets/<name>.vstpreset`` from it.

Both outputs are committed; run this only when presets or the state format change.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import soundfile as sf

from latentmorph.plugin_state import make_state, set_plugin_state

PRESETS_DIR = Path(__file__).resolve().parent
#: Where the CMake build puts the engine's Python module, whose PARAMETERS is the plugin's parameter table.
ENGINE_MODULE_DIR = PRESETS_DIR.parent / "build/python"
SAMPLES_DIR = PRESETS_DIR / "samples"
SAMPLE_RATE = 44100

#: file name → (bank, preset, MIDI note, velocity, max duration s). Pitched samples are C4
#: (MIDI 60), the plugin's default root note, so the keyboard plays them in tune.
SAMPLES = {
    "kick.wav": (128, 0, 36, 110, 0.6),
    "snare.wav": (128, 0, 38, 110, 0.6),
    "bass_c4.wav": (0, 33, 60, 100, 1.2),
    "bell_c4.wav": (0, 14, 60, 100, 1.5),
}

#: name → (slots A, B[, C, D], the parameter values that differ from the table's defaults)
PRESETS: dict[str, tuple[tuple[str, ...], dict[str, float]]] = {
    "drums_kick_to_snare": (("kick.wav", "snare.wav"), {"attack_ms": 0.0, "release_ms": 80.0}),
    "pitched_bass_to_bell": (("bass_c4.wav", "bell_c4.wav"), {"release_ms": 150.0}),
    # the four-corner XY pad: drums on top (A, B), tones below (C, D); starts in the middle, the mod
    # wheel moves it right and channel aftertouch down
    "xy_drums_and_tones": (
        ("kick.wav", "snare.wav", "bass_c4.wav", "bell_c4.wav"),
        {"morph": 0.5, "morph_y": 0.5, "release_ms": 150.0, "mod_wheel_morph": 0.5, "aftertouch_morph_y": 0.5},
    ),
}


def preset_parameters(changes: dict[str, float]) -> dict[str, float]:
    """Every parameter of the plugin's table (``latentmorph_engine.PARAMETERS``) at its default, but
    ``changes``. Raises ``ValueError`` for an id the table lacks or a value outside its range."""
    sys.path.insert(0, str(ENGINE_MODULE_DIR))
    from latentmorph_engine import PARAMETERS

    specs = {spec["id"]: spec for spec in PARAMETERS}
    for key, value in changes.items():
        if key not in specs or not specs[key]["min"] <= value <= specs[key]["max"]:
            raise ValueError(f"preset parameter {key}={value} is not in the plugin's table or out of its range")
    return {key: changes.get(key, spec["default"]) for key, spec in specs.items()}


def render_samples() -> None:
    from latentmorph_train.data_prep.clips import trim_and_normalise
    from latentmorph_train.data_prep.soundfont import SOUNDFONT_SYSTEM_PATH, FluidRenderer, NoteSpec

    renderer = FluidRenderer(SOUNDFONT_SYSTEM_PATH, SAMPLE_RATE)
    SAMPLES_DIR.mkdir(exist_ok=True)
    for name, (bank, preset, note, velocity, max_s) in SAMPLES.items():
        path = SAMPLES_DIR / name
        if path.exists():
            continue
        audio = trim_and_normalise(renderer.render(NoteSpec(bank, preset, note, velocity)), SAMPLE_RATE,
                                   max_duration_s=max_s)
        sf.write(path, audio, SAMPLE_RATE, subtype="PCM_16")
        print(f"wrote {path} ({len(audio) / SAMPLE_RATE:.2f} s)")


def write_presets(plugin_path: Path) -> None:
    import pedalboard

    plugin = pedalboard.load_plugin(str(plugin_path), initialization_timeout=0.1)
    for name, (slots, params) in PRESETS.items():
        a, b, *pad = (f"factory:samples/{slot}" for slot in slots)
        c, d = pad if pad else (None, None)
        set_plugin_state(plugin, make_state(a, b, preset_parameters(params), slot_c=c, slot_d=d))
        path = PRESETS_DIR / f"{name}.vstpreset"
        path.write_bytes(plugin.preset_data)
        print(f"wrote {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plugin", type=Path, required=True, help="LatentMorph.vst3 bundle")
    args = parser.parse_args()
    render_samples()
    write_presets(args.plugin)


if __name__ == "__main__":
    main()

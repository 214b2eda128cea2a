"""The post chain applied to each render, in the order given (``[[post]]`` tables of a job).

A step is ``{"effect": NAME, param = value, …}``:

- a pedalboard effect by class name (``"Reverb"``, ``"Compressor"``, ``"HighpassFilter"`` …) with its
  constructor's parameters (``room_size = 0.3``);
- a VST3 effect on disk (``effect = "/path/x.vst3"``, via ``pedalboard.load_plugin``) with its
  parameters by pedalboard's names (LV2 is not loadable by pedalboard);
- ``"loudness"`` (``lufs``, default −16): integrated loudness (ITU-R BS.1770-4, pyloudnorm) set to
  the target; a render shorter than one 400 ms gating block cannot be measured and fails;
- ``"peak"`` (``dbfs``, default −1): sample peak set to the target;
- ``"trim"`` (``threshold_dbfs``, default −60): leading and trailing samples below it cut;
- ``"fade_out"`` (``ms``, default 10): a linear fade to zero over the last ``ms``.

A step that cannot work on a render (silence to normalise) raises :class:`PostError`: that item fails.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import LatentMorphError
from . import JobError

#: pyloudnorm's gating block (BS.1770: 400 ms): the shortest audio whose loudness is defined.
LOUDNESS_BLOCK_S = 0.4
#: Peak reported for digital silence, dBFS.
SILENCE_DBFS = -200.0
#: pedalboard classes that are containers or hosts, not effects.
_NOT_EFFECTS = frozenset(
    {"Plugin", "PluginContainer", "Pedalboard", "Chain", "Mix", "ExternalPlugin", "VST3Plugin", "AudioUnitPlugin"}
)

Step = Callable[[np.ndarray, int], np.ndarray]


class PostError(LatentMorphError):
    """A post step cannot process this render (the item fails with this reason)."""


def peak_dbfs(audio: np.ndarray) -> float:
    """Sample peak of ``audio`` (any shape) in dBFS; :data:`SILENCE_DBFS` for silence."""
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    return 20.0 * np.log10(peak) if peak > 0.0 else SILENCE_DBFS


def loudness_lufs(audio: np.ndarray, sample_rate: int) -> float | None:
    """Integrated loudness (ITU-R BS.1770-4, K-weighted, gated; pyloudnorm) of ``audio
    [channels, samples]`` in LUFS; ``None`` when shorter than one gating block or silent."""
    import pyloudnorm

    if audio.shape[-1] < LOUDNESS_BLOCK_S * sample_rate:
        return None
    lufs = float(pyloudnorm.Meter(sample_rate).integrated_loudness(audio.T.astype(np.float64)))
    return lufs if np.isfinite(lufs) else None


def _loudness(lufs: float = -16.0) -> Step:
    def step(audio: np.ndarray, sample_rate: int) -> np.ndarray:
        measured = loudness_lufs(audio, sample_rate)
        if measured is None:
            raise PostError(f"loudness: cannot measure (silent, or shorter than {LOUDNESS_BLOCK_S * 1000:.0f} ms)")
        return (audio * 10.0 ** ((lufs - measured) / 20.0)).astype(np.float32)

    return step


def _peak(dbfs: float = -1.0) -> Step:
    def step(audio: np.ndarray, sample_rate: int) -> np.ndarray:
        measured = peak_dbfs(audio)
        if measured <= SILENCE_DBFS:
            raise PostError("peak: the render is silent")
        return (audio * 10.0 ** ((dbfs - measured) / 20.0)).astype(np.float32)

    return step


def _trim(threshold_dbfs: float = -60.0) -> Step:
    def step(audio: np.ndarray, sample_rate: int) -> np.ndarray:
        loud = np.flatnonzero(np.max(np.abs(audio), axis=0) > 10.0 ** (threshold_dbfs / 20.0))
        if loud.size == 0:
            raise PostError(f"trim: nothing above {threshold_dbfs:g} dBFS")
        return audio[:, loud[0] : loud[-1] + 1]

    return step


def _fade_out(ms: float = 10.0) -> Step:
    def step(audio: np.ndarray, sample_rate: int) -> np.ndarray:
        n = min(audio.shape[1], int(round(ms * sample_rate / 1000.0)))
        out = audio.copy()
        if n > 0:
            out[:, -n:] *= np.linspace(1.0, 0.0, n, dtype=np.float32)
        return out

    return step


#: The steps of this module by name, with their parameters' defaults (the functions' keywords).
BUILTIN_STEPS: dict[str, Callable[..., Step]] = {
    "loudness": _loudness,
    "peak": _peak,
    "trim": _trim,
    "fade_out": _fade_out,
}


def _constructor_keywords(cls: type) -> list[str]:
    """Keyword names of a pedalboard (pybind11) class's constructor, read from its signature line."""
    doc = getattr(cls, "__init__").__doc__ or ""  # noqa: B009 (mypy: __init__ of a class object)
    first_line = doc.strip().splitlines()[0] if doc.strip() else ""
    return [name for name in re.findall(r"(\w+): ", first_line) if name != "self"]


def _pedalboard_effect(name: str, params: dict[str, Any], key: str):
    import pedalboard

    cls = getattr(pedalboard, name, None)
    if not (isinstance(cls, type) and issubclass(cls, pedalboard.Plugin)) or name in _NOT_EFFECTS:
        raise JobError(
            f"{key}.effect", f"{name!r} is not a pedalboard effect, a .vst3 path, or one of {', '.join(BUILTIN_STEPS)}"
        )
    known = _constructor_keywords(cls)
    for param in params:
        if param not in known:
            raise JobError(f"{key}.{param}", f"{name} has no parameter {param!r} (has: {', '.join(known)})")
    try:
        return cls(**params)
    except (TypeError, ValueError) as error:
        raise JobError(key, f"{name}: {str(error).splitlines()[0]}") from error


def _vst3_effect(path: str, params: dict[str, Any], key: str):
    import pedalboard

    if not Path(path).exists():
        raise JobError(f"{key}.effect", f"VST3 effect not found: {path}")
    try:
        plugin = pedalboard.load_plugin(path)
    except (ImportError, RuntimeError, ValueError) as error:
        raise JobError(f"{key}.effect", f"cannot load {path}: {error}") from error
    for param, value in params.items():
        if param not in getattr(plugin, "parameters", {}):
            raise JobError(f"{key}.{param}", f"{path} has no parameter {param!r}")
        try:
            setattr(plugin, param, value)
        except (TypeError, ValueError) as error:
            raise JobError(f"{key}.{param}", str(error)) from error
    return plugin


def _process(effect: Any, audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """One post step: a pedalboard effect or VST3 plugin applied to ``audio [channels, samples]``."""
    return effect(audio, sample_rate)


def build_chain(post: list[dict[str, Any]] | tuple[dict[str, Any], ...]) -> list[Step]:
    """The steps of ``post`` (see the module docstring). Raises :class:`JobError` naming the key
    (``post[i].effect``, ``post[i].param``)."""
    steps: list[Step] = []
    for i, spec in enumerate(post):
        key = f"post[{i}]"
        params = {k: v for k, v in spec.items() if k != "effect"}
        name = spec.get("effect")
        if not isinstance(name, str):
            raise JobError(
                f"{key}.effect", "missing: the effect's name, a .vst3 path, or one of " + ", ".join(BUILTIN_STEPS)
            )
        if name in BUILTIN_STEPS:
            factory = BUILTIN_STEPS[name]
            known = factory.__code__.co_varnames[: factory.__code__.co_argcount]
            for param, value in params.items():
                if param not in known:
                    raise JobError(f"{key}.{param}", f"{name} has no parameter {param!r} (has: {', '.join(known)})")
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    raise JobError(f"{key}.{param}", f"{value!r} is not a number")
            if name == "fade_out" and params.get("ms", 0) < 0:
                raise JobError(f"{key}.ms", "must be ≥ 0")
            steps.append(factory(**params))
        elif name.lower().endswith(".vst3"):
            plugin = _vst3_effect(name, params, key)
            steps.append(functools.partial(_process, plugin))
        else:
            steps.append(functools.partial(_process, _pedalboard_effect(name, params, key)))
    return steps


def validate_chain(post: list[dict[str, Any]]) -> None:
    """Build the chain once and drop it: raises :class:`JobError` as :func:`build_chain` does."""
    build_chain(post)


def apply_chain(steps: list[Step], audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """Run ``audio [channels, samples]`` float32 at ``sample_rate`` Hz through ``steps`` in order.
    Raises :class:`PostError` when a step cannot process it."""
    for step in steps:
        audio = np.ascontiguousarray(step(audio, sample_rate), dtype=np.float32)
    return audio

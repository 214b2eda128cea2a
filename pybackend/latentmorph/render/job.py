"""A render job: what to render, from a TOML job file or from command-line flags (same keys).

Job file (paths relative to the file's folder)::

    plugin = "LatentMorph.vst3"          # optional: default_plugin_path()
    sample_rate = 44100                   # Hz
    bit_depth = 24                        # 16, 24 or "float"
    format = "wav"                        # or "flac" (16 / 24 bit)
    morph = [0.0, 0.5, 1.0]               # or "0,0.5,1"
    notes = "36:84:12"                    # [60, 64, 67], "60,64,67", "LOW:HIGH:STEP" (HIGH included),
                                          # or {midi = "phrase.mid"}: the file rendered as one phrase
                                          # (its own velocities: `velocities` is not used), or
                                          # {melody = "take.wav"}: its notes transcribed (basic-pitch)
    velocities = [100]
    length_s = 1.0                        # key held, s (a phrase: the MIDI file's length)
    tail_s = 0.5                          # rendered after the last note-off, s
    name = "{a}_{b}_m{morph:.2f}_n{note}_v{velocity}"   # fields: a, b (file stems), pair, morph,
                                          # note (a phrase: the MIDI file's stem), velocity
    [sources]
    pairs = [["a.wav", "b.wav"]]          # each pair once
    cross = [["kicks/", "snares/"]]       # every audio file of the first folder × of the second
    [params]                              # plugin parameters, set as a DAW sets them
    release_ms = 300.0
    [[post]]                              # the post chain, in order (see latentmorph.render.post)
    effect = "Reverb"
    room_size = 0.3

Every error is a :class:`JobError` naming the key (``notes``, ``sources.pairs[1]``, ``post[0].x``).
"""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path
from typing import Any

from ..audio import is_audio_path
from . import JobError

DEFAULT_SAMPLE_RATE = 44100
DEFAULT_BIT_DEPTH = 24
DEFAULT_FORMAT = "wav"
DEFAULT_LENGTH_S = 1.0
DEFAULT_TAIL_S = 0.5
DEFAULT_VELOCITY = 100
DEFAULT_NAME = "{a}_{b}_m{morph:.2f}_n{note}_v{velocity}"
#: soundfile subtype of each ``bit_depth``.
SUBTYPES = {16: "PCM_16", 24: "PCM_24", "float": "FLOAT"}
FORMATS = ("wav", "flac")
MIN_SAMPLE_RATE_HZ, MAX_SAMPLE_RATE_HZ = 8_000, 192_000
MIDI_EXTENSIONS = (".mid", ".midi")
KEYS = (
    "plugin",
    "sample_rate",
    "bit_depth",
    "format",
    "morph",
    "notes",
    "velocities",
    "length_s",
    "tail_s",
    "name",
    "sources",
    "params",
    "post",
)


@dataclasses.dataclass(frozen=True)
class Phrase:
    """A MIDI file, or a recording's transcribed notes, to render as one item: ``path`` (that file),
    channel messages as raw bytes at absolute times (s), ``length_s`` to the last message."""

    path: Path
    messages: tuple[tuple[bytes, float], ...]
    length_s: float


@dataclasses.dataclass(frozen=True)
class Item:
    """One file to render: sources ``a``/``b``, ``morph`` in [0, 1], the MIDI ``messages``
    (raw bytes, time s) over ``duration_s``; ``note``/``velocity`` for a single note, ``phrase``
    (the MIDI file) otherwise. ``path`` is relative to the output folder, with its extension."""

    path: str
    a: Path
    b: Path
    morph: float
    note: int | None
    velocity: int | None
    phrase: Path | None
    messages: tuple[tuple[bytes, float], ...]
    duration_s: float


@dataclasses.dataclass(frozen=True)
class Job:
    """A validated job: the settings shared by all items (``params``: plugin parameter values,
    ``post``: the chain as given) and the items in render order (pair, velocity, morph, note)."""

    plugin: Path | None
    sample_rate: int
    bit_depth: int | str
    file_format: str
    params: dict[str, float]
    post: tuple[dict[str, Any], ...]
    morphs: tuple[float, ...]
    items: tuple[Item, ...]

    @property
    def subtype(self) -> str:
        return SUBTYPES[self.bit_depth]


def load_job(path: Path) -> Job:
    """Read and validate a TOML job file. Raises :class:`JobError` (``key`` ``"file"`` when the
    file cannot be read or is not TOML; tomllib's message then gives the line and column)."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise JobError("file", f"cannot read {path}: {error.strerror or error}") from error
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise JobError("file", f"{path} is not valid TOML: {error}") from error
    return job_from_dict(data, path.parent)


def job_from_dict(data: dict[str, Any], base_dir: Path) -> Job:
    """Validate job keys (see the module docstring; relative paths resolve against ``base_dir``)
    and expand them into items. Raises :class:`JobError` naming the first wrong key."""
    from .post import validate_chain

    base_dir = base_dir.absolute()  # the plugin takes absolute slot paths only

    unknown = sorted(set(data) - set(KEYS))
    if unknown:
        raise JobError(unknown[0], f"unknown key (known: {', '.join(KEYS)})")
    sample_rate = _int(data, "sample_rate", DEFAULT_SAMPLE_RATE, MIN_SAMPLE_RATE_HZ, MAX_SAMPLE_RATE_HZ)
    bit_depth = data.get("bit_depth", DEFAULT_BIT_DEPTH)
    if bit_depth not in SUBTYPES or isinstance(bit_depth, bool):
        raise JobError("bit_depth", f'{bit_depth!r} is not 16, 24 or "float"')
    file_format = data.get("format", DEFAULT_FORMAT)
    if file_format not in FORMATS:
        raise JobError("format", f"{file_format!r} is not one of {', '.join(FORMATS)}")
    if file_format == "flac" and bit_depth == "float":
        raise JobError("bit_depth", "FLAC holds 16 or 24 bit PCM, not float")
    morphs = tuple(_numbers(data.get("morph", [0.0, 0.5, 1.0]), "morph", float, 0.0, 1.0))
    velocities = tuple(_numbers(data.get("velocities", [DEFAULT_VELOCITY]), "velocities", int, 1, 127))
    notes = parse_notes(data.get("notes", [60]), base_dir)
    length_s = _float(data, "length_s", DEFAULT_LENGTH_S, minimum=1e-3)
    tail_s = _float(data, "tail_s", DEFAULT_TAIL_S, minimum=0.0)
    params = data.get("params", {})
    if not isinstance(params, dict):
        raise JobError("params", "must be a table of parameter = number")
    for key, value in params.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise JobError(f"params.{key}", f"{value!r} is not a number")
    post = data.get("post", [])
    if not isinstance(post, list) or not all(isinstance(step, dict) for step in post):
        raise JobError("post", 'must be a list of tables ([[post]] effect = "…" …)')
    validate_chain(post)
    plugin = data.get("plugin")
    if plugin is not None and not isinstance(plugin, str):
        raise JobError("plugin", f"{plugin!r} is not a path")
    pairs = parse_sources(data.get("sources"), base_dir)
    items = expand(pairs, morphs, notes, velocities, length_s, tail_s, data.get("name", DEFAULT_NAME), file_format)
    return Job(
        base_dir / plugin if plugin else None,
        sample_rate,
        bit_depth,
        file_format,
        {k: float(v) for k, v in params.items()},
        tuple(post),
        morphs,
        items,
    )


def parse_notes(value: Any, base_dir: Path) -> list[int] | Phrase:
    """MIDI notes from a list, ``"60,64,67"``, ``"LOW:HIGH:STEP"`` (HIGH included when on a step),
    a MIDI file (``{midi = "x.mid"}`` or a ``.mid`` path) read as one :class:`Phrase`, or the notes
    transcribed from a recorded melody (``{melody = "x.wav"}``, :mod:`.melody`) as one phrase.
    Raises :class:`JobError` (key ``notes``)."""
    if isinstance(value, dict):
        if len(value) != 1 or set(value) - {"midi", "melody"}:
            raise JobError("notes", 'a table must be {midi = "file.mid"} or {melody = "recording.wav"}')
        if "melody" in value:
            return read_melody(base_dir / str(value["melody"]))
        return read_midi(base_dir / str(value["midi"]))
    if isinstance(value, str) and value.lower().endswith(MIDI_EXTENSIONS):
        return read_midi(base_dir / value)
    if isinstance(value, str) and ":" in value:
        try:
            low, high, step = (int(p) for p in value.split(":"))
        except ValueError:  # not three integers
            low, high, step = 0, -1, 0
        if step <= 0 or high < low:
            raise JobError("notes", f"{value!r} is not LOW:HIGH:STEP with LOW ≤ HIGH and STEP > 0")
        value = list(range(low, high + 1, step))
    return _numbers(value, "notes", int, 0, 127)


def read_midi(path: Path) -> Phrase:
    """A MIDI file's channel messages (notes, pedals, pitch bend; all tracks merged) at absolute
    times in s, read with mido. Raises :class:`JobError` (key ``notes``) when it cannot be read or
    holds no note."""
    import mido

    try:
        midi = mido.MidiFile(path)
        now_s, messages = 0.0, []
        for message in midi:  # merged tracks, delta times in s (tempo applied)
            now_s += message.time
            if not message.is_meta and message.type != "sysex":
                messages.append((bytes(message.bytes()), now_s))
    except (OSError, EOFError, ValueError, KeyError) as error:
        raise JobError("notes", f"cannot read MIDI file {path}: {error}") from error
    if not any(m[0] >> 4 == 0x9 and m[2] > 0 for m, _ in messages):
        raise JobError("notes", f"MIDI file {path} has no note")
    return Phrase(path, tuple(messages), now_s)


def read_melody(path: Path) -> Phrase:
    """The notes of the recorded melody ``path`` (:func:`.melody.transcribe`) as one :class:`Phrase`.
    Raises :class:`JobError` (key ``notes``)."""
    from .melody import transcribe

    notes = transcribe(path)
    messages = sorted(
        [(bytes([0x90, note, velocity]), start) for start, _, note, velocity in notes]
        + [(bytes([0x80, note, 0]), end) for _, end, note, _ in notes],
        key=lambda m: m[1],
    )
    return Phrase(path, tuple(messages), max(end for _, end, _, _ in notes))


def parse_sources(value: Any, base_dir: Path) -> list[tuple[Path, Path]]:
    """Source pairs from ``{pairs = [[a, b], …], cross = [[folder_a, folder_b], …]}``: pairs as
    given (a missing file fails its items, not the job), folders crossed file by file (audio files,
    recursive, sorted). Raises :class:`JobError` (``sources…``)."""
    if not isinstance(value, dict) or not value:
        raise JobError("sources", 'give [sources] pairs = [["a.wav", "b.wav"]] and/or cross = [["dirA", "dirB"]]')
    unknown = sorted(set(value) - {"pairs", "cross"})
    if unknown:
        raise JobError(f"sources.{unknown[0]}", "unknown key (known: pairs, cross)")
    pairs: list[tuple[Path, Path]] = []
    for kind in ("pairs", "cross"):
        entries = value.get(kind, [])
        if not isinstance(entries, list):
            raise JobError(f"sources.{kind}", "must be a list of [a, b] pairs")
        for i, entry in enumerate(entries):
            key = f"sources.{kind}[{i}]"
            if not (isinstance(entry, list) and len(entry) == 2 and all(isinstance(p, str) for p in entry)):
                raise JobError(key, f"{entry!r} is not a pair of paths [a, b]")
            a, b = (base_dir / p for p in entry)
            if kind == "pairs":
                pairs.append((a, b))
            else:
                pairs += [(x, y) for x in _audio_files(a, key) for y in _audio_files(b, key)]
    return pairs


def _audio_files(folder: Path, key: str) -> list[Path]:
    if not folder.is_dir():
        raise JobError(key, f"{folder} is not a folder")
    files = sorted(p for p in folder.rglob("*") if is_audio_path(p) and p.is_file())
    if not files:
        raise JobError(key, f"no audio files in {folder}")
    return files


def expand(
    pairs: list[tuple[Path, Path]],
    morphs: tuple[float, ...],
    notes: list[int] | Phrase,
    velocities: tuple[int, ...],
    length_s: float,
    tail_s: float,
    name: Any,
    file_format: str,
) -> tuple[Item, ...]:
    """All items, in order pair → velocity → morph → note, named by the ``name`` template.
    Raises :class:`JobError` (key ``name``) for a bad template, a path leaving the output folder or
    two items with the same name."""
    if not isinstance(name, str) or not name:
        raise JobError("name", "must be a template string such as " + repr(DEFAULT_NAME))
    items, seen = [], {}
    phrase = notes if isinstance(notes, Phrase) else None
    note_values: list[int | None] = [None] if isinstance(notes, Phrase) else list(notes)
    velocity_values: list[int | None] = [None] if phrase else list(velocities)
    for pair_index, (a, b) in enumerate(pairs):
        for velocity in velocity_values:
            for morph in morphs:
                for note in note_values:
                    fields = {
                        "a": a.stem,
                        "b": b.stem,
                        "pair": pair_index,
                        "morph": morph,
                        "note": phrase.path.stem if phrase else note,
                        "velocity": velocity,
                    }
                    try:
                        path = name.format(**fields) + "." + file_format
                    except (KeyError, IndexError, ValueError) as error:
                        raise JobError(
                            "name",
                            f"{name!r} does not format ({type(error).__name__}: {error}); fields: {', '.join(fields)}",
                        ) from error
                    if Path(path).is_absolute() or ".." in Path(path).parts:
                        raise JobError("name", f"{path!r} leaves the output folder")
                    if path in seen:
                        raise JobError(
                            "name",
                            f"two items are both named {path!r}: add the fields that tell "
                            "them apart ({a}, {b}, {pair}, {morph}, {note}, {velocity})",
                        )
                    seen[path] = True
                    if phrase:
                        messages, duration_s = phrase.messages, phrase.length_s + tail_s
                    else:
                        assert note is not None and velocity is not None  # a single note has both
                        messages = ((bytes([0x90, note, velocity]), 0.0), (bytes([0x80, note, 0]), length_s))
                        duration_s = length_s + tail_s
                    items.append(
                        Item(path, a, b, morph, note, velocity, phrase.path if phrase else None, messages, duration_s)
                    )
    return tuple(items)


def _numbers(value: Any, key: str, kind: type, low: float, high: float) -> list:
    """A non-empty list (or comma-separated string) of numbers of ``kind`` in [low, high]."""
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    if not isinstance(value, list) or not value:
        raise JobError(key, f"{value!r} is not a non-empty list")
    out = []
    for v in value:
        try:
            number = kind(v) if not isinstance(v, bool) else None
        except (TypeError, ValueError):
            number = None
        if number is None or (kind is int and isinstance(v, float) and v != number) or not low <= number <= high:
            raise JobError(key, f"{v!r} is not {'an integer' if kind is int else 'a number'} in [{low}, {high}]")
        out.append(number)
    return out


def _int(data: dict, key: str, default: int, low: int, high: int) -> int:
    return _numbers([data.get(key, default)], key, int, low, high)[0]


def _float(data: dict, key: str, default: float, minimum: float) -> float:
    return _numbers([data.get(key, default)], key, float, minimum, float("inf"))[0]

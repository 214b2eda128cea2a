"""Soundfont sources (FluidR3_GM, MuseScore General): SF2 sample tables, recording keys, note
grids and FluidSynth rendering."""

from __future__ import annotations

import collections
import ctypes
import dataclasses
import hashlib
import subprocess
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import soundfile as sf
from rich.console import Console
from rich.progress import Progress

from .categories import category_for_drum_note, category_for_program
from .clips import SAMPLE_RATE, Stats, clip_record, existing_duration, pcm16, trim_and_normalise, write_wav_atomic
from .debian import fetch_package
from .sf2 import (
    DRUM_NOTES,
    DRUM_PRESETS,
    MELODIC_NOTES,
    MELODIC_VELOCITIES,
    MUSESCORE_NOTES,
    MUSESCORE_VELOCITIES,
    Node,
    fluidr3_recording_keys,
    musescore_recording_keys,
    preset_zones,
    variant_nodes,
)

SOUNDFONT_PACKAGE = "fluid-soundfont-gm"
SOUNDFONT_SYSTEM_PATH = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
SOUNDFONT_LICENSE = "MIT"
NOTE_HOLD_S = 1.0
NOTE_RELEASE_S = 0.6
DRUM_VELOCITY = 100
DRUM_RENDER_S = 1.5
SYNTH_GAIN = 0.5
_BLOCK = 64  # fluidsynth's internal block: note events take effect on these boundaries

# MuseScore General (its note grid: .sf2.MUSESCORE_NOTES, MUSESCORE_VELOCITIES).
MUSESCORE_PACKAGE = "musescore-general-soundfont"
MUSESCORE_SYSTEM_PATH = Path("/usr/share/sounds/sf3/MuseScore_General_Full.sf3")
MUSESCORE_LICENSE = "MIT"


@dataclasses.dataclass(frozen=True)
class NoteSpec:
    """One soundfont render: ``bank`` 128 (drum kit) or melodic (``preset`` = GM program; bank 0 or a
    variation bank, :data:`.sf2.VARIANT_BANKS`)."""

    bank: int
    preset: int
    note: int
    velocity: int
    source: str = "fluidr3"  # fluidr3 | musescore: the soundfont, and the clip-id prefix

    @property
    def node(self) -> Node:
        """The recording-key node: ``("prog", program, bank)`` or ``("drum", note, preset)``."""
        return ("drum", self.note, self.preset) if self.bank == 128 else ("prog", self.preset, self.bank)

    @property
    def clip_id(self) -> str:
        if self.bank == 128:
            return f"{self.source}/drums/kit{self.preset:03d}/n{self.note:03d}"
        bank = f"bank{self.bank:03d}/" if self.bank else ""
        return f"{self.source}/{bank}prog{self.preset:03d}/n{self.note:03d}_v{self.velocity:03d}"


def _cap(grid: list[NoteSpec], max_notes: int | None) -> list[NoteSpec]:
    """The ``max_notes`` specs with the smallest sha1(clip_id), in grid order (all when ``None``)."""
    if max_notes is None or max_notes >= len(grid):
        return grid
    chosen = set(sorted(grid, key=lambda s: hashlib.sha1(s.clip_id.encode()).hexdigest())[: max(0, max_notes)])
    return [s for s in grid if s in chosen]


def fluidr3_grid(max_notes: int | None = None, variants: Sequence[Node] = ()) -> list[NoteSpec]:
    """The FluidR3 render list in render order (melodic programs, their ``variants`` (nodes of
    :func:`.sf2.variant_nodes`) on the same notes, then drum kits).

    With ``max_notes`` a deterministic subset: the ``max_notes`` specs with the smallest
    sha1(clip_id), which spreads a small budget over all programs and kits.
    """
    programs = [(0, p) for p in range(128)] + [(bank, p) for _, p, bank in variants]
    grid = [NoteSpec(b, p, n, v) for b, p in programs for n in MELODIC_NOTES for v in MELODIC_VELOCITIES]
    grid += [NoteSpec(128, k, n, DRUM_VELOCITY) for k in DRUM_PRESETS for n in DRUM_NOTES]
    return _cap(grid, max_notes)


def musescore_grid(zones: dict[tuple[int, int], list[tuple[int, int, int]]],
                   max_notes: int | None = None) -> list[NoteSpec]:  # fmt: skip
    """The MuseScore General render list: bank-0 programs, then every drum kit's mapped notes.

    Programs present in ``zones`` (from :func:`preset_zones`) are rendered at
    :data:`MUSESCORE_NOTES` x :data:`MUSESCORE_VELOCITIES`; every bank-128 kit at each note 0-127
    that one of its zones maps (GM kits use 27-87, the marching kits other ranges) at
    :data:`DRUM_VELOCITY`. Variation presets (:data:`.sf2.VARIANT_BANKS`) follow the programs on
    their notes; the other banks (MuseScore's "Expr." articulations, string sections) are left out.
    ``max_notes`` caps the list as in :func:`fluidr3_grid`.
    """
    programs = sorted((bank, p) for bank, p in zones if bank == 0) + [(bank, p) for _, p, bank in variant_nodes(zones)]
    grid = [
        NoteSpec(b, p, n, v, "musescore") for b, p in programs for n in MUSESCORE_NOTES for v in MUSESCORE_VELOCITIES
    ]
    for kit in sorted(p for bank, p in zones if bank == 128):
        notes = sorted({n for lo, hi, _ in zones[(128, kit)] for n in range(lo, min(hi, 127) + 1)})
        grid += [NoteSpec(128, kit, n, DRUM_VELOCITY, "musescore") for n in notes]
    return _cap(grid, max_notes)


class FluidRenderer:
    """Renders single notes of a soundfont with pyfluidsynth (reverb and chorus off, gain 0.5).

    Audio is pulled with ``fluid_synth_write_float`` (the float twin of pyfluidsynth's
    ``get_samples``, from the same library) so quiet notes are not quantised before normalising.
    """

    def __init__(self, sf2_path: Path, sample_rate: int = SAMPLE_RATE):
        import fluidsynth  # pyfluidsynth: optional (train extra), imported only when rendering

        settings = {"synth.reverb.active": 0, "synth.chorus.active": 0}
        self.synth = fluidsynth.Synth(gain=SYNTH_GAIN, samplerate=sample_rate, **settings)
        self.sample_rate = sample_rate
        self.sfid = self.synth.sfload(str(sf2_path))
        if self.sfid < 0:
            raise RuntimeError(f"fluidsynth cannot load {sf2_path}")
        write = getattr(fluidsynth._fl, "fluid_synth_write_float", None)
        if write is not None:
            write.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p, ctypes.c_int,
                              ctypes.c_int, ctypes.c_void_p, ctypes.c_int, ctypes.c_int]  # fmt: skip
            write.restype = ctypes.c_int
        self._write_float = write
        self._selected: tuple[int, int, int] | None = None

    def preset_name(self, bank: int, preset: int) -> str | None:
        """Name of a soundfont preset, ``None`` when the soundfont lacks it."""
        return self.synth.sfpreset_name(self.sfid, bank, preset)

    def _pull(self, frames: int) -> np.ndarray:
        """Next ``frames`` samples, stereo downmixed: ``[frames]`` float32."""
        if self._write_float is None:
            stereo = self.synth.get_samples(frames).astype(np.float32) / 32768.0
        else:
            stereo = np.zeros(2 * frames, dtype=np.float32)
            ptr = stereo.ctypes.data
            self._write_float(self.synth.synth, frames, ptr, 0, 2, ptr, 1, 2)
        return stereo.reshape(frames, 2).mean(axis=1)

    def render(self, spec: NoteSpec) -> np.ndarray:
        """Render one note: ``[samples]`` float32 at ``sample_rate``, unnormalised.

        Melodic notes are held ``NOTE_HOLD_S`` then released for ``NOTE_RELEASE_S``; drum notes
        sound for ``DRUM_RENDER_S`` without a note-off (each rounded up to whole 64-frame blocks).
        All sounds are then killed and the synth flushed, so nothing leaks into the next note.
        The result depends only on ``spec``, not on the notes rendered before it.
        """
        channel = 9 if spec.bank == 128 else 0
        if self._selected != (channel, spec.bank, spec.preset):
            self.synth.program_select(channel, self.sfid, spec.bank, spec.preset)
            self._selected = (channel, spec.bank, spec.preset)

        def frames(seconds: float) -> int:
            # Events take effect at the next block start, so a pull ending mid-block would shift
            # the next note-on by the block phase left over (44100 frames = 689 blocks + 4).
            # Whole blocks keep every note-on at phase 0.
            return -(-int(seconds * self.sample_rate) // _BLOCK) * _BLOCK

        self.synth.noteon(channel, spec.note, spec.velocity)
        if spec.bank == 128:
            audio = self._pull(frames(DRUM_RENDER_S))
        else:
            held = self._pull(frames(NOTE_HOLD_S))
            self.synth.noteoff(channel, spec.note)
            audio = np.concatenate([held, self._pull(frames(NOTE_RELEASE_S))])
        self.synth.all_sounds_off(channel)
        for _ in range(64):  # flush: all_sounds_off acts on the next block
            if not np.any(self._pull(_BLOCK)):
                break
        return audio


@dataclasses.dataclass(frozen=True)
class Soundfont:
    """A soundfont to render and where it came from (recorded in each clip's ``original``)."""

    source: str  # fluidr3 | musescore
    path: Path
    package: str
    version: str
    license: str


def _soundfont(source: str, package_name: str, system_path: Path, license_: str, data_dir: Path,
               console: Console) -> Soundfont:  # fmt: skip
    """A soundfont from its Debian package: the system copy if installed, else extracted under
    ``data_dir`` with :func:`fetch_package`.

    Raises:
        RuntimeError: the package cannot be fetched or lacks the file.
    """
    if system_path.is_file():
        query = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", package_name],
                               capture_output=True, text=True)  # fmt: skip
        version = (query.stdout.strip() if query.returncode == 0 else "") or "system"
        return Soundfont(source, system_path, package_name, version, license_)
    package = fetch_package(package_name, data_dir, console)
    path = package.root / system_path.relative_to("/")
    if not path.is_file():
        found = sorted(package.root.rglob(system_path.name))
        if not found:
            raise RuntimeError(f"{system_path.name} not found in {package.root}")
        path = found[0]
    return Soundfont(source, path, package_name, package.version, license_)


def prepare_soundfont(data_dir: Path, font: Soundfont, specs: list[NoteSpec], keys: dict[Node, str | None],
                       trust: bool, progress: Progress, stats: Stats) -> list[dict]:  # fmt: skip
    """Render ``specs`` (or reuse their clips) and return their manifest records.

    Specs whose node maps to ``None`` in ``keys`` (no split can hold them) are skipped before
    rendering; a drum render identical (PCM) to another kit's render of the same note is kept once.
    """
    renderer = FluidRenderer(font.path)
    names: dict[tuple[int, int], str | None] = {}
    drum_hashes: dict[int, set[str]] = collections.defaultdict(set)
    records = []
    task = progress.add_task(f"{font.source} renders", total=len(specs))
    for spec in specs:
        progress.advance(task)
        key = keys[spec.node]
        if key is None:
            stats.dropped[f"{font.source}: shares samples with both splits or a held-out source"] += 1
            continue
        path = data_dir / "clips" / f"{spec.clip_id}.wav"
        duration = existing_duration(path, trust)
        clip = None
        if (spec.bank, spec.preset) not in names:
            names[(spec.bank, spec.preset)] = renderer.preset_name(spec.bank, spec.preset)
        if names[(spec.bank, spec.preset)] is None:
            stats.dropped[f"{font.source}: preset missing"] += 1
            continue
        if duration is None:
            clip = trim_and_normalise(renderer.render(spec))
            if clip is None:
                stats.dropped["silent or too short"] += 1
                continue
        if spec.bank == 128:  # kits reuse samples: keep one copy of identical renders
            pcm = pcm16(clip) if clip is not None else sf.read(str(path), dtype="int16")[0]
            digest = hashlib.sha1(pcm.tobytes()).hexdigest()
            if digest in drum_hashes[spec.note]:
                stats.dropped[f"{font.source} drums: identical to another kit"] += 1
                continue
            drum_hashes[spec.note].add(digest)
        if clip is not None:
            write_wav_atomic(path, clip)
            duration = clip.size / SAMPLE_RATE
            stats.written += 1
        else:
            stats.reused += 1
        if spec.bank == 128:
            category = category_for_drum_note(spec.note, spec.preset)
        else:
            category = category_for_program(spec.preset)
        original = {
            "soundfont": font.path.name, "package": font.package, "version": font.version,
            "bank": spec.bank, "program": spec.preset, "preset_name": names.get((spec.bank, spec.preset)),
            "note": spec.note, "velocity": spec.velocity,
        }  # fmt: skip
        records.append(clip_record(data_dir, spec.clip_id, path, duration, source=font.source, category=category,
                               recording_key=key, original=original, license=font.license))  # fmt: skip
    progress.update(task, completed=len(specs))
    return records


def soundfont_sources(
    data_dir: Path, max_notes: int | None, console: Console, stats: Stats
) -> list[tuple[Soundfont, list[NoteSpec], dict[Node, str | None]]]:
    """The soundfonts to render, each with its note grid (capped at ``max_notes``, see
    :func:`fluidr3_grid`) and recording keys: FluidR3_GM, then MuseScore General when it can be
    fetched (else reported on ``console`` and recorded in ``stats.failed``).

    Raises:
        RuntimeError: FluidR3_GM is neither installed nor fetchable.
    """
    fluidr3 = _soundfont("fluidr3", SOUNDFONT_PACKAGE, SOUNDFONT_SYSTEM_PATH, SOUNDFONT_LICENSE, data_dir, console)
    fluidr3_keys = fluidr3_recording_keys(fluidr3.path)
    variants = [node for node in fluidr3_keys if node[0] == "prog" and node[2] != 0]
    soundfonts = [(fluidr3, fluidr3_grid(max_notes, variants), fluidr3_keys)]
    try:
        musescore = _soundfont("musescore", MUSESCORE_PACKAGE, MUSESCORE_SYSTEM_PATH, MUSESCORE_LICENSE,
                               data_dir, console)  # fmt: skip
    except RuntimeError as error:
        console.print(f"[red]MuseScore General unavailable, its renders are skipped:[/] {error}")
        stats.failed.append({"path": MUSESCORE_PACKAGE, "reason": str(error)})
    else:
        zones = preset_zones(musescore.path)
        drum_nodes = [spec.node for spec in musescore_grid(zones) if spec.bank == 128]  # keys: full grid
        keys = musescore_recording_keys(musescore.path, fluidr3.path, drum_nodes)
        soundfonts.append((musescore, musescore_grid(zones, max_notes), keys))
    return soundfonts

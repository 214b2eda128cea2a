"""Training-data preparation: one-shot clips from Debian sample libraries and soundfont renders.

``python -m latentmorph_train.data prepare --out DATA_DIR [--max-notes N]`` builds, idempotently
and deterministically::

    DATA_DIR/debs/*.deb                      downloaded with ``apt-get download``
    DATA_DIR/packages/<package>/...          extracted with ``dpkg -x`` (never installed system-wide)
    DATA_DIR/clips/<source>/<...>.wav        mono, 44.1 kHz, PCM_16, <= 2.0 s, onset-trimmed, peak 0.9
    DATA_DIR/manifest.jsonl                  one JSON object per clip (see :func:`prepare`)
    DATA_DIR/summary.json                    counts and seconds per source / category / split

``python -m latentmorph_train.data compare OLD/manifest.jsonl NEW/manifest.jsonl [--json]`` checks
that a rebuild keeps the split of every clip it shares with an older build (exit status 1 if not).

Sources (see ``shared/DATA.md``): FluidR3_GM and MuseScore General rendered with fluidsynth
(melodic programs and drum kits), the ``hydrogen-drumkits`` kits except ``BJA_Pacific`` and
``circAfrique v4``, ``hydrogen-drumkits-effects``, the two kits of ``hydrogen-data``, the samples
of ``lmms-common`` and the UI sounds, ringtones and key clicks of ``oxygen-sounds``,
``lomiri-sounds`` and ``bucklespring-data``. Other Debian audio is reserved for evaluation and is
never read here.

The train/valid split is a hash of a *recording key* (:func:`split_for_key`) so that every clip
cut from the same recording lands on the same side. For FluidR3 the key is derived from the
soundfont's sample table: programs and drum notes that play any common sample share one key.
MuseScore General, a descendant of FluidR3, follows FluidR3's keys (:func:`musescore_recording_keys`).
Re-running skips downloads, extractions and clips already written by the same pipeline version;
clips whose source item is no longer selected (a smaller ``--max-notes``) stay on disk but are
left out of the manifest, which is the only index of the data set.
"""

from __future__ import annotations

import collections
import ctypes
import dataclasses
import hashlib
import json
import os
import re
import shutil
import struct
import subprocess
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from latentmorph.audio import AudioLoadError, is_audio_path, load_audio

# --------------------------------------------------------------------------------------------
# Constants
# --------------------------------------------------------------------------------------------

#: Bump when anything that changes the written clips changes: older clips are then re-made.
PIPELINE_VERSION = "2"  # 2: soundfont notes rendered in whole 64-frame blocks, independent of the notes before

SAMPLE_RATE = 44100
MAX_CLIP_S = 2.0
MIN_CLIP_S = 0.05
MIN_PEAK = 1e-4
TARGET_PEAK = 0.9
ONSET_DB = -40.0  # onset = first sample above peak * 10^(ONSET_DB/20)
PREROLL_S = 0.005  # kept before the onset
TAIL_DB = -60.0  # trailing frames whose max stays below peak * 10^(TAIL_DB/20) are cut
TAIL_FRAME_S = 0.010
FADE_OUT_S = 0.010
MAX_LOAD_S = 8.0  # seconds of a file decoded (room for leading silence before the 2 s clip)

CATEGORIES = (
    "kick", "snare", "hat", "cymbal", "tom", "perc", "bass", "keys", "guitar", "strings",
    "brass", "reed", "pipe", "synth", "pad", "bell", "fx", "vocal", "other",
)  # fmt: skip

# FluidR3 grid.
SOUNDFONT_PACKAGE = "fluid-soundfont-gm"
SOUNDFONT_SYSTEM_PATH = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
SOUNDFONT_LICENSE = "MIT"
MELODIC_NOTES = tuple(range(24, 97, 4))
MELODIC_VELOCITIES = (50, 100)
NOTE_HOLD_S = 1.0
NOTE_RELEASE_S = 0.6
DRUM_PRESETS = (0, 8, 16, 24, 25, 32, 40, 48)
DRUM_NOTES = tuple(range(35, 82))
DRUM_VELOCITY = 100
DRUM_RENDER_S = 1.5
SYNTH_GAIN = 0.5
_BLOCK = 64  # fluidsynth's internal block: note events take effect on these boundaries

# MuseScore General grid: about FluidR3's size (128 x 18 x 2 = 4,608 melodic renders against
# 4,864), on the notes and velocities FluidR3's grid skips, so that the two fonts together cover
# every even MIDI note 24-96 and velocities 40 / 50 / 100 / 120.
MUSESCORE_PACKAGE = "musescore-general-soundfont"
MUSESCORE_SYSTEM_PATH = Path("/usr/share/sounds/sf3/MuseScore_General_Full.sf3")
MUSESCORE_LICENSE = "MIT"
MUSESCORE_NOTES = tuple(range(26, 95, 4))
MUSESCORE_VELOCITIES = (40, 120)

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
EXCLUDED_KITS = frozenset({"BJA_Pacific", "circAfrique v4"})  # CC-BY-SA, reserved (DATA.md)
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
#: Audiophob files by these freesound users are not cleared for redistribution (DATA.md).
AUDIOPHOB_UNCLEARED_USERS = ("cubix", "menegass", "zgump")
LMMS_LICENSE = "GPL-2+"

# --------------------------------------------------------------------------------------------
# Split
# --------------------------------------------------------------------------------------------


def split_for_key(recording_key: str) -> str:
    """Deterministic split of a recording: ``"valid"`` when sha1(key) % 10 == 0, else ``"train"``.

    Every clip carrying the same ``recording_key`` lands on the same side, so train and valid are
    disjoint by recording (about 10 % of keys are valid).
    """
    digest = hashlib.sha1(recording_key.encode("utf-8")).hexdigest()
    return "valid" if int(digest, 16) % 10 == 0 else "train"


# --------------------------------------------------------------------------------------------
# Categories
# --------------------------------------------------------------------------------------------

_PROGRAM_CATEGORY_OVERRIDES = {
    21: "reed", 22: "reed", 23: "reed",  # accordion, harmonica, tango accordion
    47: "perc",  # timpani
    52: "vocal", 53: "vocal", 54: "vocal",  # choir aahs, voice oohs, synth voice
    55: "other",  # orchestra hit
    104: "guitar", 105: "guitar", 106: "guitar", 107: "guitar",  # sitar, banjo, shamisen, koto
    108: "bell", 109: "reed", 110: "strings", 111: "reed",  # kalimba, bagpipe, fiddle, shanai
    112: "bell", 113: "perc", 114: "perc", 115: "perc",  # tinkle bell, agogo, steel drums, woodblock
    116: "tom", 117: "tom", 118: "perc", 119: "cymbal",  # taiko, melodic tom, synth drum, rev. cym.
}  # fmt: skip
_FAMILY_CATEGORY = (
    "keys", "bell", "keys", "guitar", "bass", "strings", "strings", "brass",
    "reed", "pipe", "synth", "pad", "fx", "other", "perc", "fx",
)  # fmt: skip  # GM families of 8 programs: piano, chromatic perc, organ, ..., sound effects


def category_for_program(program: int) -> str:
    """Category of a General MIDI melodic program (0-127, bank 0) from its GM family."""
    if not 0 <= program <= 127:
        raise ValueError(f"GM program out of range: {program}")
    return _PROGRAM_CATEGORY_OVERRIDES.get(program, _FAMILY_CATEGORY[program // 8])


_DRUM_NOTE_CATEGORY = {
    35: "kick", 36: "kick", 37: "snare", 38: "snare", 39: "perc", 40: "snare",
    41: "tom", 43: "tom", 45: "tom", 47: "tom", 48: "tom", 50: "tom",
    42: "hat", 44: "hat", 46: "hat",
    49: "cymbal", 51: "cymbal", 52: "cymbal", 53: "cymbal", 55: "cymbal", 57: "cymbal", 59: "cymbal",
}  # fmt: skip  # every other note of 35-81 is hand / Latin percussion
#: GS extensions of the drum map: 27-34 (high Q, slap, scratches, sticks, clicks, metronome
#: bell) and 82-87 (shaker, jingle bell, bell tree, castanets, surdos).
_GS_DRUM_NOTE_CATEGORY = {29: "fx", 30: "fx", 34: "bell", 84: "bell"}  # every other one is perc
_ORCHESTRA_KIT = 48
_ORCHESTRA_TIMPANI = range(41, 54)
#: MuseScore General's kits that do not follow the GM map: every note is one kind of drum.
#: Marching bass drums are tuned kick drums; tenors (quads) are tuned toms.
_KIT_CATEGORY = {55: "perc", 56: "snare", 57: "kick", 58: "cymbal", 59: "kick", 95: "tom", 96: "tom"}  # fmt: skip


def category_for_drum_note(note: int, preset: int = 0) -> str:
    """Category of a drum-map note (GM 35-81, GS 27-87; channel 10) in drum kit ``preset`` (bank 128).

    The Orchestra kit (preset 48) maps notes 41-53 to timpani, which are ``perc``. MuseScore
    General's metronome (55) and marching kits (56-59, 95, 96) take one category per kit.
    """
    if preset in _KIT_CATEGORY:
        return _KIT_CATEGORY[preset]
    if preset == _ORCHESTRA_KIT and note in _ORCHESTRA_TIMPANI:
        return "perc"
    if 35 <= note <= 81:
        return _DRUM_NOTE_CATEGORY.get(note, "perc")
    if 27 <= note <= 87:
        return _GS_DRUM_NOTE_CATEGORY.get(note, "perc")
    return "other"


#: (category, regex) tried in order on the words of one path component; first match wins.
_WORD_RULES: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (category, re.compile(pattern))
    for category, pattern in (
        ("kick", r"kick|\b(kik|kck|bd|bassdrum|bass ?drum|bombo)\b"),
        ("snare", r"snare|\b(snr|sd|sn|rim|rims|rimshot|rimclick|side ?stick|sticks?|brush)\b"),
        ("hat", r"hat\b|hi ?hat|\b(hh\w*|chh|ohh|ho|hc)\b"),
        ("cymbal", r"cymbal|crash|ride|splash|china|zildjian|paiste|sabian|\b(cym\w*|cy|cup)\b"),
        ("tom", r"\btom|\bfloor ?tom|\btaiko\b"),
        ("perc", r"clap|cowbell|conga|bongo|shake|tambourin|\btamb|\bclav|maraca|cabasa|guiro|"
                 r"agogo|timbal|triangle|wood|block|snap|cajon|waterglass|djembe|dunun|kenkeni|"
                 r"sangban|perc|click|metronome|timpan|tabla|\budu\b|cuica|whistle|vibraslap|"
                 r"castanet|rattle|\bdrums?\b"),
        ("bass", r"\bbass(?!oon)|\bsub ?bass|\b303\b"),
        ("guitar", r"guitar|strum|\bgtr\b|banjo|sitar|koto|ukulele|mandolin"),
        ("keys", r"piano|organ|harpsi|clavinet|rhodes|wurli|\bkeys\b|epiano"),
        ("strings", r"string|violin|viola|cello|pizz|fiddle|\bharp\b"),
        ("brass", r"brass|trumpet|trombone|\bhorns?\b|tuba|cornet"),
        ("reed", r"\bsax|clarinet|oboe|bassoon|harmonica|accord(?:eon|ion)|\breed\b"),
        ("pipe", r"flute|piccolo|recorder|\bpipes?\b|ocarina|shakuhachi"),
        ("bell", r"bell|chime|glock|vibraphone|marimba|xylo|celest|\bgong|\bdong\b|\bping\b|"
                 r"kalimba|music ?box|tinkle|crystal"),
        ("pad", r"\bpads?\b|ambient|drone|atmos"),
        ("vocal", r"vocal|voice|\bvox\b|choir|\bsing|\baahs?\b|\boohs?\b"),
        ("synth", r"synth|\blead\b|acid|\bsaw|square|\bsine|pulse|moog|juno|wave|additive|"
                  r"harmonics|\bshapes?\b|\bchip\b|8 ?bit"),
        ("fx", r"\b(s?fx|effects?)\b|explo|scratch|sweep|warp|noise|\bzap|laser|applause|crowd|"
               r"\bstart|\bstop|riser|impact|\bhits?\b|buzz|breath|whoosh|revers|glitch|chroma"),
    )
)


def _words(text: str) -> str:
    """Lower-case words of a name: camelCase, digit runs and separators split (``"HiHat2"`` →
    ``"hi hat 2"``), joined by single spaces."""
    text = re.sub(r"([a-z])([A-Z])", r"\1 \2", text)
    text = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1 \2", text)
    text = re.sub(r"([A-Za-z])(\d)|(\d)([A-Za-z])", lambda m: " ".join(g for g in m.groups() if g), text)
    return " ".join(re.findall(r"[a-z0-9]+", text.lower()))


def category_for_words(names: Sequence[str], default: str = "other") -> str:
    """Category from names ordered from most to least specific (file stem, instrument, folders).

    The first name in which a rule matches decides; within a name the rules are tried in the
    order of ``_WORD_RULES`` (so ``"bass drum"`` is a kick, ``"Sabian Hat Open"`` a hat). Returns
    ``default`` when no name matches.
    """
    for name in names:
        words = _words(name)
        for category, pattern in _WORD_RULES:
            if pattern.search(words):
                return category
    return default


def category_for_path(path: str | Path) -> str:
    """Category from the words of a file path: the stem first, then the folders, innermost first."""
    path = Path(path)
    return category_for_words([path.stem, *reversed(path.parent.parts)])


#: Words naming a velocity layer, not an instrument ("mid" is left out: it names a tom).
_VELOCITY_WORDS = frozenset(
    "hard hardest soft softest med medium lite light loud quiet hit pp p mp mf f ff fff "
    "normal layer vel velocity".split()
)


def instrument_key(name: str) -> str:
    """Instrument of a drum-sample name with velocity-layer words and the final number removed.

    ``"Kick_Hard_3"``, ``"Kick_Soft_1"`` and ``"Kick"`` all give ``"kick"``; ``"beats_06-38"``
    gives ``"beats 06"`` (one recording session of the rumpf kit). A ``"Sample: "`` prefix and a
    file extension are ignored.
    """
    name = re.sub(r"^\s*sample:\s*", "", name, flags=re.IGNORECASE)
    if is_audio_path(name):
        name = name[: -len(Path(name).suffix)]
    words = [w for w in _words(name).split() if w not in _VELOCITY_WORDS]
    if len(words) > 1 and words[-1].isdigit():
        words.pop()  # only the last number: earlier ones may name the recording
    return " ".join(words) or _words(name) or name.lower()


# --------------------------------------------------------------------------------------------
# Trimming and normalisation
# --------------------------------------------------------------------------------------------


def trim_and_normalise(
    audio: np.ndarray,
    sample_rate: int = SAMPLE_RATE,
    *,
    max_duration_s: float = MAX_CLIP_S,
    min_duration_s: float = MIN_CLIP_S,
    min_peak: float = MIN_PEAK,
    target_peak: float = TARGET_PEAK,
    onset_db: float = ONSET_DB,
    preroll_s: float = PREROLL_S,
    tail_db: float = TAIL_DB,
) -> np.ndarray | None:
    """Cut a one-shot clip out of a mono signal.

    Steps: drop when the peak of ``audio`` is below ``min_peak``; start ``preroll_s`` before the
    first sample reaching ``peak * 10**(onset_db/20)``; keep at most ``max_duration_s``; cut the
    trailing 10 ms frames whose maximum stays below ``peak * 10**(tail_db/20)``; drop when shorter
    than ``min_duration_s``; fade the last 10 ms out (linear); scale to a peak of ``target_peak``.

    Args:
        audio: ``[num_samples]`` float, full scale 1.0.
        sample_rate: Hz.

    Returns:
        ``[num_clip_samples]`` float32 with ``max(|clip|) == target_peak``, or ``None`` when the
        signal is (near) silent or the clip would be too short.
    """
    x = np.asarray(audio, dtype=np.float32).reshape(-1)
    if x.size == 0 or not np.all(np.isfinite(x)):
        return None
    magnitude = np.abs(x)
    peak = float(magnitude.max())
    if peak < min_peak:
        return None
    onset = int(np.argmax(magnitude >= peak * 10.0 ** (onset_db / 20.0)))
    start = max(0, onset - int(round(preroll_s * sample_rate)))
    x = x[start : start + int(round(max_duration_s * sample_rate))]
    frame = max(1, int(round(TAIL_FRAME_S * sample_rate)))
    n_frames = -(-x.size // frame)
    padded = np.zeros(n_frames * frame, dtype=np.float32)
    padded[: x.size] = np.abs(x)
    loud = np.nonzero(padded.reshape(n_frames, frame).max(axis=1) >= peak * 10.0 ** (tail_db / 20.0))[0]
    end = min(x.size, (int(loud[-1]) + 1) * frame) if loud.size else 0
    x = x[:end]
    if x.size < int(round(min_duration_s * sample_rate)):
        return None
    fade = min(int(round(FADE_OUT_S * sample_rate)), x.size // 4)
    if fade > 0:
        x = x.copy()
        x[-fade:] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
    clip_peak = float(np.abs(x).max())
    if clip_peak < min_peak:
        return None
    return (x * np.float32(target_peak / clip_peak)).astype(np.float32)


# --------------------------------------------------------------------------------------------
# Debian packages
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Package:
    """An extracted Debian package: ``root`` is the ``dpkg -x`` folder, ``version`` its version."""

    name: str
    version: str
    root: Path


def fetch_package(name: str, data_dir: Path, console: Console | None = None) -> Package:
    """``apt-get download`` + ``dpkg -x`` a package under ``data_dir`` unless already done.

    The .deb goes to ``data_dir/debs``; the tree to ``data_dir/packages/<name>``, completed by a
    ``.extracted`` marker holding the .deb file name (so an interrupted extraction is redone).

    Raises:
        RuntimeError: apt-get or dpkg failed (message includes their stderr).
    """
    debs = data_dir / "debs"
    root = data_dir / "packages" / name
    marker = root / ".extracted"
    if marker.exists():
        deb_name = marker.read_text().strip()
    else:
        debs.mkdir(parents=True, exist_ok=True)
        found = sorted(debs.glob(f"{name}_*.deb"))
        if not found:
            if console:
                console.print(f"downloading [bold]{name}[/] with apt-get download")
            run = subprocess.run(["apt-get", "download", name], cwd=debs, capture_output=True, text=True)
            found = sorted(debs.glob(f"{name}_*.deb"))
            if run.returncode != 0 or not found:
                raise RuntimeError(f"apt-get download {name} failed: {run.stderr.strip()}")
        deb = found[-1]
        if root.exists():
            shutil.rmtree(root)
        root.mkdir(parents=True)
        run = subprocess.run(["dpkg", "-x", str(deb), str(root)], capture_output=True, text=True)
        if run.returncode != 0:
            raise RuntimeError(f"dpkg -x {deb.name} failed: {run.stderr.strip()}")
        marker.write_text(deb.name + "\n")
        deb_name = deb.name
    version = deb_name.split("_")[1].replace("%3a", ":") if deb_name.count("_") >= 2 else "unknown"
    return Package(name, version, root)


# --------------------------------------------------------------------------------------------
# Clip records and writing
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Stats:
    """Running tallies of one ``prepare`` run."""

    failed: list[dict] = dataclasses.field(default_factory=list)  # {"path", "reason"}
    dropped: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    written: int = 0
    reused: int = 0


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "x"


def _write_wav_atomic(path: Path, clip: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    sf.write(str(tmp), _pcm16(clip), SAMPLE_RATE, subtype="PCM_16", format="WAV")
    os.replace(tmp, path)


def _existing_duration(path: Path, trust: bool) -> float | None:
    """Duration in s of a clip already written by this pipeline version, else ``None``."""
    if not trust or not path.is_file():
        return None
    try:
        info = sf.info(str(path))
    except Exception:  # unreadable leftover: make it again
        return None
    if info.samplerate != SAMPLE_RATE or info.channels != 1 or info.frames == 0:
        return None
    return info.frames / info.samplerate


def _record(data_dir: Path, clip_id: str, path: Path, duration_s: float, **fields) -> dict:
    record = {
        "id": clip_id,
        "path": path.relative_to(data_dir).as_posix(),
        "source": fields["source"],
        "category": fields["category"],
        "recording_key": fields["recording_key"],
        "split": split_for_key(fields["recording_key"]),
        "duration_s": round(duration_s, 6),
        "sample_rate": SAMPLE_RATE,
        "original": fields["original"],
        "license": fields["license"],
    }
    assert record["category"] in CATEGORIES, record
    return record


# --------------------------------------------------------------------------------------------
# Soundfonts: sample tables, recording keys, note grids
# --------------------------------------------------------------------------------------------

#: A grid node: ``("prog", program, 0)`` (bank 0) or ``("drum", note, kit_preset)`` (bank 128).
Node = tuple[str, int, int]


def _sf2_pdta(path: Path) -> dict[str, bytes]:
    """The sub-chunks of an SF2/SF3 file's ``pdta`` list (``phdr``, ``pbag``, ..., ``shdr``).

    SF3 (MuseScore's Ogg-compressed SoundFont) keeps SF2's RIFF ``sfbk`` layout and its ``pdta``
    tables; only the sample data differ. Raises ``ValueError`` for another file type.
    """
    data = path.read_bytes()
    if data[:4] != b"RIFF" or data[8:12] != b"sfbk":
        raise ValueError(f"{path} is not an SF2/SF3 file")
    chunks: dict[str, bytes] = {}
    pos = 12
    while pos + 8 <= len(data):
        cid, size = data[pos : pos + 4], struct.unpack_from("<I", data, pos + 4)[0]
        if cid == b"LIST" and data[pos + 8 : pos + 12] == b"pdta":
            sub, end = pos + 12, pos + 8 + size
            while sub + 8 <= end:
                sid, ssize = data[sub : sub + 4], struct.unpack_from("<I", data, sub + 4)[0]
                chunks[sid.decode("latin-1")] = data[sub + 8 : sub + 8 + ssize]
                sub += 8 + ssize + (ssize & 1)
        pos += 8 + size + (size & 1)
    return chunks


def _sf2_preset_zones(path: Path) -> dict[tuple[int, int], list[tuple[int, int, int]]]:
    """``{(bank, preset): [(key_lo, key_hi, sample_id), ...]}`` from an SF2/SF3 file's pdta chunk."""
    chunks = _sf2_pdta(path)

    def table(name: str, fmt: str) -> list[tuple]:
        return list(struct.iter_unpack(fmt, chunks[name]))

    phdr, pbag, pgen = table("phdr", "<20sHHHIII"), table("pbag", "<HH"), table("pgen", "<HH")
    inst, ibag, igen = table("inst", "<20sH"), table("ibag", "<HH"), table("igen", "<HH")

    def zones(bags: list, gens: list, first: int, stop: int) -> Iterator[dict[int, int]]:
        for b in range(first, stop):
            yield {op: amount for op, amount in gens[bags[b][0] : bags[b + 1][0]]}

    def key_range(zone: dict[int, int]) -> tuple[int, int]:
        return (zone[43] & 0xFF, zone[43] >> 8) if 43 in zone else (0, 127)  # 43 = keyRange

    result: dict[tuple[int, int], list[tuple[int, int, int]]] = {}
    for k in range(len(phdr) - 1):  # the last header is the terminal "EOP"
        entries = []
        for pzone in zones(pbag, pgen, phdr[k][3], phdr[k + 1][3]):
            if 41 not in pzone:  # 41 = instrument; a zone without one is the global zone
                continue
            plo, phi = key_range(pzone)
            i = pzone[41]
            for izone in zones(ibag, igen, inst[i][1], inst[i + 1][1]):
                if 53 in izone:  # 53 = sampleID
                    lo, hi = key_range(izone)
                    entries.append((max(lo, plo), min(hi, phi), izone[53]))
        result[(phdr[k][2], phdr[k][1])] = entries
    return result


def _sf2_sample_names(path: Path) -> list[str]:
    """Sample names by sample id, from the 46-byte ``shdr`` records (SoundFont 2.04 §7.10)."""
    records = struct.iter_unpack("<20sIIIIIBbHH", _sf2_pdta(path)["shdr"])
    return [raw[0].split(b"\0", 1)[0].decode("latin-1").strip() for raw in records]


def _node_samples(zones: dict[tuple[int, int], list[tuple[int, int, int]]], nodes: Iterable[Node],
                  melodic_notes: Sequence[int]) -> dict[Node, set[int]]:  # fmt: skip
    """Sample ids each node plays: a program at ``melodic_notes``, a drum node at its note."""
    played = {}
    for kind, number, preset in nodes:
        notes = melodic_notes if kind == "prog" else (number,)
        bank, preset_number = (0, number) if kind == "prog" else (128, preset)
        entries = zones.get((bank, preset_number), ())
        played[(kind, number, preset)] = {s for lo, hi, s in entries for n in notes if lo <= n <= hi}
    return played


def _sample_sharing_groups(nodes: Sequence[Node], samples: dict[Node, set[int]]) -> list[list[Node]]:
    """Connected components of ``nodes`` where two nodes connect when they play a common sample.

    Union-find; every group's root is its least node by :func:`_node_order`, groups listed in
    the order of their first member in ``nodes``.
    """
    parent = {node: node for node in nodes}

    def find(node: Node) -> Node:
        while parent[node] != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    owner: dict[int, Node] = {}
    for node in nodes:
        for sample in sorted(samples[node]):
            if sample in owner:
                a, b = find(node), find(owner[sample])
                if a != b:
                    parent[max(a, b, key=_node_order)] = min(a, b, key=_node_order)
            else:
                owner[sample] = node
    groups: dict[Node, list[Node]] = {}
    for node in nodes:
        groups.setdefault(find(node), []).append(node)
    return list(groups.values())


def _node_order(node: Node) -> tuple[int, int, int]:
    return (0 if node[0] == "prog" else 1, node[1], node[2])


def _group_key(prefix: str, members: Sequence[Node]) -> str:
    """``{prefix}:prog{p}`` with the group's lowest program, else ``{prefix}:drum:{n}``."""
    programs = [n for kind, n, _ in members if kind == "prog"]
    return f"{prefix}:prog{min(programs)}" if programs else f"{prefix}:drum:{min(n for _, n, _ in members)}"


def fluidr3_recording_keys(sf2_path: Path) -> dict[Node, str]:
    """Recording keys of the FluidR3 grid, merging nodes that play a common soundfont sample.

    Nodes are melodic programs (samples at the rendered notes) and drum (preset, note) pairs.
    Connected nodes share one key: ``fluidr3:prog{p}`` with the lowest program of the group, or
    ``fluidr3:drum:{n}`` with its lowest drum note when it has no program (so all kits' renders of
    a note share a key, as the kits share samples). E.g. programs 0, 1 and 3 (grand, bright grand,
    honky-tonk) all get ``fluidr3:prog0``.

    Returns:
        ``{("prog", program, 0) | ("drum", note, preset): recording_key}``. Falls back to one key
        per program / drum note when the SF2 tables cannot be parsed.
    """
    nodes: list[Node] = [("prog", p, 0) for p in range(128)]
    nodes += [("drum", n, k) for k in DRUM_PRESETS for n in DRUM_NOTES]
    try:
        zones = _sf2_preset_zones(sf2_path)
    except (OSError, ValueError, KeyError, IndexError, struct.error):
        return {node: _group_key("fluidr3", [node]) for node in nodes}
    keys = {}
    for members in _sample_sharing_groups(nodes, _node_samples(zones, nodes, MELODIC_NOTES)):
        for node in members:
            keys[node] = _group_key("fluidr3", members)
    return keys


def musescore_recording_keys(sf3_path: Path, sf2_path: Path, drum_nodes: Sequence[Node]) -> dict[Node, str | None]:
    """Recording keys of the MuseScore General grid that keep it on FluidR3's side of the split.

    MuseScore General grew out of FluidR3 (DATA.md: ~60 % of its melodic samples are FluidR3's),
    so a MuseScore note may be a near-duplicate of a FluidR3 render. The split of FluidR3 is fixed
    (models were trained on it), so MuseScore notes follow it:

    1. MuseScore nodes (the 128 bank-0 programs at :data:`MUSESCORE_NOTES` and ``drum_nodes``)
       are grouped by shared MuseScore samples, as in :func:`fluidr3_recording_keys`.
    2. Each group is linked to every FluidR3 key it may share audio with: for a program the key of
       the FluidR3 program with the same GM number (both fonts voice the GM instrument, and SF3's
       compressed samples cannot be compared bit for bit with SF2's); for a drum node the keys of
       that GM note in every FluidR3 kit; and for any node the keys of FluidR3 nodes that play a
       sample of the same name (SoundFont sample names survived the fork for ~330 samples).
    3. A group linked to FluidR3 keys takes the least of them, so its split is FluidR3's. A group
       linked to keys on both sides of the split cannot follow both: its nodes map to ``None`` and
       are not used (the caller counts them). A group with no link gets its own key,
       ``musescore:prog{p}`` / ``musescore:drum:{n}``.

    Linking more than strictly needed only costs a few notes; linking too little leaks
    near-duplicates from train into valid, which is why the rule errs towards more links.

    Returns:
        ``{node: recording_key | None}`` for the programs and ``drum_nodes``.

    Raises:
        ValueError: a file is not an SF2/SF3 soundfont.
    """
    fluid_keys = fluidr3_recording_keys(sf2_path)
    fluid_zones, fluid_names = _sf2_preset_zones(sf2_path), _sf2_sample_names(sf2_path)
    keys_by_name: dict[str, set[str]] = collections.defaultdict(set)
    for node, samples in _node_samples(fluid_zones, fluid_keys, MELODIC_NOTES).items():
        for sample in samples:
            keys_by_name[fluid_names[sample]].add(fluid_keys[node])
    keys_by_drum_note: dict[int, set[str]] = collections.defaultdict(set)
    for (kind, number, _), key in fluid_keys.items():
        if kind == "drum":
            keys_by_drum_note[number].add(key)

    nodes: list[Node] = [("prog", p, 0) for p in range(128)] + list(drum_nodes)
    samples = _node_samples(_sf2_preset_zones(sf3_path), nodes, MUSESCORE_NOTES)
    names = _sf2_sample_names(sf3_path)
    keys: dict[Node, str | None] = {}
    for members in _sample_sharing_groups(nodes, samples):
        linked: set[str] = set()
        for kind, number, preset in members:
            linked |= {fluid_keys[(kind, number, 0)]} if kind == "prog" else keys_by_drum_note[number]
            linked |= {key for s in samples[(kind, number, preset)] for key in keys_by_name.get(names[s], ())}
        if len({split_for_key(key) for key in linked}) > 1:
            key = None
        else:
            key = min(linked) if linked else _group_key("musescore", members)
        for node in members:
            keys[node] = key
    return keys


@dataclasses.dataclass(frozen=True)
class NoteSpec:
    """One soundfont render: ``bank`` 0 (melodic, ``preset`` = GM program) or 128 (drum kit)."""

    bank: int
    preset: int
    note: int
    velocity: int
    source: str = "fluidr3"  # fluidr3 | musescore: the soundfont, and the clip-id prefix

    @property
    def node(self) -> Node:
        """The recording-key node: ``("prog", program, 0)`` or ``("drum", note, preset)``."""
        return ("prog", self.preset, 0) if self.bank == 0 else ("drum", self.note, self.preset)

    @property
    def clip_id(self) -> str:
        if self.bank == 0:
            return f"{self.source}/prog{self.preset:03d}/n{self.note:03d}_v{self.velocity:03d}"
        return f"{self.source}/drums/kit{self.preset:03d}/n{self.note:03d}"


def _cap(grid: list[NoteSpec], max_notes: int | None) -> list[NoteSpec]:
    """The ``max_notes`` specs with the smallest sha1(clip_id), in grid order (all when ``None``)."""
    if max_notes is None or max_notes >= len(grid):
        return grid
    chosen = set(sorted(grid, key=lambda s: hashlib.sha1(s.clip_id.encode()).hexdigest())[: max(0, max_notes)])
    return [s for s in grid if s in chosen]


def fluidr3_grid(max_notes: int | None = None) -> list[NoteSpec]:
    """The FluidR3 render list in render order (melodic programs, then drum kits).

    With ``max_notes`` a deterministic subset: the ``max_notes`` specs with the smallest
    sha1(clip_id), which spreads a small budget over all programs and kits.
    """
    grid = [NoteSpec(0, p, n, v) for p in range(128) for n in MELODIC_NOTES for v in MELODIC_VELOCITIES]
    grid += [NoteSpec(128, k, n, DRUM_VELOCITY) for k in DRUM_PRESETS for n in DRUM_NOTES]
    return _cap(grid, max_notes)


def musescore_grid(zones: dict[tuple[int, int], list[tuple[int, int, int]]],
                   max_notes: int | None = None) -> list[NoteSpec]:  # fmt: skip
    """The MuseScore General render list: bank-0 programs, then every drum kit's mapped notes.

    Programs present in ``zones`` (from :func:`_sf2_preset_zones`) are rendered at
    :data:`MUSESCORE_NOTES` x :data:`MUSESCORE_VELOCITIES`; every bank-128 kit at each note 0-127
    that one of its zones maps (GM kits use 27-87, the marching kits other ranges) at
    :data:`DRUM_VELOCITY`. The other banks (8, 16-51: variations and articulations of the GM
    programs) are left out, like FluidR3's. ``max_notes`` caps the list as in :func:`fluidr3_grid`.
    """
    programs = sorted(p for bank, p in zones if bank == 0)
    grid = [NoteSpec(0, p, n, v, "musescore") for p in programs for n in MUSESCORE_NOTES for v in MUSESCORE_VELOCITIES]
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


def _prepare_soundfont(data_dir: Path, font: Soundfont, specs: list[NoteSpec], keys: dict[Node, str | None],
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
            stats.dropped[f"{font.source}: shares samples with both splits"] += 1
            continue
        path = data_dir / "clips" / f"{spec.clip_id}.wav"
        duration = _existing_duration(path, trust)
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
            pcm = _pcm16(clip) if clip is not None else sf.read(str(path), dtype="int16")[0]
            digest = hashlib.sha1(pcm.tobytes()).hexdigest()
            if digest in drum_hashes[spec.note]:
                stats.dropped[f"{font.source} drums: identical to another kit"] += 1
                continue
            drum_hashes[spec.note].add(digest)
        if clip is not None:
            _write_wav_atomic(path, clip)
            duration = clip.size / SAMPLE_RATE
            stats.written += 1
        else:
            stats.reused += 1
        if spec.bank == 0:
            category = category_for_program(spec.preset)
        else:
            category = category_for_drum_note(spec.note, spec.preset)
        original = {
            "soundfont": font.path.name, "package": font.package, "version": font.version,
            "bank": spec.bank, "program": spec.preset, "preset_name": names.get((spec.bank, spec.preset)),
            "note": spec.note, "velocity": spec.velocity,
        }  # fmt: skip
        records.append(_record(data_dir, spec.clip_id, path, duration, source=font.source, category=category,
                               recording_key=key, original=original, license=font.license))  # fmt: skip
    progress.update(task, completed=len(specs))
    return records


def _pcm16(clip: np.ndarray) -> np.ndarray:
    """``[n]`` float in [-1, 1] → ``[n]`` int16 (x 32767, rounded): the samples written to disk."""
    return np.clip(np.round(clip * 32767.0), -32768, 32767).astype(np.int16)


# --------------------------------------------------------------------------------------------
# Sample files (hydrogen, lmms, UI sounds)
# --------------------------------------------------------------------------------------------


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
            clip_id = f"{source}/{_slug(kit)}/{_slug(rel.with_suffix('').as_posix())}"
            items.append(FileItem(source, package, path, clip_id, category, key, license_))
    return items


def _lmms_items(package: Package) -> list[FileItem]:
    samples = package.root / LMMS_SAMPLES_DIR
    items = []
    if not samples.is_dir():
        return items
    for path in _audio_files(samples):
        rel = path.relative_to(samples)
        clip_id = f"lmms/{_slug(rel.with_suffix('').as_posix())}"
        items.append(FileItem("lmms", package, path, clip_id, category_for_path(rel), f"lmms:{rel.as_posix()}",
                              LMMS_LICENSE))  # fmt: skip
    return items


def copyright_license(package: Package, path: Path) -> str:
    """Licence of an installed file by the package's machine-readable ``debian/copyright`` (DEP-5).

    DEP-5 ``Files:`` patterns name paths in the *source* tree (``share/sounds/x.ogg``), which
    the binary package installs under a prefix (``usr/share/sounds/x.ogg``); so the installed path
    and its suffixes are looked up, and a stanza naming the file beats the catch-all ``*``.
    Parsing and glob semantics are python-debian's (``debian.copyright``; the last matching stanza
    wins, as DEP-5 says).

    Args:
        package: the extracted package (``usr/share/doc/<name>/copyright`` inside it).
        path: an absolute path inside ``package.root``.

    Returns:
        The licence synopsis (e.g. ``"CC0-1.0"``), or ``"see debian/copyright"`` when the file is
        missing, not DEP-5, or names no stanza for ``path``.
    """
    from debian.copyright import Copyright, Error, NotMachineReadableError

    copyright_path = package.root / "usr/share/doc" / package.name / "copyright"
    try:
        with open(copyright_path, encoding="utf-8") as f:
            copyright_ = Copyright(f, strict=False)
    except (OSError, UnicodeDecodeError, Error, NotMachineReadableError, ValueError):
        return "see debian/copyright"
    parts = path.relative_to(package.root).parts
    catch_all = None
    for start in range(len(parts)):
        paragraph = copyright_.find_files_paragraph("/".join(parts[start:]))
        if paragraph is None or paragraph.license is None:
            continue
        if tuple(paragraph.files) != ("*",):
            return paragraph.license.synopsis
        catch_all = catch_all or paragraph.license.synopsis
    return catch_all or "see debian/copyright"


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
        words = [w for w in _words(rel.stem).split() if w != "oxygen"]
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
        clip_id = f"{source}/{_slug(rel.with_suffix('').as_posix())}"
        items.append(FileItem(source, package, path, clip_id, category, ui_sound_recording_key(source, rel),
                              copyright_license(package, path)))  # fmt: skip
    return items


def _prepare_files(data_dir: Path, items: list[FileItem], trust: bool, console: Console,
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
        duration = _existing_duration(path, trust)
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
            _write_wav_atomic(path, clip)
            duration = clip.size / SAMPLE_RATE
            stats.written += 1
        else:
            stats.reused += 1
        records.append(_record(data_dir, clip_id, path, duration, source=item.source, category=item.category,
                               recording_key=item.recording_key, original=original, license=item.license))  # fmt: skip
    return records


# --------------------------------------------------------------------------------------------
# Summary and entry point
# --------------------------------------------------------------------------------------------


def summarise(records: Sequence[dict]) -> dict:
    """Counts and seconds: totals and per source, category, split, source×split, category×split."""

    def tally(key_fn) -> dict:
        table: dict[str, dict] = {}
        for record in records:
            entry = table.setdefault(key_fn(record), {"clips": 0, "seconds": 0.0})
            entry["clips"] += 1
            entry["seconds"] += record["duration_s"]
        return {k: {"clips": v["clips"], "seconds": round(v["seconds"], 2)} for k, v in sorted(table.items())}

    seconds = sum(r["duration_s"] for r in records)
    return {
        "clips": len(records),
        "seconds": round(seconds, 2),
        "hours": round(seconds / 3600.0, 3),
        "recording_keys": len({r["recording_key"] for r in records}),
        "by_source": tally(lambda r: r["source"]),
        "by_category": tally(lambda r: r["category"]),
        "by_split": tally(lambda r: r["split"]),
        "by_source_split": tally(lambda r: f"{r['source']}/{r['split']}"),
        "by_category_split": tally(lambda r: f"{r['category']}/{r['split']}"),
    }


def prepare(data_dir: Path, max_notes: int | None = None, console: Console | None = None) -> dict:
    """Build ``data_dir``: packages, clips, ``manifest.jsonl`` and ``summary.json``.

    Manifest fields: ``id``, ``path`` (relative to ``data_dir``), ``source`` (fluidr3 | musescore |
    hydrogen | hydrogen-fx | lmms | oxygen | lomiri | bucklespring), ``category`` (one of :data:`CATEGORIES`), ``recording_key``, ``split``
    (train | valid), ``duration_s``, ``sample_rate`` (44100), ``original`` (package, version and
    file path, or soundfont bank / program / note / velocity) and ``license``.

    Args:
        data_dir: output folder (created).
        max_notes: cap on the renders of each soundfont (deterministic subset, see
            :func:`fluidr3_grid`), ``None`` for the full grids.

    Returns:
        The summary written to ``summary.json``.
    """
    console = console or Console()
    started = time.monotonic()
    data_dir = Path(data_dir).resolve()
    clips_dir = data_dir / "clips"
    clips_dir.mkdir(parents=True, exist_ok=True)
    stamp_path = clips_dir / ".pipeline.json"
    stamp = {"version": PIPELINE_VERSION, "sample_rate": SAMPLE_RATE, "max_clip_s": MAX_CLIP_S}
    trust = stamp_path.is_file() and json.loads(stamp_path.read_text()) == stamp
    if not trust and any(clips_dir.iterdir()):
        console.print("[yellow]clips from another pipeline version: they will be rewritten[/]")
    stats = Stats()

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

    fluidr3 = _soundfont("fluidr3", SOUNDFONT_PACKAGE, SOUNDFONT_SYSTEM_PATH, SOUNDFONT_LICENSE, data_dir, console)
    soundfonts = [(fluidr3, fluidr3_grid(max_notes), fluidr3_recording_keys(fluidr3.path))]
    try:
        musescore = _soundfont("musescore", MUSESCORE_PACKAGE, MUSESCORE_SYSTEM_PATH, MUSESCORE_LICENSE,
                               data_dir, console)  # fmt: skip
    except RuntimeError as error:
        console.print(f"[red]MuseScore General unavailable, its renders are skipped:[/] {error}")
        stats.failed.append({"path": MUSESCORE_PACKAGE, "reason": str(error)})
    else:
        zones = _sf2_preset_zones(musescore.path)
        drum_nodes = [spec.node for spec in musescore_grid(zones) if spec.bank == 128]  # keys: full grid
        keys = musescore_recording_keys(musescore.path, fluidr3.path, drum_nodes)
        soundfonts.append((musescore, musescore_grid(zones, max_notes), keys))

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    records = []
    with Progress(*columns, console=console) as progress:
        for font, specs, keys in soundfonts:
            records += _prepare_soundfont(data_dir, font, specs, keys, trust, progress, stats)
        records += _prepare_files(data_dir, items, trust, console, progress, stats)
    records.sort(key=lambda r: r["id"])
    ids = [r["id"] for r in records]
    assert len(ids) == len(set(ids)), "clip ids must be unique"

    tmp = data_dir / "manifest.jsonl.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        for record in records:
            f.write(json.dumps(record, ensure_ascii=False, sort_keys=False) + "\n")
    os.replace(tmp, data_dir / "manifest.jsonl")
    stamp_path.write_text(json.dumps(stamp))

    summary = summarise(records)
    summary.update(
        max_notes=max_notes,
        renders_requested={font.source: len(specs) for font, specs, _ in soundfonts},
        sample_files_found=len(items),
        clips_written=stats.written,
        clips_reused=stats.reused,
        dropped=dict(sorted(stats.dropped.items())),
        failed=stats.failed,
        wall_time_s=round(time.monotonic() - started, 1),
        pipeline_version=PIPELINE_VERSION,
    )
    (data_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def read_manifest(path: Path) -> list[dict]:
    """The records of a ``manifest.jsonl`` (one JSON object per line; blank lines skipped).

    Raises:
        ValueError: a line is not a JSON object with ``id`` and ``split`` (message names the line).
        OSError: the file cannot be read.
    """
    records = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise ValueError(f"{path}:{number}: not JSON ({error.msg})") from None
            if not isinstance(record, dict) or "id" not in record or "split" not in record:
                raise ValueError(f"{path}:{number}: a record needs 'id' and 'split'")
            records.append(record)
    return records


def compare_splits(old: Sequence[dict], new: Sequence[dict]) -> dict:
    """How a rebuilt manifest treats the clips of an older one.

    A model trained on ``old``'s train split may only be validated on clips it never saw, so a
    rebuild must keep every surviving clip's split (``changed`` must be empty).

    Returns:
        ``{"kept": n, "changed": [{"id", "old", "new"}...], "removed": n, "added": n,
        "added_by_source_split": {"<source>/<split>": n}}``, clips matched by ``id``.
    """
    old_split = {r["id"]: r["split"] for r in old}
    new_ids = {r["id"] for r in new}
    changed = [{"id": r["id"], "old": old_split[r["id"]], "new": r["split"]}
               for r in new if r["id"] in old_split and r["split"] != old_split[r["id"]]]  # fmt: skip
    added = collections.Counter(f"{r.get('source', '?')}/{r['split']}" for r in new if r["id"] not in old_split)
    return {
        "kept": len(new_ids & old_split.keys()),
        "changed": changed,
        "removed": len(old_split.keys() - new_ids),
        "added": sum(added.values()),
        "added_by_source_split": dict(sorted(added.items())),
    }


app = typer.Typer(add_completion=False, help="LatentMorph training-data preparation.")


@app.callback()
def _main() -> None:
    """LatentMorph training-data preparation."""


@app.command("prepare")
def prepare_command(
    out: Path = typer.Option(..., "--out", help="Data folder (e.g. .data); created if missing."),
    max_notes: int | None = typer.Option(None, "--max-notes", min=0, help="Cap on the renders per soundfont."),
) -> None:
    """Fetch the Debian sample packages, render FluidR3_GM and MuseScore General, write clips + manifest."""
    console = Console()
    summary = prepare(out, max_notes=max_notes, console=console)
    console.print(
        f"[bold green]{summary['clips']} clips, {summary['hours']:.2f} h[/] in {summary['wall_time_s']:.0f} s "
        f"(written {summary['clips_written']}, reused {summary['clips_reused']}, "
        f"failed {len(summary['failed'])}) → {Path(out) / 'manifest.jsonl'}"
    )
    for split, entry in summary["by_split"].items():
        console.print(f"  {split}: {entry['clips']} clips, {entry['seconds'] / 3600:.2f} h")


@app.command("compare")
def compare_command(
    old: Path = typer.Argument(..., help="manifest.jsonl of the data a model was trained on."),
    new: Path = typer.Argument(..., help="manifest.jsonl of the rebuilt data."),
    as_json: bool = typer.Option(False, "--json", help="Print the comparison as JSON."),
) -> None:
    """Check that a rebuilt manifest keeps every old clip's split; exit 1 when one moved."""
    console = Console()
    try:
        result = compare_splits(read_manifest(old), read_manifest(new))
    except (OSError, ValueError) as error:
        console.print(f"[red]{error}[/]")
        raise typer.Exit(2) from None
    if as_json:
        print(json.dumps(result, indent=2))
    else:
        console.print(f"kept {result['kept']}, split changed {len(result['changed'])}, "
                      f"removed {result['removed']}, added {result['added']}")  # fmt: skip
        for key, count in result["added_by_source_split"].items():
            console.print(f"  + {key}: {count}")
        for entry in result["changed"][:20]:
            console.print(f"  [red]moved[/] {entry['id']}: {entry['old']} → {entry['new']}")
    if result["changed"]:
        raise typer.Exit(1)


if __name__ == "__main__":
    app()

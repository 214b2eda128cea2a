"""The clips and pairs of an evaluation: from a data-pipeline manifest or folders, seeded subsets,
auto-built or listed morph pairs."""

from __future__ import annotations

import dataclasses
import itertools
import json
import random
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TypeVar

from ..audio import is_audio_path
from ..errors import LatentMorphError

#: Categories of the data pipeline (``latentmorph_train.data_prep.categories``) that make pair kinds;
#: ``fx`` and ``other`` belong to neither.
PITCHED_CATEGORIES = frozenset(
    {"bass", "keys", "guitar", "strings", "brass", "reed", "pipe", "synth", "pad", "bell", "vocal"}
)
DRUM_CATEGORIES = frozenset({"kick", "snare", "hat", "cymbal", "tom", "perc"})
#: Auto-built pitched pairs: B's MIDI note at most this far from A's when both are known
#: (FluidR3 notes are rendered every 4 semitones, so this is the same or the next note).
MAX_PAIR_INTERVAL_SEMITONES = 4


class EvaluationError(LatentMorphError, ValueError):
    """The evaluation cannot start: no clips, a bad manifest or pairs file, bad options."""

    code = "bad_request"


@dataclasses.dataclass(frozen=True)
class Clip:
    """One audio file. ``category``: manifest category or parent folder name; ``recording_key``:
    clips sharing it come from one recording; ``midi_note``: known pitch or ``None``."""

    path: Path
    category: str
    recording_key: str
    midi_note: int | None = None


@dataclasses.dataclass(frozen=True)
class Pair:
    """Morph from ``a`` (t = 0) to ``b`` (t = 1); ``kind``: ``pitched``, ``drum`` or a pairs-file label."""

    a: Clip
    b: Clip
    kind: str


def clips_from_manifest(manifest_path: Path, split: str) -> list[Clip]:
    """Clips of ``split`` in a data-pipeline manifest (JSON lines with ``path`` relative to the
    manifest's folder, ``split``, ``category``, ``recording_key``, optional ``original.note``;
    FluidR3 drum-kit notes are not pitches and are ignored). Raises :class:`EvaluationError` for a
    missing or malformed manifest or an empty split."""
    if not manifest_path.is_file():
        raise EvaluationError(f"manifest not found: {manifest_path} (run `make data`)")
    clips = []
    for number, line in enumerate(manifest_path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            if row["split"] != split:
                continue
            original = row.get("original") or {}
            note = original.get("note") if original.get("bank") not in (None, 128) else None
            clips.append(Clip(manifest_path.parent / row["path"], row["category"], row["recording_key"], note))
        except (json.JSONDecodeError, KeyError, TypeError) as error:
            raise EvaluationError(f"{manifest_path}:{number}: malformed manifest line ({error!r})") from error
    if not clips:
        raise EvaluationError(f"{manifest_path} has no clips in split '{split}'")
    return clips


def clips_from_dirs(dirs: Sequence[Path]) -> list[Clip]:
    """Audio files under ``dirs`` (recursive, sorted); category = parent folder name, each file its
    own recording. Raises :class:`EvaluationError` for a missing folder or no audio files."""
    clips = []
    for folder in dirs:
        if not folder.is_dir():
            raise EvaluationError(f"not a folder: {folder}")
        clips += [
            Clip(path, path.parent.name, str(path.resolve()))
            for path in sorted(folder.rglob("*"))
            if path.is_file() and is_audio_path(path)
        ]
    if not clips:
        raise EvaluationError(f"no audio files in {', '.join(map(str, dirs))}")
    return clips


T = TypeVar("T")


def select_clips(clips: Sequence[Clip], limit: int, seed: int) -> list[Clip]:
    """A seeded random subset of ``limit`` clips (all when ``limit`` is 0 or ≥ the count), in
    their original order."""
    if limit <= 0 or limit >= len(clips):
        return list(clips)
    chosen = sorted(random.Random(seed).sample(range(len(clips)), limit))
    return [clips[i] for i in chosen]


def spread(items: Sequence[T], count: int, seed: int, group: Callable[[T], str]) -> list[T]:
    """Up to ``count`` items taken in turns from each group (groups sorted by name, items in a seeded
    random order within each), so that a few items still cover every group (category, pair kind)."""
    shuffled = random.Random(seed).sample(list(items), len(items))
    groups = [[item for item in shuffled if group(item) == key] for key in sorted({group(item) for item in items})]
    return [item for turn in itertools.zip_longest(*groups) for item in turn if item is not None][:count]


def build_pairs(clips: Sequence[Clip], num_pairs: int, seed: int) -> list[Pair]:
    """``num_pairs`` seeded pairs, half ``pitched`` (two :data:`PITCHED_CATEGORIES` clips of
    different categories and recordings, notes at most :data:`MAX_PAIR_INTERVAL_SEMITONES` apart
    when both are known) and half ``drum`` (two :data:`DRUM_CATEGORIES` clips of different
    recordings). A kind without a possible pair gets none; no pair is drawn twice."""
    rng = random.Random(seed)
    pitched = [c for c in clips if c.category in PITCHED_CATEGORIES]
    drums = [c for c in clips if c.category in DRUM_CATEGORIES]

    def pitched_match(a: Clip, b: Clip) -> bool:
        near = (
            a.midi_note is None or b.midi_note is None or abs(a.midi_note - b.midi_note) <= MAX_PAIR_INTERVAL_SEMITONES
        )
        return a.category != b.category and a.recording_key != b.recording_key and near

    def drum_match(a: Clip, b: Clip) -> bool:
        return a.recording_key != b.recording_key

    pairs: list[Pair] = []
    n_pitched = (num_pairs + 1) // 2
    for kind, pool, match, count in (
        ("pitched", pitched, pitched_match, n_pitched),
        ("drum", drums, drum_match, num_pairs - n_pitched),
    ):
        seen: set[tuple[Path, Path]] = set()
        for a in rng.sample(pool, len(pool)):
            if len(seen) == count:
                break
            candidates = [b for b in pool if match(a, b) and (a.path, b.path) not in seen]
            if candidates:
                b = rng.choice(candidates)
                seen.add((a.path, b.path))
                pairs.append(Pair(a, b, kind))
    return pairs


def read_pairs(pairs_path: Path, known: Iterable[Clip] = ()) -> list[Pair]:
    """Pairs from a text file, one ``A<TAB>B[<TAB>kind]`` a line (``#`` comments and blank lines
    skipped; relative paths are relative to the file's folder; kind defaults to ``pair``). A path
    among ``known`` clips keeps its category, others take their parent folder name. Raises
    :class:`EvaluationError` for a missing file or a line without two paths."""
    if not pairs_path.is_file():
        raise EvaluationError(f"pairs file not found: {pairs_path}")
    by_path = {clip.path.resolve(): clip for clip in known}
    pairs = []
    for number, line in enumerate(pairs_path.read_text().splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = line.rstrip("\n").split("\t")
        if len(fields) not in (2, 3) or not all(fields[:2]):
            raise EvaluationError(f"{pairs_path}:{number}: expected 'A<TAB>B[<TAB>kind]', got {line!r}")
        ends = []
        for field in fields[:2]:
            path = (pairs_path.parent / field).resolve()
            ends.append(by_path.get(path) or Clip(path, path.parent.name, str(path)))
        pairs.append(Pair(ends[0], ends[1], fields[2] if len(fields) == 3 else "pair"))
    if not pairs:
        raise EvaluationError(f"{pairs_path} lists no pairs")
    return pairs

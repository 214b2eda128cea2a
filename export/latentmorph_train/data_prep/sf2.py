"""SF2 sample tables (the ``pdta`` chunk read directly), the note grids rendered from each soundfont,
and the recording keys derived from both: presets that play a common sample on the grid share one
key, so they land in one split."""

from __future__ import annotations

import collections
import struct
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

from latentmorph.library.retrieval import is_held_out

from .split import split_for_key

# FluidR3 grid: melodic programs on these notes and velocities, the drum kits (bank 128 presets)
# on these notes.
MELODIC_NOTES = tuple(range(24, 97, 4))
MELODIC_VELOCITIES = (50, 100)
DRUM_PRESETS = (0, 8, 16, 24, 25, 32, 40, 48)
DRUM_NOTES = tuple(range(35, 82))
# MuseScore General grid: about FluidR3's size (128 x 18 x 2 = 4,608 melodic renders against
# 4,864), on the notes and velocities FluidR3's grid skips, so that the two fonts together cover
# every even MIDI note 24-96 and velocities 40 / 50 / 100 / 120.
MUSESCORE_NOTES = tuple(range(26, 95, 4))
MUSESCORE_VELOCITIES = (40, 120)

#: Banks of melodic variations rendered besides bank 0: other instruments of a GM program (bank 8:
#: Detuned EP, Ukulele, Synth Bass 3, Synth Brass 3, Sine Wave …; 16: Mandolin; 1, 9, 10: Temple
#: Blocks, Burst Noise, Metronome; 20: MuseScore's violin sections and Detuned Saw). Programs are
#: what the similarity embedding generalises over, so each is worth more than more notes. Left out:
#: MuseScore's "Expr." banks (17, 18, 21, 26, 31, 41, 51; bank-0 samples under expression control)
#: and its string sections 25-50 (more of the same strings).
VARIANT_BANKS = (1, 8, 9, 10, 16, 20)

#: A grid node: ``("prog", program, bank)`` (melodic: bank 0 or a :data:`VARIANT_BANKS` bank) or
#: ``("drum", note, kit_preset)`` (bank 128).
Node = tuple[str, int, int]


def _pdta(path: Path) -> dict[str, bytes]:
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


def preset_zones(path: Path) -> dict[tuple[int, int], list[tuple[int, int, int]]]:
    """``{(bank, preset): [(key_lo, key_hi, sample_id), ...]}`` from an SF2/SF3 file's pdta chunk."""
    chunks = _pdta(path)

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


def sample_names(path: Path) -> list[str]:
    """Sample names by sample id, from the 46-byte ``shdr`` records (SoundFont 2.04 §7.10)."""
    records = struct.iter_unpack("<20sIIIIIBbHH", _pdta(path)["shdr"])
    return [raw[0].split(b"\0", 1)[0].decode("latin-1").strip() for raw in records]


def _node_samples(zones: dict[tuple[int, int], list[tuple[int, int, int]]], nodes: Iterable[Node],
                  melodic_notes: Sequence[int]) -> dict[Node, set[int]]:  # fmt: skip
    """Sample ids each node plays: a program at ``melodic_notes``, a drum node at its note."""
    played = {}
    for kind, number, preset in nodes:
        notes = melodic_notes if kind == "prog" else (number,)
        bank, preset_number = (preset, number) if kind == "prog" else (128, preset)
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


def fluidr3_recording_keys(sf2_path: Path) -> dict[Node, str | None]:
    """Recording keys of the FluidR3 grid, merging nodes that play a common soundfont sample.

    Nodes are melodic programs (samples at the rendered notes) and drum (preset, note) pairs.
    Connected nodes share one key: ``fluidr3:prog{p}`` with the lowest program of the group, or
    ``fluidr3:drum:{n}`` with its lowest drum note when it has no program (so all kits' renders of
    a note share a key, as the kits share samples). E.g. programs 0, 1 and 3 (grand, bright grand,
    honky-tonk) all get ``fluidr3:prog0``. Variation presets (:data:`VARIANT_BANKS`) come after
    and change none of these keys (:func:`_variant_keys`).

    Returns:
        ``{("prog", program, bank) | ("drum", note, preset): recording_key}``, ``None`` for a
        variation no split can hold. Falls back to one key per program / drum note, without
        variations, when the SF2 tables cannot be parsed.
    """
    nodes: list[Node] = [("prog", p, 0) for p in range(128)]
    nodes += [("drum", n, k) for k in DRUM_PRESETS for n in DRUM_NOTES]
    try:
        zones = preset_zones(sf2_path)
    except (OSError, ValueError, KeyError, IndexError, struct.error):
        return {node: _group_key("fluidr3", [node]) for node in nodes}
    keys: dict[Node, str | None] = {}
    samples = _node_samples(zones, nodes, MELODIC_NOTES)
    for members in _sample_sharing_groups(nodes, samples):
        for node in members:
            keys[node] = _group_key("fluidr3", members)
    variants = variant_nodes(zones)
    keys |= _variant_keys(variants, _node_samples(zones, variants, MELODIC_NOTES), _keys_by_sample(samples, keys),
                          lambda node: {keys[("prog", node[1], 0)]})  # fmt: skip
    return keys


def variant_nodes(zones: dict[tuple[int, int], list[tuple[int, int, int]]]) -> list[Node]:
    """The melodic variation presets of a soundfont (:data:`VARIANT_BANKS`), in (bank, program) order."""
    return [("prog", p, bank) for bank, p in sorted(zones) if bank in VARIANT_BANKS]


def _keys_by_sample(samples: dict[Node, set[int]], keys: dict[Node, str | None]) -> dict[int, set[str | None]]:
    """``{sample id: keys of the nodes that play it}``."""
    result: dict[int, set[str | None]] = collections.defaultdict(set)
    for node, played in samples.items():
        for sample in played:
            result[sample].add(keys[node])
    return result


def _variant_keys(variants: Sequence[Node], samples: dict[Node, set[int]], keys_by_sample: dict[int, set[str | None]],
                  linked_keys: Callable[[Node], set[str | None]]) -> dict[Node, str | None]:  # fmt: skip
    """Keys of variation presets that leave every existing key, split and held-out source as it was.

    A variation joins the recordings it may share audio with: those ``linked_keys`` names (its GM
    program's; in MuseScore also FluidR3 samples of the same name) and every key ``keys_by_sample``
    gives for a sample it plays. It takes the least of them, so
    its split is theirs; it maps to ``None`` (not rendered) when they span both splits, when one
    of them is ``None`` or belongs to a held-out source (``is_held_out``: a variation of a held-out
    program would otherwise put a near-duplicate of the test set into training, or grow the test set).
    """
    result: dict[Node, str | None] = {}
    for node in variants:
        linked = linked_keys(node) | {key for s in samples[node] for key in keys_by_sample.get(s, ())}
        known = {key for key in linked if key is not None}
        usable = len(known) == len(linked) and not any(is_held_out("fluidr3", key) for key in known)
        result[node] = min(known) if usable and len({split_for_key(key) for key in known}) == 1 else None
    return result


def musescore_recording_keys(sf3_path: Path, sf2_path: Path, drum_nodes: Sequence[Node]) -> dict[Node, str | None]:
    """Recording keys of the MuseScore General grid that keep it on FluidR3's side of the split.

    MuseScore General grew out of FluidR3 (~60 % of its melodic samples are FluidR3's),
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
    4. Variation presets (:data:`VARIANT_BANKS`) join the keys of their GM program in both fonts,
       of the MuseScore nodes they share a sample with, and of FluidR3 samples of the same name
       (:func:`_variant_keys`).

    Linking more than strictly needed only costs a few notes; linking too little leaks
    near-duplicates from train into valid, which is why the rule errs towards more links.

    Returns:
        ``{node: recording_key | None}`` for the programs, ``drum_nodes`` and the variations.

    Raises:
        ValueError: a file is not an SF2/SF3 soundfont.
    """
    fluid_keys = fluidr3_recording_keys(sf2_path)
    fluid_zones, fluid_names = preset_zones(sf2_path), sample_names(sf2_path)
    keys_by_name: dict[str, set[str]] = collections.defaultdict(set)
    fluid_base = [node for node in fluid_keys if node[0] == "drum" or node[2] == 0]  # variations follow these
    for node, samples in _node_samples(fluid_zones, fluid_base, MELODIC_NOTES).items():
        for sample in samples:
            keys_by_name[fluid_names[sample]].add(fluid_keys[node])
    keys_by_drum_note: dict[int, set[str]] = collections.defaultdict(set)
    for (kind, number, _), key in fluid_keys.items():
        if kind == "drum":
            keys_by_drum_note[number].add(key)

    nodes: list[Node] = [("prog", p, 0) for p in range(128)] + list(drum_nodes)
    zones = preset_zones(sf3_path)
    samples = _node_samples(zones, nodes, MUSESCORE_NOTES)
    names = sample_names(sf3_path)
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
    variants = variant_nodes(zones)
    variant_samples = _node_samples(zones, variants, MUSESCORE_NOTES)

    def linked(node: Node) -> set[str | None]:
        same_program = {keys[("prog", node[1], 0)], fluid_keys[("prog", node[1], 0)]}
        return same_program | {key for s in variant_samples[node] for key in keys_by_name.get(names[s], ())}

    keys |= _variant_keys(variants, variant_samples, _keys_by_sample(samples, keys), linked)
    return keys

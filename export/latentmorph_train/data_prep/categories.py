"""Sound categories (:data:`CATEGORIES`) of General MIDI programs, drum notes and file paths."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from latentmorph.audio import is_audio_path

CATEGORIES = (
    "kick", "snare", "hat", "cymbal", "tom", "perc", "bass", "keys", "guitar", "strings",
    "brass", "reed", "pipe", "synth", "pad", "bell", "fx", "vocal", "other",
)  # fmt: skip


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
        (
            "perc",
            r"clap|cowbell|conga|bongo|shake|tambourin|\btamb|\bclav|maraca|cabasa|guiro|"
            r"agogo|timbal|triangle|wood|block|snap|cajon|waterglass|djembe|dunun|kenkeni|"
            r"sangban|perc|click|metronome|timpan|tabla|\budu\b|cuica|whistle|vibraslap|"
            r"castanet|rattle|\bdrums?\b",
        ),
        ("bass", r"\bbass(?!oon)|\bsub ?bass|\b303\b"),
        ("guitar", r"guitar|strum|\bgtr\b|banjo|sitar|koto|ukulele|mandolin"),
        ("keys", r"piano|organ|harpsi|clavinet|rhodes|wurli|\bkeys\b|epiano"),
        ("strings", r"string|violin|viola|cello|pizz|fiddle|\bharp\b"),
        ("brass", r"brass|trumpet|trombone|\bhorns?\b|tuba|cornet"),
        ("reed", r"\bsax|clarinet|oboe|bassoon|harmonica|accord(?:eon|ion)|\breed\b"),
        ("pipe", r"flute|piccolo|recorder|\bpipes?\b|ocarina|shakuhachi"),
        (
            "bell",
            r"bell|chime|glock|vibraphone|marimba|xylo|celest|\bgong|\bdong\b|\bping\b|"
            r"kalimba|music ?box|tinkle|crystal",
        ),
        ("pad", r"\bpads?\b|ambient|drone|atmos"),
        ("vocal", r"vocal|voice|\bvox\b|choir|\bsing|\baahs?\b|\boohs?\b"),
        (
            "synth",
            r"synth|\blead\b|acid|\bsaw|square|\bsine|pulse|moog|juno|wave|additive|"
            r"harmonics|\bshapes?\b|\bchip\b|8 ?bit",
        ),
        (
            "fx",
            r"\b(s?fx|effects?)\b|explo|scratch|sweep|warp|noise|\bzap|laser|applause|crowd|"
            r"\bstart|\bstop|riser|impact|\bhits?\b|buzz|breath|whoosh|revers|glitch|chroma",
        ),
    )
)


def name_words(text: str) -> str:
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
        words = name_words(name)
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
    words = [w for w in name_words(name).split() if w not in _VELOCITY_WORDS]
    if len(words) > 1 and words[-1].isdigit():
        words.pop()  # only the last number: earlier ones may name the recording
    return " ".join(words) or name_words(name) or name.lower()

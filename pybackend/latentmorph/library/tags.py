"""Category tags: from words of the path (as NeuralFunk did), else from the similarity model's
classifier head, with its confidence.

Path words: the file name and the nearest ``PATH_LEVELS`` folders are split into lower-case words
at non-letters and camel-case boundaries (``"BD_Kick01"`` → ``bd``, ``kick``; ``"HiHat"`` → ``hi``,
``hat``) and looked up in :data:`SYNONYMS`; the file name is read before its folders, the nearest
folder before the farther ones, and a ``loop`` word anywhere wins (a kick loop is a loop).

Classifier: a linear head on the similarity embedding (trained with it on the data's 19
categories, :mod:`.similarity_model`) tags every item when it is embedded (``tag_source =
"classifier"``, ``tag_confidence`` = its probability); a path word, when there is one, replaces
that tag (:func:`path_tagged`). Its vocabulary is the model's categories, which include every
path tag but ``loop``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import PurePath

import numpy as np

from .store import Segment

#: The tags path words give.
TAGS = ("kick", "snare", "hat", "cymbal", "tom", "perc", "bass", "synth", "pad", "vocal", "fx", "loop")

#: Path word → tag. Two-word names ("bass drum", "hi hat") are joined before look-up.
SYNONYMS: dict[str, str] = {
    **dict.fromkeys(("kick", "kicks", "bd", "bassdrum", "kickdrum", "kik"), "kick"),
    **dict.fromkeys(("snare", "snares", "sd", "sn", "snr", "rimshot", "sidestick"), "snare"),
    **dict.fromkeys(
        (
            "hat",
            "hats",
            "hh",
            "hihat",
            "hihats",
            "chh",
            "ohh",
            "hhc",
            "hho",
            "hhclosed",
            "hhopen",
            "openhat",
            "closedhat",
        ),
        "hat",
    ),
    **dict.fromkeys(("cymbal", "cymbals", "cym", "crash", "ride", "rd", "china", "splash"), "cymbal"),
    **dict.fromkeys(("tom", "toms", "floortom", "tomtom"), "tom"),
    **dict.fromkeys(
        (
            "perc",
            "percussion",
            "clap",
            "claps",
            "handclap",
            "shaker",
            "conga",
            "congas",
            "bongo",
            "bongos",
            "cowbell",
            "tambourine",
            "tamb",
            "clave",
            "claves",
            "woodblock",
            "guiro",
            "cabasa",
            "maracas",
            "triangle",
            "timbale",
            "timbales",
            "agogo",
            "rim",
            "snap",
            "block",
        ),
        "perc",
    ),
    **dict.fromkeys(("bass", "basses", "sub", "subbass", "bassline"), "bass"),
    **dict.fromkeys(("synth", "synths", "lead", "leads", "arp", "pluck", "saw", "square"), "synth"),
    **dict.fromkeys(("pad", "pads", "atmo", "atmosphere", "drone"), "pad"),
    **dict.fromkeys(("vox", "vocal", "vocals", "voice", "voices", "choir", "vocoder"), "vocal"),
    **dict.fromkeys(("fx", "sfx", "effect", "effects", "noise", "riser", "sweep", "impact", "whoosh"), "fx"),
    **dict.fromkeys(("loop", "loops", "breakbeat", "breakbeats", "groove", "grooves"), "loop"),
}
_BIGRAMS = {
    ("bass", "drum"): "kick",
    ("kick", "drum"): "kick",
    ("hi", "hat"): "hat",
    ("snare", "drum"): "snare",
    ("open", "hat"): "hat",
    ("closed", "hat"): "hat",
    ("sound", "effects"): "fx",
}

#: The file name and this many enclosing folders are read.
PATH_LEVELS = 3

_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+")


def path_words(name: str) -> list[str]:
    """Lower-case words of one path component: letters only, split at camel case (``"HiHat01"`` →
    ``["hi", "hat"]``, ``"TR808_BD"`` → ``["tr", "bd"]``)."""
    return [w.lower() for w in _WORD.findall(name)]


def _tag_of_words(words: list[str]) -> str | None:
    for a, b in zip(words, words[1:]):
        if (a, b) in _BIGRAMS:
            return _BIGRAMS[(a, b)]
    for word in words:
        if word in SYNONYMS:
            return SYNONYMS[word]
    return None


def path_tag(path: str | PurePath) -> str | None:
    """The tag that the path's words name, or ``None``.

    The file stem is read first, then its folders from nearest to farthest (``PATH_LEVELS``); a
    ``loop`` word in any of them gives ``"loop"``.
    """
    path = PurePath(path)
    parts = [path.stem] + [p.name for p in list(path.parents)[:PATH_LEVELS] if p.name]
    tags = [_tag_of_words(path_words(part)) for part in parts]
    if "loop" in tags:
        return "loop"
    return next((t for t in tags if t is not None), None)


def path_tagged(path: str | PurePath, segments: list[Segment]) -> list[Segment]:
    """``segments`` with the path's tag (:func:`path_tag`) in place of the classifier's, when the path
    names one (``tag_source = "path"``, no confidence)."""
    tag = path_tag(path)
    if tag is None:
        return list(segments)
    return [replace(s, tag=tag, tag_source="path", tag_confidence=None) for s in segments]


@dataclass(frozen=True)
class TagReport:
    """Tags predicted against known ones: ``accuracy`` (fraction equal), per class (of the known
    tags) ``f1`` (harmonic mean of precision and recall; 0 when a class is never predicted right)
    and ``support`` (items), and the number of ``items``."""

    accuracy: float
    f1: dict[str, float]
    support: dict[str, int]
    items: int

    def to_json(self) -> dict:
        return {
            "accuracy": self.accuracy,
            "items": self.items,
            "macro_f1": self.macro_f1,
            "f1": self.f1,
            "support": self.support,
        }

    @property
    def macro_f1(self) -> float:
        """Unweighted mean of the per-class F1."""
        return float(np.mean(list(self.f1.values()))) if self.f1 else 0.0


def evaluate_tags(known: list[str], predicted: list[str]) -> TagReport:
    """Accuracy and per-class F1 of ``predicted`` against ``known`` (equal-length lists of tags).

    Raises:
        ValueError: the lists are empty or of different lengths.
    """
    if not known or len(known) != len(predicted):
        raise ValueError(f"need equal, non-empty lists of tags, got {len(known)} and {len(predicted)}")
    truth, guess = np.asarray(known), np.asarray(predicted)
    f1, support = {}, {}
    for tag in sorted(set(known)):
        hits = float(np.sum((truth == tag) & (guess == tag)))
        precision = hits / max(float(np.sum(guess == tag)), 1.0)
        recall = hits / float(np.sum(truth == tag))
        f1[tag] = 0.0 if hits == 0 else 2 * precision * recall / (precision + recall)
        support[tag] = int(np.sum(truth == tag))
    return TagReport(float(np.mean(truth == guess)), f1, support, len(known))

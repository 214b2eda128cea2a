"""Category tags: from words of the path (as NeuralFunk did), else from a classifier on embeddings.

Path words: the file name and the nearest ``PATH_LEVELS`` folders are split into lower-case words
at non-letters and camel-case boundaries (``"BD_Kick01"`` → ``bd``, ``kick``; ``"HiHat"`` → ``hi``,
``hat``) and looked up in :data:`SYNONYMS`; the file name is read before its folders, the nearest
folder before the farther ones, and a ``loop`` word anywhere wins (a kick loop is a loop).

Classifier: a scikit-learn ``LogisticRegression`` on the embeddings of path-tagged items predicts
the tag of items whose path says nothing (``tag_source = "classifier"``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePath

import numpy as np

#: The tag vocabulary.
TAGS = ("kick", "snare", "hat", "cymbal", "tom", "perc", "bass", "synth", "pad", "vocal", "fx", "loop")

#: Path word → tag. Two-word names ("bass drum", "hi hat") are joined before look-up.
SYNONYMS: dict[str, str] = {
    **dict.fromkeys(("kick", "kicks", "bd", "bassdrum", "kickdrum", "kik"), "kick"),
    **dict.fromkeys(("snare", "snares", "sd", "sn", "snr", "rimshot", "sidestick"), "snare"),
    **dict.fromkeys(("hat", "hats", "hh", "hihat", "hihats", "chh", "ohh", "hhc", "hho", "hhclosed", "hhopen",
                     "openhat", "closedhat"), "hat"),
    **dict.fromkeys(("cymbal", "cymbals", "cym", "crash", "ride", "rd", "china", "splash"), "cymbal"),
    **dict.fromkeys(("tom", "toms", "floortom", "tomtom"), "tom"),
    **dict.fromkeys(("perc", "percussion", "clap", "claps", "handclap", "shaker", "conga", "congas", "bongo",
                     "bongos", "cowbell", "tambourine", "tamb", "clave", "claves", "woodblock", "guiro", "cabasa",
                     "maracas", "triangle", "timbale", "timbales", "agogo", "rim", "snap", "block"), "perc"),
    **dict.fromkeys(("bass", "basses", "sub", "subbass", "bassline"), "bass"),
    **dict.fromkeys(("synth", "synths", "lead", "leads", "arp", "pluck", "saw", "square"), "synth"),
    **dict.fromkeys(("pad", "pads", "atmo", "atmosphere", "drone"), "pad"),
    **dict.fromkeys(("vox", "vocal", "vocals", "voice", "voices", "choir", "vocoder"), "vocal"),
    **dict.fromkeys(("fx", "sfx", "effect", "effects", "noise", "riser", "sweep", "impact", "whoosh"), "fx"),
    **dict.fromkeys(("loop", "loops", "breakbeat", "breakbeats", "groove", "grooves"), "loop"),
}
_BIGRAMS = {("bass", "drum"): "kick", ("kick", "drum"): "kick", ("hi", "hat"): "hat", ("snare", "drum"): "snare",
            ("open", "hat"): "hat", ("closed", "hat"): "hat", ("sound", "effects"): "fx"}

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


@dataclass(frozen=True)
class ClassifierReport:
    """Accuracy of the tag classifier on held-out items (fraction correct), with counts."""

    accuracy: float
    train_items: int
    test_items: int
    classes: list[str]

    def to_json(self) -> dict:
        return {"accuracy": self.accuracy, "train_items": self.train_items, "test_items": self.test_items,
                "classes": self.classes}


def fit_classifier(embeddings: np.ndarray, tags: list[str]):
    """A ``LogisticRegression`` (multinomial, class-balanced) fitted to ``embeddings [N, D]``.

    Raises:
        ValueError: fewer than two distinct tags.
    """
    from sklearn.linear_model import LogisticRegression  # the index and search do not need sklearn

    if len(set(tags)) < 2:
        raise ValueError(f"the classifier needs at least two tags among the path-tagged items, got {sorted(set(tags))}")
    return LogisticRegression(C=10.0, max_iter=2000, class_weight="balanced").fit(embeddings, tags)


def evaluate_classifier(embeddings: np.ndarray, tags: list[str], groups: list[str], *,
                        test_fraction: float = 0.25, seed: int = 0) -> ClassifierReport:
    """Accuracy on a held-out split disjoint by ``groups`` (folder or recording), so that no
    recording is both learnt and tested.

    Args:
        embeddings: float32 ``[N, D]``; ``tags``, ``groups``: ``N`` strings.
    Raises:
        ValueError: fewer than two groups, or fewer than two tags in the training part.
    """
    from sklearn.model_selection import GroupShuffleSplit

    if len(set(groups)) < 2:
        raise ValueError("need items from at least two folders/recordings for a held-out split")
    split = GroupShuffleSplit(n_splits=1, test_size=test_fraction, random_state=seed)
    train, test = next(split.split(embeddings, tags, groups))
    return evaluate_split(embeddings[train], [tags[i] for i in train], embeddings[test], [tags[i] for i in test])


def evaluate_split(train_x: np.ndarray, train_tags: list[str], test_x: np.ndarray,
                   test_tags: list[str]) -> ClassifierReport:
    """Fit on the training part, return the accuracy on the test part."""
    classifier = fit_classifier(train_x, train_tags)
    accuracy = float(np.mean(classifier.predict(test_x) == np.asarray(test_tags)))
    return ClassifierReport(accuracy, len(train_tags), len(test_tags), sorted(set(train_tags)))


def classify_untagged(library) -> int:
    """Tag the items of ``library`` that have no path tag with the classifier's prediction.

    Trained on the file-level and segment items whose tag came from their path (``loop`` is left
    out: it names a form, not a timbre). Items tagged by an earlier run's classifier are
    re-predicted. Returns the number of items tagged; 0 when fewer than two tags are known.
    """
    items = library.items()
    known = [it for it in items if it.tag_source == "path" and it.tag != "loop"]
    unknown = [it for it in items if it.tag_source != "path"]
    if not unknown or len({it.tag for it in known}) < 2:
        return 0
    classifier = fit_classifier(np.stack([it.embedding for it in known]), [it.tag for it in known])
    predicted = classifier.predict(np.stack([it.embedding for it in unknown]))
    library.set_tags((it.id, str(tag), "classifier") for it, tag in zip(unknown, predicted))
    return len(unknown)

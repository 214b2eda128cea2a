"""A 2-D map of the library: t-SNE of the item embeddings, as one self-contained HTML page and a PNG.

The page (``map_template.html`` filled with the points as inline JSON) needs no network: it draws
the points on a ``<canvas>``, coloured by tag with a legend; hovering shows the file name (and the
segment's start and end), clicking plays the sound with an ``<audio>`` element from its ``file://``
URL with a media fragment ``#t=start_s,end_s``. Once drawn it records the number of points on
``<body data-points-drawn="N">`` (the headless-browser test reads it). The PNG is a matplotlib
scatter plot of the same layout and colours.

t-SNE (van der Maaten & Hinton, 2008, JMLR 9) as implemented by scikit-learn (Barnes-Hut,
O(N log N)), PCA-initialised with a fixed seed, so the same library gives the same map.
"""

from __future__ import annotations

import html
import json
import re
import time
from collections import Counter
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.colors import to_hex  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from . import LibraryError  # noqa: E402
from .store import Item, Library  # noqa: E402

#: t-SNE perplexity for large libraries (scikit-learn's default); smaller ones use (N − 1) / 3.
PERPLEXITY = 30.0
#: Below this many points t-SNE runs on one thread: each of its 1,000 iterations synchronises the
#: OpenMP threads, which costs more than the work when the points are few and the cores busy
#: (120 points on the 2-core CI machine under load: 22 s with 2 threads, 2.2 s with one).
SINGLE_THREAD_MAX_POINTS = 2000
#: Colour of items without a tag, and the legend name they are listed under.
UNTAGGED_COLOUR = "#9a9a9a"
UNTAGGED_NAME = "untagged"
#: Characters that must not appear literally inside an inline ``<script>``: ``<`` (``</script>``,
#: ``<!--``), ``>`` and ``&`` for good measure, and U+2028/U+2029, line terminators in older JS.
_SCRIPT_UNSAFE = re.compile("[<>&\u2028\u2029]")
_TEMPLATE_FIELDS = re.compile(r"__LM_(TITLE|DATA)__")


@dataclass(frozen=True)
class MapReport:
    """What :func:`build_map` wrote: the paths, the number of points, the number of legend entries
    (tags, plus one for untagged items if any) and the wall time in seconds."""

    html_path: str
    png_path: str | None
    num_points: int
    num_tags: int
    seconds: float

    def to_json(self) -> dict:
        return asdict(self)


def layout_2d(embeddings: np.ndarray, *, seed: int = 0) -> np.ndarray:
    """Place the embeddings in the plane with t-SNE, scaled to the unit square.

    Args:
        embeddings: float32 ``[N, D]``, N ≥ 1 (the library's L2-normalised item embeddings).
        seed: random state of the t-SNE optimisation; the layout is deterministic given it.

    Returns:
        float64 ``[N, 2]`` with each axis min-max scaled to [0, 1] (the aspect ratio is kept:
        both axes share one scale, the shorter one is centred). One point lies at (0.5, 0.5).

    Raises:
        ValueError: ``embeddings`` is not a non-empty finite 2-D array.
    """
    embeddings = np.asarray(embeddings, dtype=np.float32)
    if embeddings.ndim != 2 or embeddings.shape[0] == 0 or not np.all(np.isfinite(embeddings)):
        raise ValueError(f"embeddings must be a finite [N ≥ 1, D] array, got shape {embeddings.shape}")
    n = embeddings.shape[0]
    if n == 1:
        return np.full((1, 2), 0.5)
    from sklearn.manifold import TSNE  # imported lazily: only the map needs scikit-learn

    # scikit-learn requires perplexity < N; (N − 1) / 3 keeps ~3 perplexities of neighbours available.
    perplexity = min(PERPLEXITY, max(1.0, (n - 1) / 3.0))
    tsne = TSNE(n_components=2, perplexity=perplexity, init="pca", learning_rate="auto", random_state=seed)
    with threadpool_limits(limits=1 if n < SINGLE_THREAD_MAX_POINTS else None, user_api="openmp"):
        xy = tsne.fit_transform(embeddings).astype(np.float64)
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    span = float((hi - lo).max()) or 1.0
    return (xy - lo) / span + (1.0 - (hi - lo) / span) / 2.0


def tag_colours(items: list[Item]) -> dict[str | None, str]:
    """Hex colour per tag (``None`` = untagged, grey), most frequent tag first: matplotlib's
    ``tab20`` for up to 20 tags, evenly spaced ``turbo`` hues beyond."""
    counts = Counter(item.tag for item in items if item.tag is not None)
    tags = [tag for tag, _ in sorted(counts.items(), key=lambda entry: (-entry[1], entry[0]))]
    if len(tags) <= 20:
        palette = [to_hex(c) for c in matplotlib.colormaps["tab20"](range(len(tags)))]
    else:
        palette = [to_hex(c) for c in matplotlib.colormaps["turbo"](np.linspace(0.05, 0.95, len(tags)))]
    colours: dict[str | None, str] = dict(zip(tags, palette))
    if any(item.tag is None for item in items):
        colours[None] = UNTAGGED_COLOUR
    return colours


def _label(item: Item) -> str:
    """The file name; for a segment (``start_s > 0``) also its span in seconds."""
    name = Path(item.path).name
    return f"{name}  {item.start_s:.2f}–{item.end_s:.2f} s" if item.start_s > 0.0 else name


def _script_json(value) -> str:
    """JSON that is safe verbatim inside ``<script type="application/json">``: the unsafe
    characters become ``\\uXXXX`` escapes, which JSON.parse turns back into the same text."""
    return _SCRIPT_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", json.dumps(value, ensure_ascii=False))


def write_map_html(path: Path, items: list[Item], xy: np.ndarray, *, title: str) -> Path:
    """Write the self-contained interactive map page.

    Args:
        path: the ``.html`` file to write (UTF-8); its folder must exist.
        items: the library items, N ≥ 1; ``items[i]`` is drawn at ``xy[i]``.
        xy: float ``[N, 2]`` in the unit square (:func:`layout_2d`), y pointing up.
        title: page title and heading (HTML-escaped here).

    Returns:
        ``path``.
    """
    colours = tag_colours(items)
    tags = list(colours)
    tag_index = {tag: i for i, tag in enumerate(tags)}
    counts = Counter(item.tag for item in items)
    data = {
        "tags": [
            {"name": UNTAGGED_NAME if tag is None else tag, "colour": colours[tag], "count": counts[tag]}
            for tag in tags
        ],
        "points": {
            "x": [round(float(v), 5) for v in xy[:, 0]],
            "y": [round(float(v), 5) for v in xy[:, 1]],
            "tag": [tag_index[item.tag] for item in items],
            "label": [_label(item) for item in items],
            "url": [Path(item.path).absolute().as_uri() for item in items],
            "start_s": [round(item.start_s, 3) for item in items],
            "end_s": [round(item.end_s, 3) for item in items],
        },
    }
    fields = {"TITLE": html.escape(title), "DATA": _script_json(data)}
    template = resources.files(__package__).joinpath("map_template.html").read_text(encoding="utf-8")
    path.write_text(_TEMPLATE_FIELDS.sub(lambda m: fields[m.group(1)], template), encoding="utf-8")
    return path


def write_map_png(path: Path, items: list[Item], xy: np.ndarray, *, title: str) -> Path:
    """Write the static map: a scatter plot of ``xy`` (float ``[N, 2]``) coloured as the page,
    with a legend (tag and count), 1500 × 1200 pixels. Returns ``path``."""
    colours = tag_colours(items)
    tags = np.array([list(colours).index(item.tag) for item in items])
    point_size = 24.0 if len(items) < 500 else 6.0
    fig, ax = plt.subplots(figsize=(10, 8))
    for i, (tag, colour) in enumerate(colours.items()):
        mask = tags == i
        ax.scatter(
            xy[mask, 0],
            xy[mask, 1],
            s=point_size,
            c=colour,
            linewidths=0,
            label=f"{UNTAGGED_NAME if tag is None else tag} ({int(mask.sum())})",
        )
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_aspect("equal")
    ax.set_title(title)
    ax.legend(
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        fontsize=8,
        markerscale=2.0 if point_size < 10 else 1.0,
        frameon=False,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=150)
    plt.close(fig)
    return path


def build_map(
    db_path: Path, html_path: Path, *, png_path: Path | None = None, category: str | None = None, seed: int = 0
) -> MapReport:
    """Lay out the library (or one category of it) and write the HTML map and, optionally, the PNG.

    Args:
        db_path: the library database (``latentmorph index`` writes it).
        html_path: the page to write; missing folders are made.
        png_path: the static picture to write, or ``None`` for none.
        category: map only the items tagged so.
        seed: t-SNE random state.

    Raises:
        LibraryError: the database is missing or not a library, or has no items (in ``category``).
    """
    started = time.perf_counter()
    with Library.open(db_path) as library:
        items = library.items(category)
    if not items:
        where = f"with tag '{category}'" if category is not None else "at all"
        raise LibraryError(f"the library '{db_path}' has no sounds {where}: run `latentmorph index DIR` first")
    xy = layout_2d(np.stack([item.embedding for item in items]), seed=seed)
    scope = f" — {category}" if category is not None else ""
    title = f"LatentMorph library{scope}: {len(items)} sounds (t-SNE of similarity embeddings)"
    html_path.parent.mkdir(parents=True, exist_ok=True)
    write_map_html(html_path, items, xy, title=title)
    if png_path is not None:
        png_path.parent.mkdir(parents=True, exist_ok=True)
        write_map_png(png_path, items, xy, title=title)
    return MapReport(
        html_path=str(html_path),
        png_path=None if png_path is None else str(png_path),
        num_points=len(items),
        num_tags=len(tag_colours(items)),
        seconds=round(time.perf_counter() - started, 3),
    )

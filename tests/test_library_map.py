"""The library map: t-SNE layout, the self-contained HTML page in headless Chromium, the PNG, the CLI."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import unquote, urlparse

import matplotlib.image
import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from latentmorph.cli import app
from latentmorph.library.indexer import index_paths
from latentmorph.library.map import layout_2d, tag_colours, write_map_html, write_map_png
from latentmorph.library.similarity_model import get_similarity_model
from latentmorph.library.store import Item, Library

from .conftest import SAMPLE_RATE

FAMILIES = ("kick", "pad", "hat")
#: A file name that must survive HTML, JSON and URL escaping (a path cannot hold a "/").
HOSTILE_NAME = "kick \"q\" <b>&'x.wav"


def _family_sound(family: str, variant: int, rng: np.random.Generator) -> np.ndarray:
    """float32 mono at SAMPLE_RATE: a pitch-swept decaying sine (kick), a slow major chord (pad) or
    a bright noise burst (hat); ``variant`` shifts pitch or decay within the family."""
    if family == "kick":
        t = np.arange(int(0.5 * SAMPLE_RATE)) / SAMPLE_RATE
        f_hz = 45 + 10 * variant + 120 * np.exp(-t / 0.03)
        audio = 0.9 * np.sin(2 * np.pi * np.cumsum(f_hz) / SAMPLE_RATE) * np.exp(-t / 0.12)
    elif family == "pad":
        t = np.arange(int(1.5 * SAMPLE_RATE)) / SAMPLE_RATE
        f0_hz = 220 * 2 ** (variant / 12)
        audio = 0.2 * sum(np.sin(2 * np.pi * f0_hz * r * t) for r in (1, 1.25, 1.5, 2)) * np.minimum(1, t / 0.4)
    else:
        n = int(0.25 * SAMPLE_RATE)
        audio = 0.5 * np.diff(rng.normal(size=n), prepend=0) * np.exp(-np.arange(n) / SAMPLE_RATE / (0.02 + 0.01 * variant))
    return audio.astype(np.float32)


def write_sound_families(root: Path, variants: int = 4) -> dict[str, list[Path]]:
    """``root/<family>/<family>_<i>.wav`` for each of FAMILIES (the folder name is the path tag),
    plus one kick named HOSTILE_NAME. Returns the files by family."""
    rng = np.random.default_rng(0)
    files: dict[str, list[Path]] = {}
    for family in FAMILIES:
        (root / family).mkdir(parents=True)
        files[family] = []
        for i in range(variants):
            path = root / family / f"{family}_{i}.wav"
            sf.write(path, _family_sound(family, i, rng), SAMPLE_RATE)
            files[family].append(path)
    hostile = root / "kick" / HOSTILE_NAME
    sf.write(hostile, _family_sound("kick", variants + 1, rng), SAMPLE_RATE)
    files["kick"].append(hostile)
    return files


@pytest.fixture(scope="module")
def tiny_library(tmp_path_factory) -> tuple[Path, dict[str, list[Path]]]:
    """A library database of 13 synthetic sounds in three tagged families, and the files by family."""
    root = tmp_path_factory.mktemp("sounds")
    files = write_sound_families(root)
    db_path = root.parent / f"{root.name}.sqlite"
    report = index_paths([root], db_path, model=get_similarity_model(), workers=1, progress=False)
    assert report.failed == 0 and report.added == sum(len(f) for f in files.values())
    return db_path, files


def render_in_chromium(page: Path, profile_dir: Path) -> tuple[str, list[str]]:
    """Load ``page`` in headless Chromium; returns the DOM after its scripts ran and every console
    line Chromium logged (all levels: the map logs nothing when it works)."""
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.fail("headless Chromium is missing: `apt-get install chromium` (the Makefile's apt step lists it)")
    result = subprocess.run(
        [chromium, "--headless", "--disable-gpu", "--no-sandbox", "--enable-logging=stderr", "--v=0",
         f"--user-data-dir={profile_dir}", "--window-size=1000,700", "--virtual-time-budget=5000",
         "--autoplay-policy=no-user-gesture-required", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout, [line for line in result.stderr.splitlines() if ":CONSOLE" in line]


def points_drawn(dom: str) -> int | None:
    match = re.search(r'data-points-drawn="(\d+)"', dom)
    return int(match.group(1)) if match else None


def page_data(page: Path) -> dict:
    """The points the page embeds, parsed as its script parses them (JSON of <script id="map-data">)."""
    match = re.search(r'<script type="application/json" id="map-data">(.*?)</script>', page.read_text("utf-8"), re.S)
    return json.loads(match.group(1))


#: Appended to a page: moves the pointer onto point POINT (placed as the page places it: a centred
#: square, 12 px margin, y up) and clicks it, as a user would.
_HOVER_AND_CLICK = """<script>
(function () {
  const points = JSON.parse(document.getElementById("map-data").textContent).points;
  const plot = document.getElementById("plot"), canvas = document.getElementById("map");
  const side = Math.min(plot.clientWidth, plot.clientHeight) - 24, box = canvas.getBoundingClientRect();
  const at = {clientX: box.left + (plot.clientWidth - side) / 2 + points.x[POINT] * side,
              clientY: box.top + (plot.clientHeight - side) / 2 + (1 - points.y[POINT]) * side};
  canvas.dispatchEvent(new MouseEvent("mousemove", at));
  canvas.dispatchEvent(new MouseEvent("click", at));
})();
</script>
</body>"""


def _items(count: int, tags: list[str | None]) -> list[Item]:
    """``count`` items cycling through ``tags``; every third one a segment (start_s > 0)."""
    return [Item(id=i + 1, path=f"/library/{tags[i % len(tags)] or 'misc'}/sound {i}.wav",
                 start_s=0.5 * (i % 3 == 2), end_s=1.25, tag=tags[i % len(tags)],
                 tag_source=None if tags[i % len(tags)] is None else "path",
                 embedding=np.zeros(4, np.float32)) for i in range(count)]


def test_layout_keeps_clusters_apart_and_is_reproducible():
    rng = np.random.default_rng(1)
    labels = np.repeat(np.arange(3), 40)
    embeddings = rng.normal(size=(3, 64))[labels] + 0.25 * rng.normal(size=(120, 64))
    embeddings /= np.linalg.norm(embeddings, axis=1, keepdims=True)
    xy = layout_2d(embeddings.astype(np.float32), seed=0)
    assert xy.shape == (120, 2) and xy.min() >= 0.0 and xy.max() <= 1.0 + 1e-9
    np.testing.assert_array_equal(xy, layout_2d(embeddings.astype(np.float32), seed=0))
    squared = ((xy[:, None] - xy[None]) ** 2).sum(axis=-1)
    np.fill_diagonal(squared, np.inf)
    # A layout that ignored the embeddings would put a same-cluster neighbour next to a point 1/3 of the time.
    assert (labels[squared.argmin(axis=1)] == labels).mean() >= 0.95


def test_layout_of_tiny_and_invalid_inputs():
    np.testing.assert_array_equal(layout_2d(np.ones((1, 8), np.float32)), [[0.5, 0.5]])
    two = layout_2d(np.eye(2, 8, dtype=np.float32))
    assert two.shape == (2, 2) and np.all((two >= 0) & (two <= 1)) and not np.allclose(two[0], two[1])
    for bad in (np.zeros((0, 8)), np.zeros(8), np.full((3, 8), np.nan)):
        with pytest.raises(ValueError, match="finite"):
            layout_2d(bad)


def test_page_draws_thousands_of_points_without_console_errors_and_escapes_names(tmp_path):
    rng = np.random.default_rng(2)
    hostile_tag = '</script><script>document.title="pwned"</script>'
    items = _items(3000, ["kick", hostile_tag, None])
    page = write_map_html(tmp_path / "map.html", items, rng.random((3000, 2)), title='a "map" <of> & sounds')
    dom, console = render_in_chromium(page, tmp_path / "profile")
    assert console == []
    assert points_drawn(dom) == 3000
    assert "<title>a \"map\" &lt;of&gt; &amp; sounds</title>" in dom and "pwned</title>" not in dom
    assert "&lt;/script&gt;&lt;script&gt;document.title" in dom  # the legend shows the tag as text
    data = page_data(page)
    assert [tag["name"] for tag in data["tags"]] == [hostile_tag, "kick", "untagged"]  # equal counts: by name
    assert [data["tags"][t]["name"] for t in data["points"]["tag"][:3]] == ["kick", hostile_tag, "untagged"]
    assert data["points"]["label"][:3] == ["sound 0.wav", "sound 1.wav", "sound 2.wav  0.50–1.25 s"]
    assert [unquote(urlparse(url).path) for url in data["points"]["url"]] == [item.path for item in items]


def test_console_error_detection_catches_a_broken_page(tmp_path):
    page = write_map_html(tmp_path / "map.html", _items(10, ["kick"]),
                          np.random.default_rng(3).random((10, 2)), title="broken")
    text = page.read_text("utf-8")
    page.write_text(text.replace('id="map-data">{', 'id="map-data">{"truncated', 1), encoding="utf-8")
    dom, console = render_in_chromium(page, tmp_path / "profile")
    assert any("Uncaught SyntaxError" in line for line in console), console
    assert points_drawn(dom) is None


def test_png_shows_each_tag_in_its_colour(tmp_path):
    items = _items(300, ["kick", "pad", None])
    xy = np.random.default_rng(4).random((300, 2))
    png = write_map_png(tmp_path / "map.png", items, xy, title="three tags")
    pixels = matplotlib.image.imread(png)[..., :3]
    assert pixels.shape == (1200, 1500, 3)

    def pixels_of(colour: str) -> int:
        rgb = np.array([int(colour[i:i + 2], 16) for i in (1, 3, 5)]) / 255.0
        return int((np.abs(pixels - rgb).max(axis=-1) < 0.02).sum())

    colours = tag_colours(items)
    assert len(set(colours.values())) == 3
    assert all(pixels_of(colour) > 200 for colour in colours.values()), colours
    assert pixels_of("#2ca02c") == 0  # tab20's third colour: no third named tag, so not drawn


def test_map_command_writes_a_page_and_png_of_the_library(tiny_library, tmp_path):
    db_path, files = tiny_library
    with Library.open(db_path) as library:
        num_items = len(library.items())
    out = tmp_path / "maps" / "map.html"
    result = CliRunner().invoke(app, ["map", "--db", str(db_path), "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["num_points"] == num_items >= 13 and report["num_tags"] == 3
    assert report["png_path"] == str(out.with_suffix(".png")) and out.with_suffix(".png").stat().st_size > 10_000
    dom, console = render_in_chromium(out, tmp_path / "profile")
    assert console == [] and points_drawn(dom) == num_items
    points = page_data(out)["points"]
    assert HOSTILE_NAME in points["label"] and {p.name for p in sum(files.values(), [])} == set(points["label"])

    # Hover shows the name and tag; a click points the <audio> element at the file and its span.
    hostile = points["label"].index(HOSTILE_NAME)
    clicked = tmp_path / "clicked.html"
    clicked.write_text(out.read_text("utf-8").replace("</body>", _HOVER_AND_CLICK.replace("POINT", str(hostile))),
                       encoding="utf-8")
    dom, console = render_in_chromium(clicked, tmp_path / "profile")
    assert console == []
    tooltip = re.search(r'<div id="tooltip"[^>]*>(.*?)</div>', dom, re.S).group(1)
    assert tooltip == html.escape(HOSTILE_NAME, quote=False) + "\nkick"
    src = html.unescape(re.search(r'<audio id="player"[^>]* src="([^"]*)"', dom).group(1))
    url, fragment = src.split("#")
    assert Path(unquote(urlparse(url).path)) == files["kick"][-1]
    assert fragment == f"t={points['start_s'][hostile]:g},{points['end_s'][hostile]:g}" and points["end_s"][hostile] > 0.4

    pads = CliRunner().invoke(app, ["map", "--db", str(db_path), "--out", str(tmp_path / "pads.html"),
                                    "--category", "pad", "--json"])
    assert pads.exit_code == 0, pads.output
    assert json.loads(pads.stdout)["num_points"] == len(files["pad"])
    assert set(page_data(tmp_path / "pads.html")["points"]["label"]) == {p.name for p in files["pad"]}


def test_map_command_refuses_a_missing_or_empty_library(tmp_path):
    runner = CliRunner()
    missing = runner.invoke(app, ["map", "--db", str(tmp_path / "none.sqlite"), "--out", str(tmp_path / "m.html")])
    assert missing.exit_code == 1 and "latentmorph index" in missing.output
    (tmp_path / "empty").mkdir()
    index_paths([tmp_path / "empty"], tmp_path / "empty.sqlite", model=get_similarity_model(), workers=1, progress=False)
    empty = runner.invoke(app, ["map", "--db", str(tmp_path / "empty.sqlite"), "--out", str(tmp_path / "m.html")])
    assert empty.exit_code == 1 and "has no sounds" in empty.output
    assert not (tmp_path / "m.html").exists()

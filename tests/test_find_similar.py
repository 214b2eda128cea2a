"""The plugin's "find similar": the backend's `similar` command (docs/protocol.md) end to end."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from latentmorph.library.indexer import index_paths
from latentmorph.library.similarity_model import get_similarity_model

from .conftest import SAMPLE_RATE, SAMPLES_DIR
from .test_backend import Backend
from .test_library_map import FAMILIES, _family_sound, tiny_library  # noqa: F401  (fixture)


@pytest.fixture(scope="module")
def library_backend(tiny_library):  # noqa: F811
    """A backend whose default library ($LATENTMORPH_LIBRARY_DB) is the tiny library."""
    db_path, _ = tiny_library
    server = Backend(env={**os.environ, "LATENTMORPH_LIBRARY_DB": str(db_path)})
    yield server
    server.proc.kill()
    server.proc.wait()


def _hits(reply: dict) -> list[dict]:
    assert reply["ok"], reply
    return reply["hits"]


@pytest.mark.parametrize("family", FAMILIES)
def test_similar_lists_the_same_family_nearest_first_without_the_query(library_backend, tiny_library, family):  # noqa: F811
    _, files = tiny_library
    query = files[family][0]
    hits = _hits(library_backend.request("similar", path=str(query), k=3, category=None, db=None))
    assert len(hits) == 3
    assert all(set(hit) == {"path", "start_s", "end_s", "distance", "tag", "segment"} for hit in hits)
    assert not any(hit["segment"] for hit in hits)  # one-shots: whole files, loaded as they are
    distances = [hit["distance"] for hit in hits]
    assert distances == sorted(distances) and 0.0 <= distances[0]
    assert str(query) not in {hit["path"] for hit in hits}  # the slot's own sample is no suggestion
    assert {Path(hit["path"]).parent.name for hit in hits} == {family} and {hit["tag"] for hit in hits} == {family}
    assert all(hit["start_s"] == 0.0 and hit["end_s"] > 0.2 for hit in hits)  # short files: whole-file items


def test_similar_finds_the_family_of_a_sound_outside_the_library(library_backend, tmp_path):
    query = tmp_path / "new kick.wav"
    sf.write(query, _family_sound("kick", 7, np.random.default_rng(9)), SAMPLE_RATE)
    hits = _hits(library_backend.request("similar", path=str(query), k=12))
    assert [hit["tag"] for hit in hits[:4]] == ["kick"] * 4
    assert hits[-1]["tag"] != "kick" and hits[-1]["distance"] > hits[0]["distance"]


def test_similar_filters_by_category(library_backend, tiny_library):  # noqa: F811
    _, files = tiny_library
    hits = _hits(library_backend.request("similar", path=str(files["kick"][0]), k=10, category="pad"))
    assert sorted(hit["path"] for hit in hits) == sorted(str(p) for p in files["pad"])


def test_request_db_overrides_the_default_library(tiny_library, tmp_path):  # noqa: F811
    db_path, files = tiny_library
    server = Backend(env={**os.environ, "LATENTMORPH_LIBRARY_DB": str(tmp_path / "none.sqlite")})
    try:
        missing = server.request("similar", path=str(files["pad"][0]), k=2)
        assert missing["error"]["code"] == "no_library" and "latentmorph index" in missing["error"]["message"]
        assert len(_hits(server.request("similar", path=str(files["pad"][0]), k=2, db=str(db_path)))) == 2
        (tmp_path / "empty").mkdir()
        index_paths([tmp_path / "empty"], tmp_path / "empty.sqlite", model=get_similarity_model(), workers=1, progress=False)
        empty = server.request("similar", path=str(files["pad"][0]), db=str(tmp_path / "empty.sqlite"))
        assert empty["error"]["code"] == "no_library" and "empty" in empty["error"]["message"]
    finally:
        server.proc.kill()
        server.proc.wait()


def test_similar_turns_bad_requests_and_queries_into_error_replies(library_backend, tmp_path):
    missing = tmp_path / "nope.wav"
    reply = library_backend.request("similar", path=str(missing))
    assert reply["error"]["code"] == "audio_load_error" and str(missing) in reply["error"]["message"]
    not_audio = tmp_path / "notes.wav"
    not_audio.write_text("not audio")
    assert library_backend.request("similar", path=str(not_audio))["error"]["code"] == "audio_load_error"
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(SAMPLE_RATE // 2, np.float32), SAMPLE_RATE)
    assert library_backend.request("similar", path=str(silent))["error"]["code"] == "audio_load_error"
    query = str(tmp_path / "x.wav")
    for fields in ({}, {"path": ""}, {"path": 3}, {"path": query, "k": 0}, {"path": query, "k": 101},
                   {"path": query, "k": True}, {"path": query, "k": "3"}, {"path": query, "category": 5},
                   {"path": query, "category": ""}, {"path": query, "db": ["a"]}):
        reply = library_backend.request("similar", **fields)
        assert reply["error"]["code"] == "bad_request", (fields, reply)
    assert library_backend.request("ping")["ok"]


def test_a_segment_hit_comes_with_its_span_as_a_file_the_slot_can_load(tmp_path):
    """A sound found inside a loop is written out as its own WAV beside the library, so "find
    similar" loads that sound into the slot, not the whole loop; the file is written once."""
    from .test_library import _write_loop

    folder = tmp_path / "loops"
    folder.mkdir()
    _write_loop(folder / "loop_bass_bell.wav", 1.6)
    db = tmp_path / "lib" / "library.sqlite"
    index_paths([folder], db, model=get_similarity_model(), workers=1, progress=False)
    server = Backend(env={**os.environ, "LATENTMORPH_LIBRARY_DB": str(db)})
    try:
        query = str(SAMPLES_DIR / "bell_c4.wav")
        hits = _hits(server.request("similar", path=query, k=3))
        again = _hits(server.request("similar", path=query, k=3))
    finally:
        server.proc.kill()
        server.proc.wait()
    top = hits[0]
    assert top["segment"] and top["start_s"] > 1.0, top
    segment = Path(top["segment_path"])
    assert segment.parent == db.parent / "segments" and segment.name.startswith("loop_bass_bell_")
    audio, rate = sf.read(segment, dtype="float32")
    loop = np.pad(sf.read(folder / "loop_bass_bell.wav", dtype="float32")[0], (0, 8))
    assert rate == SAMPLE_RATE and abs(len(audio) / rate - (top["end_s"] - top["start_s"])) < 1e-3
    first = int(round(top["start_s"] * rate))  # the answer's times are rounded to 0.1 ms: ±1 sample
    error = min(np.abs(audio - loop[start:start + len(audio)]).max() for start in (first - 1, first, first + 1))
    assert error < 1e-4
    assert again[0]["segment_path"] == top["segment_path"]
    assert all("segment_path" not in hit for hit in hits if not hit["segment"])

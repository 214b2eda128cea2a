"""Sample library: incremental index, failures, onset segments, similarity search, tags, CLI.

Uses the committed samples in presets/samples/ and audio written to temp folders; never .data/.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sqlite3
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from latentmorph.cli import app
from latentmorph.library import LibraryError, default_db_path, indexer, search
from latentmorph.library.indexer import index_paths
from latentmorph.library.search import AnnIndex, similar
from latentmorph.library.store import SCHEMA_VERSION, Library
from latentmorph.library.tags import path_tag

from .conftest import SAMPLE_RATE, SAMPLES_DIR


def _index(roots, db, **kwargs):
    return index_paths([Path(r) for r in roots], db, workers=1, progress=False, **kwargs)


@pytest.fixture
def kit(tmp_path) -> Path:
    """A small library: kick, snare and bass (upper-case extension) in nested folders."""
    root = tmp_path / "kit"
    (root / "drums").mkdir(parents=True)
    (root / "tonal").mkdir()
    shutil.copy(SAMPLES_DIR / "kick.wav", root / "drums" / "kick.wav")
    shutil.copy(SAMPLES_DIR / "snare.wav", root / "drums" / "snare.wav")
    shutil.copy(SAMPLES_DIR / "bass_c4.wav", root / "tonal" / "bass_c4.WAV")
    (root / "drums" / "notes.txt").write_text("not audio")
    return root


def _embeddings_by_path(db: Path) -> dict[str, np.ndarray]:
    with Library.open(db) as library:
        return {it.path: it.embedding for it in library.items() if it.start_s == 0.0}


def test_incremental_reindex_add_modify_touch_move_delete(kit, tmp_path):
    db = tmp_path / "lib.sqlite"
    first = _index([kit], db)
    assert (first.added, first.updated, first.unchanged, first.removed, first.failed) == (3, 0, 0, 0, 0)
    before = _embeddings_by_path(db)
    assert str(kit / "tonal" / "bass_c4.WAV") in before  # upper-case extension is audio

    again = _index([kit], db)
    assert (again.added, again.updated, again.unchanged) == (0, 0, 3)

    kick = kit / "drums" / "kick.wav"
    os.utime(kick, ns=(kick.stat().st_atime_ns, kick.stat().st_mtime_ns + 10**9))  # touched, same bytes
    touched = _index([kit], db)
    assert (touched.added, touched.updated, touched.unchanged) == (0, 0, 3)
    with Library.open(db) as library:
        assert library.file_records()[str(kick)].mtime_ns == kick.stat().st_mtime_ns

    snare = kit / "drums" / "snare.wav"
    audio, rate = sf.read(snare, dtype="float32")
    sf.write(snare, np.concatenate([audio[::-1], audio]), rate)  # new content
    modified = _index([kit], db)
    assert (modified.added, modified.updated, modified.unchanged) == (0, 1, 2)
    after = _embeddings_by_path(db)
    assert not np.allclose(after[str(snare)], before[str(snare)])
    np.testing.assert_array_equal(after[str(kick)], before[str(kick)])

    moved_to = kit / "moved" / "kick_moved.wav"
    moved_to.parent.mkdir()
    kick.rename(moved_to)
    moved = _index([kit], db)
    assert (moved.added, moved.moved, moved.removed) == (0, 1, 0)
    np.testing.assert_array_equal(_embeddings_by_path(db)[str(moved_to)], before[str(kick)])

    (kit / "tonal" / "bass_c4.WAV").unlink()
    deleted = _index([kit], db)
    assert (deleted.removed, deleted.unchanged) == (1, 2)
    assert set(_embeddings_by_path(db)) == {str(moved_to), str(snare)}


def test_reindex_of_another_root_keeps_the_first(kit, tmp_path):
    db = tmp_path / "lib.sqlite"
    _index([kit / "drums"], db)
    report = _index([kit / "tonal"], db)
    assert (report.added, report.removed) == (1, 0)
    assert len(_embeddings_by_path(db)) == 3


def test_bad_files_are_recorded_with_a_reason_and_not_retried(kit, tmp_path):
    (kit / "drums" / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunkjunkjunk")
    (kit / "drums" / "empty.aiff").write_bytes(b"")
    sf.write(kit / "drums" / "silence.flac", np.zeros(SAMPLE_RATE // 2), SAMPLE_RATE)
    db = tmp_path / "lib.sqlite"
    report = _index([kit], db)
    assert (report.added, report.failed) == (3, 3)
    reasons = dict(report.failures)
    assert "not a readable audio file" in reasons[str(kit / "drums" / "broken.wav")]
    assert "empty" in reasons[str(kit / "drums" / "empty.aiff")]
    assert "silent" in reasons[str(kit / "drums" / "silence.flac")]
    with Library.open(db) as library:
        assert dict(library.failures()) == reasons
    again = _index([kit], db)
    assert (again.failed, again.unchanged) == (0, 6)


_encode_in_worker = indexer._encode_in_worker


def _crash_on_snare(path: str):
    """Dies like a decoder library that segfaults, on snare.wav only."""
    if path.endswith("snare.wav"):
        os._exit(11)
    return _encode_in_worker(path)


def test_a_crashing_worker_costs_only_its_file(kit, tmp_path, monkeypatch):
    """The pool's workers fork after this patch, so they run :func:`_crash_on_snare`."""
    monkeypatch.setattr(indexer, "_encode_in_worker", _crash_on_snare)
    db = tmp_path / "lib.sqlite"
    report = index_paths([kit], db, workers=2, progress=False)
    assert (report.added, report.failed) == (2, 1)
    assert report.failures[0][0].endswith("snare.wav") and "crashed" in report.failures[0][1]


def _write_loop(path: Path, join_s: float) -> None:
    """bass_c4 (padded to ``join_s``), then bell_c4, then silence to 3.5 s: two sounds, one file."""
    bass, _ = sf.read(SAMPLES_DIR / "bass_c4.wav", dtype="float32")
    bell, _ = sf.read(SAMPLES_DIR / "bell_c4.wav", dtype="float32")
    loop = np.zeros(int(3.5 * SAMPLE_RATE), dtype=np.float32)
    loop[: len(bass)] = bass
    start = int(join_s * SAMPLE_RATE)
    loop[start:start + len(bell)] = bell
    sf.write(path, loop, SAMPLE_RATE)


def test_a_sound_inside_a_loop_is_found_with_its_start(kit, tmp_path):
    join_s = 1.6
    _write_loop(kit / "loop_bass_bell.wav", join_s)
    db = tmp_path / "lib.sqlite"
    _index([kit], db)
    hits = similar(db, SAMPLES_DIR / "bell_c4.wav", k=3)
    assert hits[0].path == str(kit / "loop_bass_bell.wav")
    assert abs(hits[0].start_s - join_s) < 0.05, hits[0]
    assert hits[0].end_s > hits[0].start_s and hits[0].segment
    # The first half of the loop is the bass: querying that span finds the bass one-shot.
    top = similar(db, kit / "loop_bass_bell.wav", start_s=0.0, end_s=join_s, k=1)[0]
    assert top.path == str(kit / "tonal" / "bass_c4.WAV"), top
    assert not top.segment  # a one-shot's hit is the whole file


def test_similar_json_cli_and_category_filter(kit, tmp_path):
    db = tmp_path / "lib.sqlite"
    _index([kit], db)
    runner = CliRunner()
    result = runner.invoke(app, ["similar", str(SAMPLES_DIR / "kick.wav"), "-k", "2", "--db", str(db), "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    hits = document["hits"]
    assert len(hits) == 2 and set(hits[0]) == {"path", "start_s", "end_s", "distance", "tag", "segment"}
    assert hits[0]["distance"] <= hits[1]["distance"]
    assert str(kit / "drums" / "kick.wav") == hits[0]["path"]  # a copy of the query: distance 0
    assert hits[0]["distance"] == pytest.approx(0.0, abs=1e-5)

    only_bass = similar(db, SAMPLES_DIR / "kick.wav", k=5, category="bass")
    assert [h.tag for h in only_bass] == ["bass"]
    assert similar(db, SAMPLES_DIR / "kick.wav", k=5, category="vocal") == []


def test_query_file_in_the_library_is_not_its_own_hit(kit, tmp_path):
    db = tmp_path / "lib.sqlite"
    _index([kit], db)
    query = kit / "drums" / "kick.wav"
    assert all(h.path != str(query) for h in similar(db, query, k=5))


def test_clear_errors(kit, tmp_path):
    db = tmp_path / "lib.sqlite"
    with pytest.raises(LibraryError, match="no library database"):
        similar(db, SAMPLES_DIR / "kick.wav")
    _index([kit], db)
    with pytest.raises(LibraryError, match="cannot read the query"):
        similar(db, tmp_path / "missing.wav")
    with pytest.raises(LibraryError, match="outside"):
        similar(db, SAMPLES_DIR / "kick.wav", start_s=30.0)
    with pytest.raises(LibraryError, match="does not exist"):
        _index([tmp_path / "nowhere"], db)
    result = CliRunner().invoke(app, ["similar", str(tmp_path / "missing.wav"), "--db", str(db)])
    assert result.exit_code == 1 and "cannot read the query" in result.output


def test_a_future_schema_version_is_refused(kit, tmp_path):
    db = tmp_path / "lib.sqlite"
    _index([kit], db)
    with sqlite3.connect(db) as connection:
        connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(LibraryError, match=f"schema version {SCHEMA_VERSION + 1}"):
        Library.open(db)
    with pytest.raises(LibraryError, match="schema version"):
        _index([kit], db)


def test_default_db_path_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("LATENTMORPH_LIBRARY_DB", str(tmp_path / "x.sqlite"))
    assert default_db_path() == tmp_path / "x.sqlite"
    monkeypatch.delenv("LATENTMORPH_LIBRARY_DB")
    assert default_db_path().name == "library.sqlite" and "LatentMorph" in str(default_db_path())


@pytest.mark.parametrize("path, tag", [
    ("Drums/TR808/BD_01.wav", "kick"),
    ("kits/Acoustic/Bass Drum Soft.flac", "kick"),
    ("kits/Acoustic/snare_rim.wav", "snare"),
    ("x/HiHat_open.aif", "hat"),
    ("Millo/hhclosed_03.flac", "hat"),
    ("BJA/SN4_03.aiff", "snare"),
    ("x/OHH 2.wav", "hat"),
    ("x/crash-14.wav", "cymbal"),
    ("x/TomHi.wav", "tom"),
    ("Percussion/conga_low.wav", "perc"),
    ("synths/Bass/sub_01.wav", "bass"),
    ("Leads/supersaw.ogg", "synth"),
    ("Vox/phrase_3.mp3", "vocal"),
    ("Loops/120bpm/kick_loop_A.wav", "loop"),
    ("SFX/whoosh.wav", "fx"),
    ("samples/instruments/piano_c4.wav", None),
])
def test_path_tags(path, tag):
    assert path_tag(path) == tag


def test_hnsw_agrees_with_exact_search(monkeypatch):
    """Above EXACT_MAX_ITEMS the index is HNSW; its top 10 must mostly match brute force."""
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((3000, 64)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ids = np.arange(100, 3100, dtype=np.int64)
    monkeypatch.setattr(search, "EXACT_MAX_ITEMS", 500)
    ann = AnnIndex.build(ids, vectors)
    assert "HNSW" in type(ann.index).__name__
    recall = []
    for query in vectors[rng.choice(3000, 30, replace=False)] + 0.3 * rng.standard_normal((30, 64)).astype(np.float32):
        query /= np.linalg.norm(query)
        exact = set(ids[np.argsort(-(vectors @ query))[:10]])
        recall.append(len(exact & {i for i, _ in ann.search(query, 10)}) / 10)
    assert np.mean(recall) >= 0.9
    allowed = ids[::7]
    subset = ann.search(vectors[0], 10, allowed)
    assert {i for i, _ in subset} <= set(allowed)
    assert subset[0][0] == 100 and subset[0][1] == pytest.approx(0.0, abs=1e-5)


def test_index_cli_json(kit, tmp_path):
    db = tmp_path / "lib.sqlite"
    (kit / "bad.ogg").write_bytes(b"OggS" + bytes(100))
    result = CliRunner().invoke(app, ["index", str(kit), "--db", str(db), "--workers", "1", "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert (document["added"], document["failed"], document["items"]) == (3, 1, 3)
    assert document["failures"][0]["path"] == str(kit / "bad.ogg") and document["failures"][0]["reason"]
    result = CliRunner().invoke(app, ["index", str(tmp_path / "nowhere"), "--db", str(db)])
    assert result.exit_code == 1 and "does not exist" in result.output


def test_embeddings_of_another_model_or_pooling_are_never_mixed(kit, tmp_path):
    db = tmp_path / "lib.sqlite"
    _index([kit], db)
    with sqlite3.connect(db) as connection:
        connection.execute("UPDATE meta SET value = 'lm-older/pooling-v1' WHERE key = 'embedding_id'")
    with pytest.raises(LibraryError, match="re-index"):
        similar(db, SAMPLES_DIR / "kick.wav")
    report = _index([kit], db)
    assert (report.added, report.unchanged) == (3, 0)  # everything encoded again
    assert similar(db, SAMPLES_DIR / "kick.wav", k=1)


def _reference_metrics(x, categories, groups, queries, k):
    """Obviously-correct precision@k and average precision: sort every row by cosine similarity in a loop."""
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    precision, average = [], []
    for q in queries:
        candidates = [j for j in range(len(x)) if groups[j] != groups[q]]
        ranked = sorted(candidates, key=lambda j: -float(x[q] @ x[j]))
        relevant = [categories[j] == categories[q] for j in ranked]
        precision.append(np.mean(relevant[:k]))
        hits = [np.mean(relevant[:r + 1]) for r, is_relevant in enumerate(relevant) if is_relevant]
        average.append(np.mean(hits) if hits else 0.0)
    return float(np.mean(precision)), float(np.mean(average))


def test_rank_metrics_match_a_reference():
    from latentmorph.library.retrieval import rank_metrics

    rng = np.random.default_rng(3)
    x = rng.standard_normal((60, 8))
    categories = [str(c) for c in rng.integers(0, 3, 60)]
    groups = [str(g) for g in rng.integers(0, 15, 60)]
    queries = np.arange(0, 60, 4)
    result = rank_metrics(x, categories, groups, queries, k=5)
    precision, average = _reference_metrics(x, categories, groups, queries, 5)
    assert result["precision_at_k"]["all"] == pytest.approx(precision)
    assert result["map"]["all"] == pytest.approx(average)
    confusion = np.asarray(result["confusion"]["matrix"])
    assert confusion.sum(axis=1) == pytest.approx(np.ones(len(confusion)), abs=1e-3)


def test_library_eval_on_a_synthetic_manifest(tmp_path):
    """Tones against noise bursts, the held-out ones from the ``oxygen`` source: the similarity
    embedding and MFCC statistics must separate them; the command writes its JSON and picture."""
    rng = np.random.default_rng(4)
    t = np.arange(SAMPLE_RATE // 2) / SAMPLE_RATE
    rows = []
    for i in range(16):
        tone = i % 2 == 0
        audio = (np.sin(2 * np.pi * 110 * 2 ** (i / 8) * t) if tone else rng.standard_normal(len(t))) * np.exp(-6 * t)
        path = tmp_path / "clips" / f"{i:02d}.wav"
        path.parent.mkdir(exist_ok=True)
        sf.write(path, 0.5 * audio, SAMPLE_RATE)
        rows.append({"path": f"clips/{i:02d}.wav", "split": "valid" if i % 4 < 2 else "train",
                     "category": "synth" if tone else "fx", "recording_key": f"r{i // 4}",
                     "source": "oxygen" if i >= 8 else "lmms"})
    (tmp_path / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "eval"
    result = CliRunner().invoke(app, ["library-eval", "--data", str(tmp_path), "--out", str(out),
                                      "-k", "3", "--workers", "1", "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["queries"] == {"held_out": 8, "valid": 4} and document["database"] == 16
    for name in ("similarity", "mfcc"):
        assert document["held_out"][name]["precision_at_k"]["all"] >= 0.8, document["held_out"][name]
    assert document["tags"]["items"] == 8 and set(document["tags"]["f1"]) == {"synth", "fx"}
    assert json.loads((out / "eval.json").read_text()) == document
    assert (out / "confusion.png").stat().st_size > 10_000


def test_a_recreated_database_never_gets_a_stale_ann_index(kit, tmp_path):
    db = tmp_path / "lib.sqlite"
    _index([kit / "drums"], db)
    assert {h.path for h in similar(db, SAMPLES_DIR / "bell_c4.wav")} == {
        str(kit / "drums" / "kick.wav"), str(kit / "drums" / "snare.wav")}
    for path in tmp_path.glob("lib.sqlite*"):
        if not path.name.endswith(".ann.npz"):  # the ANN cache file stays behind
            path.unlink()
    _index([kit / "tonal"], db)  # same number of writes, other content
    assert [h.path for h in similar(db, SAMPLES_DIR / "bell_c4.wav")] == [str(kit / "tonal" / "bass_c4.WAV")]


def _launcher(argv: list[str], env: dict | None = None) -> subprocess.CompletedProcess:
    """``latentmorph ARGV`` in a fresh process; its stderr ends with the heavy modules it imported."""
    code = ("import sys\nfrom latentmorph.launcher import main\nsys.argv = ['latentmorph', *sys.argv[1:]]\n"
            "try:\n    main()\nfinally:\n"
            "    heavy = ('onnxruntime', 'faiss', 'typer', 'rich', 'librosa')\n"
            "    print('imported:', *sorted(m for m in heavy if m in sys.modules), file=sys.stderr)")
    return subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True,
                          env={**os.environ, "LATENTMORPH_LIBRARY_SOCKET": "/nonexistent/none.sock", **(env or {})})


def test_a_query_the_library_holds_is_answered_from_its_stored_vector(kit, tmp_path):
    db = tmp_path / "lib.sqlite"
    _index([kit], db)
    query = kit / "drums" / "kick.wav"
    argv = ["similar", str(query), "-k", "2", "--db", str(db)]
    fast = _launcher(argv)
    assert fast.returncode == 0, fast.stderr
    assert fast.stderr.strip().endswith("imported:")  # no ONNX Runtime, FAISS, Typer, rich, librosa
    typer_answer = CliRunner().invoke(app, argv)
    assert typer_answer.exit_code == 0 and typer_answer.stdout == fast.stdout
    lines = fast.stdout.splitlines()
    assert lines[0].split() == ["#", "distance", "tag", "start_s", "end_s", "path"] and len(lines) == 3
    assert lines[1].split()[-1] == str(kit / "drums" / "snare.wav")
    as_json = json.loads(_launcher([*argv, "--json"]).stdout)

    os.utime(query, ns=(query.stat().st_atime_ns, query.stat().st_mtime_ns + 10**9))  # not as indexed: embedded again
    slow = _launcher([*argv, "--json"])
    assert slow.returncode == 0 and "onnxruntime" in slow.stderr.splitlines()[-1]
    again = json.loads(slow.stdout)
    assert [h["path"] for h in again["hits"]] == [h["path"] for h in as_json["hits"]]
    for mine, theirs in zip(again["hits"], as_json["hits"]):
        assert mine["distance"] == pytest.approx(theirs["distance"], abs=1e-5)


def test_the_stored_vector_is_taken_only_for_the_indexed_span(kit, tmp_path):
    _write_loop(kit / "loop_bass_bell.wav", 1.6)
    db = tmp_path / "lib.sqlite"
    _index([kit], db)
    loop = str(kit / "loop_bass_bell.wav")
    with Library.open(db) as library:
        items = [it for it in library.items() if it.path == loop]
        size, mtime = os.stat(loop).st_size, os.stat(loop).st_mtime_ns
        whole = library.item_of_span(loop, size, mtime, 0.0, None)
        segment = items[-1]
        assert whole is not None and whole.id == items[0].id and len(items) > 1
        found = library.item_of_span(loop, size, mtime, segment.start_s, segment.end_s)
        assert found is not None and found.id == segment.id
        assert library.item_of_span(loop, size, mtime, segment.start_s + 0.01, segment.end_s) is None
        assert library.item_of_span(loop, size + 1, mtime, 0.0, None) is None  # changed on disk
    # The span's stored vector and the span embedded again give the same neighbours.
    stored = similar(db, Path(loop), start_s=segment.start_s, end_s=segment.end_s, k=3)
    shutil.copy(loop, tmp_path / "elsewhere.wav")
    embedded = similar(db, tmp_path / "elsewhere.wav", start_s=segment.start_s, end_s=segment.end_s, k=3 + len(items))
    embedded = [h for h in embedded if h.path != loop][:3]
    assert [(h.path, h.start_s) for h in stored] == [(h.path, h.start_s) for h in embedded]
    assert [h.distance for h in stored] == pytest.approx([h.distance for h in embedded], abs=1e-5)


def test_the_launcher_leaves_help_usage_and_errors_to_the_typer_command(kit, tmp_path):
    db = tmp_path / "lib.sqlite"
    _index([kit], db)
    missing = _launcher(["similar", str(tmp_path / "gone.wav"), "--db", str(db)])
    assert missing.returncode == 1 and "cannot read the query" in missing.stderr
    bad_k = _launcher(["similar", str(SAMPLES_DIR / "kick.wav"), "-k", "0", "--db", str(db)])
    assert bad_k.returncode == 2 and "-k" in bad_k.stderr
    help_text = _launcher(["similar", "--help"])
    assert help_text.returncode == 0 and "--category" in help_text.stdout


def test_exact_search_orders_by_similarity_then_row():
    matrix = np.array([[1, 0], [0, 1], [1, 0], [0.6, 0.8]], dtype=np.float32)
    rows, similarity = search.exact_search(matrix, np.array([1, 0], dtype=np.float32), 3)
    assert rows.tolist() == [0, 2, 3] and similarity.tolist() == pytest.approx([1.0, 1.0, 0.6])
    assert search.exact_search(matrix, np.array([0, 1], dtype=np.float32), 10)[0].tolist() == [1, 3, 0, 2]

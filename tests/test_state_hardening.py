"""Crafted or corrupt plugin states are refused whole, never crash the host and never load partly
(issue 12: deep nesting, unknown elements, unsaveable characters, a fuzzed corpus)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from latentmorph.plugin_state import make_state, plugin_state, read_state, set_plugin_state

from .conftest import SAMPLES_DIR, VST3_PATH

#: Wall-clock bound of one host subprocess below, seconds.
HOST_TIMEOUT_S = 60
KICK, SNARE = SAMPLES_DIR / "kick.wav", SAMPLES_DIR / "snare.wav"


def run_host(body: str, stack_kib: int | None = None, env: dict[str, str] | None = None) -> str:
    """Run ``body`` as a Python host of the VST3 in a subprocess, so that a crash fails the test
    instead of killing pytest. ``body`` sees ``p`` (a loaded instance), ``set_plugin_state``,
    ``plugin_state``, ``make_state`` and ``read_state``. With ``stack_kib`` it runs on a thread with
    that much stack (hosts load states on their own threads). Returns stdout; fails the test on a
    non-zero exit (a signal shows as a negative status)."""
    script = textwrap.dedent("""
        import sys, threading, pedalboard
        from latentmorph.plugin_state import make_state, plugin_state, read_state, set_plugin_state
        p = pedalboard.load_plugin(sys.argv[1], initialization_timeout=0.1)
        def body():
        {body}
        if {stack_kib} is None:
            body()
        else:
            threading.stack_size({stack_kib} * 1024)
            thread = threading.Thread(target=body)
            thread.start()
            thread.join()
    """).format(body=textwrap.indent(textwrap.dedent(body), "    "), stack_kib=stack_kib)
    result = subprocess.run([sys.executable, "-c", script, str(VST3_PATH)], capture_output=True, text=True,
                            timeout=HOST_TIMEOUT_S, env={**os.environ, **(env or {})})
    assert result.returncode == 0, f"host died with status {result.returncode}: {result.stderr[-2000:]}"
    return result.stdout


@pytest.mark.parametrize("depth", [1_000, 10_000, 100_000])
@pytest.mark.parametrize("stack_kib", [None, 512])
def test_deeply_nested_state_is_refused_without_crash(vst3_path, depth, stack_kib):
    """Guards against JUCE's recursive XML parser overflowing the host's stack: 2,000 levels used to
    crash a 512 KiB thread and 30,000 the 8 MiB main thread (SIGSEGV in setStateInformation)."""
    out = run_host(f"""
        set_plugin_state(p, make_state({str(KICK)!r}, {str(SNARE)!r}, {{"morph": 0.3}}))
        nested = b'<LatentMorphState format_version="1">' + b'<a>' * {depth} + b'</a>' * {depth} + b'</LatentMorphState>'
        set_plugin_state(p, nested)
        state = plugin_state(p)
        print(state.status["state"], "|", state.status["message"], "|", state.slots[1], "|", state.params["morph"])
    """, stack_kib=stack_kib)
    state, message, slot_b, morph = out.strip().splitlines()[-1].split(" | ")
    assert state == "error" and "state rejected" in message, out
    assert slot_b == str(SNARE) and float(morph) == pytest.approx(0.3, abs=1e-4), "the previous state is kept"


def _base_state() -> bytes:
    return make_state(KICK, SNARE, {"morph": 0.3, "gain_db": -3.0})


@pytest.mark.parametrize("variant", [
    _base_state().replace(b"<Slot ", b"<Slou ", 1),           # a bit-flipped Slot tag used to empty the slot
    _base_state().replace(b"<Parameters>", b"<Parametess>").replace(b"</Parameters>", b"</Parametess>"),
    _base_state().replace(b' id="morph"', b' id="morpi"'),     # an unknown parameter id used to reset morph
    _base_state().replace(b" path=", b" pati=", 1),            # a lost path attribute used to empty the slot
    _base_state().replace(b"</LatentMorphState>", b"<Extra/></LatentMorphState>"),
    _base_state().replace(b"</LatentMorphState>", b"text</LatentMorphState>"),
    _base_state().replace(b"kick.wav", b"kick&#55296;.wav"),   # a lone UTF-16 surrogate in a path
    _base_state().replace(b"kick.wav", b"kick&#1;.wav"),       # a control character XML cannot hold
    b'<?xml version="1.0"?><!DOCTYPE LatentMorphState [<!ENTITY a "&a;">]>' + _base_state().split(b"?>", 1)[1],
], ids=["slot-tag", "parameters-tag", "parameter-id", "path-attribute", "extra-element", "text", "surrogate",
        "control-char", "doctype"])
def test_corrupted_state_is_refused_whole(plugin, variant):
    """Guards against corrupt states that loaded partly (an emptied slot, parameters reset) and
    against a state the plugin writes but ``read_state`` cannot read (``&#55296;``)."""
    set_plugin_state(plugin, make_state(SAMPLES_DIR / "bass_c4.wav", SAMPLES_DIR / "bell_c4.wav", {"morph": 0.7}))
    set_plugin_state(plugin, variant)
    after = plugin_state(plugin)  # read_state must be able to read whatever the plugin writes
    assert after.status.get("state") == "error" and "state rejected" in after.status.get("message", ""), after.status
    assert after.slots == [str(SAMPLES_DIR / "bass_c4.wav"), str(SAMPLES_DIR / "bell_c4.wav")]
    assert after.params["morph"] == pytest.approx(0.7, abs=1e-4)


#: Fuzz corpus size per kind of damage, and the seed that makes it the same on every run.
FUZZ_SEED, FUZZ_BIT_FLIPS, FUZZ_TRUNCATIONS = 12, 150, 30
#: The slowest render allowed after loading a fuzzed state, seconds.
MAX_RENDER_S = 2.0


def fuzz_corpus(base: bytes, fifo: Path) -> list[bytes]:
    """≥ 200 damaged variants of ``base`` (seeded): bit flips, truncations, deep nesting, entity
    tricks, traversal and device paths, huge attributes and repeated or unknown parts."""
    rng = np.random.default_rng(FUZZ_SEED)
    flips = []
    for position, bit in zip(rng.integers(0, len(base), FUZZ_BIT_FLIPS), rng.integers(0, 8, FUZZ_BIT_FLIPS)):
        damaged = bytearray(base)
        damaged[position] ^= 1 << bit
        flips.append(bytes(damaged))
    truncations = [base[:n] for n in rng.integers(1, len(base), FUZZ_TRUNCATIONS)]
    head, body = base.split(b"?>", 1)
    root_open, rest = body.split(b">", 1)
    nested = [root_open + b">" + b"<Parameters>" * depth + b"</Parameters>" * depth + rest for depth in (2, 9, 1000, 100_000)]
    nested += [root_open + b">" + b"<a/>" * 100_000 + rest, root_open + b">" + b"<!--<a>-->" * 10_000 + b"<a>" * 9 + rest]
    laughs = b'<!ENTITY a "&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY b "&c;&c;&c;&c;&c;&c;&c;&c;"><!ENTITY c "lol">'
    entities = [head + b"?><!DOCTYPE LatentMorphState [" + laughs + b"]>" + body.replace(b'model_id=""', b'model_id="&a;"'),
                head + b'?><!DOCTYPE LatentMorphState SYSTEM "/etc/passwd">' + body,
                head + b'?><!DOCTYPE x [<!ENTITY s "<Slot index=\'1\' path=\'/etc/passwd\'/>">]>' + body.replace(b"</LatentMorphState>", b"&s;</LatentMorphState>")]
    entities += [base.replace(b"kick.wav", b"kick" + entity + b".wav") for entity in
                 (b"&unknown;", b"&#0;", b"&#xD800;", b"&#x110000;", b"&#xFFFE;", b"&#27;", b"&amp;", b"&#x41;")]
    entities += [base.replace(b"</LatentMorphState>", extra + b"</LatentMorphState>") for extra in
                 (b"&lt;Slot index=\"1\"/&gt;", b"<![CDATA[<Slot index=\"1\" path=\"/etc/passwd\"/>]]>", b"<!-- <Slot> -->",
                  b"<?pi <Slot index='1'/> ?>")]
    kick = str(SAMPLES_DIR / "kick.wav").encode()
    paths = [b"factory:../../../../etc/passwd", b"factory:/etc/passwd", b"factory:..", b"factory:", b"/dev/zero",
             b"/dev/urandom", b"/proc/self/fd/0", b"/proc/self/mem", b"/dev/stdin", b"relative/kick.wav", b"/", b"/tmp",
             b"/etc/passwd", str(fifo).encode(), b"//" + kick, kick + b"/..", b"\\\\server\\share\\x.wav"]
    traversal = [base.replace(kick, path) for path in paths]
    huge = [base.replace(kick, b"/" + b"a" * size) for size in (4096, 100_000, 2_000_000)]
    huge += [base.replace(b'model_id=""', b'model_id="' + b"m" * 500_000 + b'"'),
             base.replace(b'value="0.3"', b'value="0.' + b"3" * 100_000 + b'"'),
             base.replace(b'index="1"', b'index="1' + b"0" * 400 + b'"'),
             base.replace(b"</Parameters>", b'<PARAM id="gain_db" value="0"/>' * 50_000 + b"</Parameters>")]
    parts = [base.replace(b"</LatentMorphState>", extra + b"</LatentMorphState>") for extra in
             (b'<Slot index="0" path="" sha256=""/>', b"<Parameters/>", b'<Status state="ready" message=""/>' * 2,
              b'<Slot index="2" path="" sha256=""/>', b'<Slot index="-1" path="" sha256=""/>')]
    parts += [base.replace(b'value="0.3"', b'value="' + value + b'"') for value in (b"nan", b"inf", b"1e999", b"0x1", b"")]
    parts += [base.replace(b'format_version="1"', b'format_version="' + version + b'"') for version in (b"2", b"0", b"1.5", b"")]
    return flips + truncations + nested + entities + traversal + huge + parts


HOST_FUZZ = """
    import base64, json, time
    import numpy as np
    corpus = [base64.b64decode(v) for v in json.load(open(sys.argv[2]))]
    base = corpus.pop(0)
    notes = [(bytes([0x90, 60, 100]), 0.0), (bytes([0x80, 60, 0]), 0.05)]
    def snapshot():
        state = plugin_state(p)
        return {"slots": state.slots, "params": state.params, "status": state.status}
    for variant in corpus:
        set_plugin_state(p, base)
        p(notes, duration=0.1, sample_rate=44100, num_channels=2, reset=True)
        before = snapshot()
        set_plugin_state(p, variant)
        started = time.monotonic()
        p(notes, duration=0.1, sample_rate=44100, num_channels=2, reset=True)
        render_s = time.monotonic() - started
        print(json.dumps({"before": before, "after": snapshot(), "render_s": render_s}), flush=True)
"""


def _expected_load(variant: bytes, ranges: dict[str, tuple[float, float, float]]) -> dict | None:
    """What a full load of ``variant`` gives (slots, parameters clamped to their ``(min, max, step)``
    ranges), or ``None`` when Python's XML reader cannot read it (the plugin must then refuse it)."""
    try:
        state = read_state(variant)
    except (ValueError, TypeError):
        return None
    params = {}
    for key, value in state.params.items():
        low, high, _ = ranges[key]
        params[key] = float(np.clip(value, low, high))
    return {"slots": state.slots, "params": params}


def test_fuzzed_states_are_refused_whole_or_loaded_in_full(tmp_path, plugin):
    """Guards the state loader as a whole: every variant of a ≥ 200-state seeded corpus (bit flips,
    truncations, deep nesting, entity tricks, traversal and device paths, huge attributes) is either
    refused with the previous state kept or loaded in full; no crash, no render over 2 s."""
    import base64
    import json

    fifo = tmp_path / "fifo.wav"
    os.mkfifo(fifo)
    base = make_state(KICK, SNARE, {"morph": 0.3, "gain_db": -3.0})
    corpus = fuzz_corpus(base, fifo)
    assert len(corpus) >= 200
    corpus_file = tmp_path / "corpus.json"
    corpus_file.write_text(json.dumps([base64.b64encode(v).decode() for v in [base, *corpus]]))
    ranges = {name: parameter.range for name, parameter in plugin.parameters.items()}
    script = textwrap.dedent("""
        import sys, pedalboard
        from latentmorph.plugin_state import plugin_state, set_plugin_state
        p = pedalboard.load_plugin(sys.argv[1], initialization_timeout=0.1)
    """) + textwrap.dedent(HOST_FUZZ)
    result = subprocess.run([sys.executable, "-c", script, str(VST3_PATH), str(corpus_file)], capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, f"host died with status {result.returncode}: {result.stderr[-2000:]}"
    outcomes = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(outcomes) == len(corpus)
    for index, (variant, outcome) in enumerate(zip(corpus, outcomes)):
        where = f"variant {index}: {variant[:300]!r}"
        before, after = outcome["before"], outcome["after"]
        assert outcome["render_s"] < MAX_RENDER_S, where
        kept = after["slots"] == before["slots"] and after["params"] == before["params"]
        if "state rejected" in after["status"].get("message", ""):
            assert kept, where
        if kept:
            continue  # refused (by the plugin, or by the host before it), or loaded with the same content
        expected = _expected_load(variant, ranges)
        assert expected is not None, f"loaded a state Python's XML reader refuses: {where}"
        assert after["slots"] == expected["slots"], where
        for key, value in expected["params"].items():
            assert after["params"][key] == pytest.approx(value, abs=ranges[key][2] / 2 + 1e-5), where  # to its step

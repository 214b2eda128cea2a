"""Crafted or corrupt plugin states are refused whole, never crash the host and never load partly
(issue 12: deep nesting, unknown elements, unsaveable characters, a fuzzed corpus)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

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

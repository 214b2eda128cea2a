"""``latentmorph.plugin_state`` and pedalboard's ``preset_data`` leak (issue 12, defect 10): the
state is read through ``raw_state``, ``preset_data`` once per instance, and host memory stays flat."""

from __future__ import annotations

import pytest

from latentmorph.plugin_state import (
    juce_base64_decode,
    make_state,
    plugin_state,
    preset_chunks,
    read_component_state,
    set_plugin_state,
)

from .conftest import SAMPLES_DIR, note_messages

KICK, BELL = SAMPLES_DIR / "kick.wav", SAMPLES_DIR / "bell_c4.wav"
#: pedalboard 0.9.26 keeps ~4,176 bytes per ``preset_data`` read: 2,000 reads would grow ~8 MB.
STATE_READS, MAX_GROWTH_BYTES = 2000, 2 * 1024 * 1024


class CountingPlugin:
    """A pedalboard plugin seen through a proxy that counts reads of ``preset_data``."""

    def __init__(self, plugin):
        object.__setattr__(self, "_plugin", plugin)
        object.__setattr__(self, "preset_data_reads", 0)

    def __getattr__(self, name):
        if name == "preset_data":
            object.__setattr__(self, "preset_data_reads", self.preset_data_reads + 1)
        return getattr(self._plugin, name)

    def __setattr__(self, name, value):
        setattr(self._plugin, name, value)

    def __call__(self, *args, **kwargs):
        return self._plugin(*args, **kwargs)


def _rss_bytes() -> int:
    with open("/proc/self/status") as status:
        return 1024 * int(next(line for line in status if line.startswith("VmRSS:")).split()[1])


def test_state_read_through_raw_state_is_the_vstpreset_component_chunk(plugin):
    set_plugin_state(plugin, make_state(KICK, BELL, {"morph": 0.7, "release_ms": 123.0}))
    plugin([], duration=0.01, sample_rate=44100, num_channels=2, reset=True)  # the grid: the status settles
    assert read_component_state(plugin) == preset_chunks(plugin.preset_data)[1]["Comp"]
    state = plugin_state(plugin)
    assert state.slots == [str(KICK), str(BELL)]
    assert state.params["morph"] == pytest.approx(0.7) and state.params["release_ms"] == pytest.approx(123.0)


def test_juce_base64_round_trips_every_byte_and_refuses_other_text():
    # JUCE's MemoryBlock::toBase64Encoding of b"\x00\x01\xff" (6 bits per character, low bits first)
    assert juce_base64_decode("3..Dv+") == b"\x00\x01\xff"
    for bad in ("3Dv+", "x..Dv+", "3.Dv", "3..Dv*"):
        with pytest.raises(ValueError, match="not JUCE base64"):
            juce_base64_decode(bad)


def test_preset_data_is_read_once_per_instance_and_the_state_is_always_current(plugin):
    counted = CountingPlugin(plugin)
    for i, (a, b, morph) in enumerate([(KICK, BELL, 0.2), (BELL, KICK, 0.9), (KICK, KICK, 0.5)] * 3):
        set_plugin_state(counted, make_state(a, b, {"morph": morph}))
        assert plugin_state(counted).slots == [str(a), str(b)]
        counted.morph = morph / 2  # automation changes the state without set_plugin_state
        counted(note_messages([(60, 0.0, 0.05)]), duration=0.1, sample_rate=44100, num_channels=2, reset=True)
        state = plugin_state(counted)
        assert state.params["morph"] == pytest.approx(morph / 2, abs=1e-4), i
        assert state.status["state"] in {"ready", "rendering", "error"}, state.status
    assert counted.preset_data_reads == 1


def test_reading_the_state_does_not_grow_host_memory(plugin):
    set_plugin_state(plugin, make_state(KICK, BELL))
    for _ in range(200):  # warm-up: the allocator's pools
        plugin_state(plugin)
    before = _rss_bytes()
    for _ in range(STATE_READS):
        plugin_state(plugin)
    growth = _rss_bytes() - before
    assert growth < MAX_GROWTH_BYTES, f"{STATE_READS} state reads grew the host by {growth / 1e6:.1f} MB"

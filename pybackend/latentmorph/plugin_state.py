"""The VST3 plugin's state document (format_version 1), for tools that drive the plugin.

The plugin's component state is one UTF-8 XML document, ``<LatentMorphState format_version="1">``
with the parameters, the slots (A and B, C and D when set) and the status; docs/state.md documents it (elements, loading
rules, revisions).

Hosts wrap that document: in a ``.vstpreset`` file (pedalboard's ``preset_data`` and
``load_preset``) it is the ``Comp`` chunk, followed by JUCE's private data. The ``.vstpreset``
layout (Steinberg VST 3 SDK, ``vstpresetfile.h``), little-endian: ``'VST3'``, int32 version 1,
32 ASCII chars class id, int64 offset of the chunk list; the chunks; then ``'List'``, int32 count,
and per chunk a 4-char id, int64 offset, int64 size.

Reading: pedalboard 0.9.26 leaks about 4 KB of host memory on every read of ``preset_data``, so
:func:`plugin_state` reads ``raw_state`` instead (no leak): JUCE's VST3 host state
(``AudioPluginInstance::copyXmlToBinary``): ``'VC2!'``, uint32 length, then the UTF-8 XML
``<VST3PluginState><IComponent>SIZE.CHARS</IComponent>…`` whose text is the same component state
(the ``Comp`` chunk's bytes) in JUCE's ``MemoryBlock::toBase64Encoding`` — its own 64-character
alphabet, 6 bits per character, least significant bits first. Writing goes through
``preset_data`` (the setter does not leak); the class id it needs is read once per instance.
"""

from __future__ import annotations

import dataclasses
import struct
import weakref
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

FORMAT_VERSION = 1
ROOT_TAG = "LatentMorphState"
_HEADER = struct.Struct("<4si32sq")
_ENTRY = struct.Struct("<4sqq")
#: ``copyXmlToBinary`` header: magic, uint32 length of the XML that follows.
_JUCE_XML_HEADER = struct.Struct("<4sI")
_JUCE_XML_MAGIC = b"VC2!"
#: ``MemoryBlock::toBase64Encoding``'s alphabet (character i encodes the 6-bit value i).
_JUCE_BASE64 = b".ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+"
_JUCE_BASE64_VALUE = np.full(256, 255, np.uint8)
_JUCE_BASE64_VALUE[np.frombuffer(_JUCE_BASE64, np.uint8)] = np.arange(64, dtype=np.uint8)
#: VST3 class id of each hosted instance, read from ``preset_data`` once (it never changes).
_class_ids: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
#: Whether each parameter of a hosted instance takes text, by name, listed once per instance:
#: ``plugin.parameters`` walks all 2,110 of the plugin's parameters (JUCE's MIDI CC emulation), ~7 ms.
_takes_text: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


@dataclasses.dataclass
class PluginState:
    """Parsed state: ``params`` (id → real value), ``slots`` (paths, index order), ``slot_sha256``,
    ``status`` (``state`` and ``message``), ``model_id``."""

    params: dict[str, float]
    slots: list[str]
    slot_sha256: list[str]
    status: dict[str, str]
    model_id: str


def make_state(
    slot_a: str | Path,
    slot_b: str | Path,
    params: dict[str, float] | None = None,
    slot_c: str | Path | None = None,
    slot_d: str | Path | None = None,
) -> bytes:
    """State document for two slots (four: the XY pad's C and D too) and parameter values (others keep
    their defaults)."""
    root = ET.Element(ROOT_TAG, format_version=str(FORMAT_VERSION))
    parameters = ET.SubElement(root, "Parameters")
    for key, value in (params or {}).items():
        ET.SubElement(parameters, "PARAM", id=key, value=repr(float(value)))
    for index, path in enumerate((slot_a, slot_b, slot_c, slot_d)):
        if path is not None:
            ET.SubElement(root, "Slot", index=str(index), path=str(path), sha256="")
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="utf-8")


def preset_chunks(preset: bytes) -> tuple[str, dict[str, bytes]]:
    """Split ``.vstpreset`` bytes into the class id and the chunks by id (``Comp``, ``Cont`` …).
    Raises ``ValueError`` when the bytes are not a VST3 preset."""
    if len(preset) < _HEADER.size:
        raise ValueError("not a .vstpreset: too short")
    magic, _version, class_id, list_offset = _HEADER.unpack_from(preset)
    if magic != b"VST3" or preset[list_offset : list_offset + 4] != b"List":
        raise ValueError("not a .vstpreset: bad header or chunk list")
    (count,) = struct.unpack_from("<i", preset, list_offset + 4)
    chunks = {}
    for i in range(count):
        chunk_id, offset, size = _ENTRY.unpack_from(preset, list_offset + 8 + i * _ENTRY.size)
        chunks[chunk_id.decode("ascii")] = preset[offset : offset + size]
    return class_id.decode("ascii"), chunks


def make_preset(class_id: str, component_state: bytes) -> bytes:
    """``.vstpreset`` bytes holding ``component_state`` as the ``Comp`` chunk."""
    list_offset = _HEADER.size + len(component_state)
    return (
        _HEADER.pack(b"VST3", 1, class_id.encode("ascii"), list_offset)
        + component_state
        + b"List"
        + struct.pack("<i", 1)
        + _ENTRY.pack(b"Comp", _HEADER.size, len(component_state))
    )


def read_state(data: bytes) -> PluginState:
    """Parse a state document, bare or inside ``.vstpreset`` bytes (e.g. pedalboard's
    ``preset_data``). Raises ``ValueError`` when it is not a LatentMorph state."""
    if data.startswith(b"VST3"):
        data = preset_chunks(data)[1].get("Comp", b"")
    end = data.find(f"</{ROOT_TAG}>".encode())
    if end < 0:
        raise ValueError("not a LatentMorph state: no <LatentMorphState> document")
    try:
        root = ET.fromstring(data[: end + len(ROOT_TAG) + 3].decode("utf-8"))
    except (UnicodeDecodeError, ET.ParseError) as error:
        raise ValueError(f"not a LatentMorph state: {error}") from error
    params = {p.attrib["id"]: float(p.attrib["value"]) for p in root.iter("PARAM")}
    slots = sorted(root.findall("Slot"), key=lambda s: int(s.get("index", 0)))
    status = root.find("Status")
    return PluginState(
        params,
        [s.get("path", "") for s in slots],
        [s.get("sha256", "") for s in slots],
        dict(status.attrib) if status is not None else {},
        root.get("model_id", ""),
    )


def juce_base64_decode(text: str) -> bytes:
    """Bytes of JUCE's ``MemoryBlock::toBase64Encoding`` text ``"SIZE.CHARS"``. Raises
    ``ValueError`` when ``text`` is not that encoding."""
    size_text, dot, chars = text.strip().partition(".")
    values = _JUCE_BASE64_VALUE[np.frombuffer(chars.encode("ascii", "replace"), np.uint8)]
    if not dot or not size_text.isdigit() or np.any(values == 255) or len(chars) * 6 < int(size_text) * 8:
        raise ValueError("not JUCE base64 (SIZE.CHARS)")
    bits = ((values[:, None] >> np.arange(6, dtype=np.uint8)) & 1).ravel()[: int(size_text) * 8]
    return np.packbits(bits.reshape(-1, 8), axis=1, bitorder="little").tobytes()


def read_component_state(plugin) -> bytes:
    """The component state of a pedalboard-hosted VST3 instance (the bytes of its ``.vstpreset``
    ``Comp`` chunk), decoded from ``raw_state`` so that ``preset_data`` is never read. Raises
    ``ValueError`` when ``raw_state`` is not JUCE's VST3 host state (another pedalboard/JUCE)."""
    raw = plugin.raw_state
    if len(raw) < _JUCE_XML_HEADER.size or raw[:4] != _JUCE_XML_MAGIC:
        raise ValueError(f"raw_state is not JUCE's VST3 host state ('VC2!' XML): starts {raw[:8]!r}")
    (_, length) = _JUCE_XML_HEADER.unpack_from(raw)
    try:
        component = ET.fromstring(raw[_JUCE_XML_HEADER.size : _JUCE_XML_HEADER.size + length].rstrip(b"\0")).find(
            "IComponent"
        )
    except ET.ParseError as error:
        raise ValueError(f"raw_state's XML does not parse: {error}") from error
    if component is None or component.text is None:
        raise ValueError("raw_state holds no <IComponent> state")
    return juce_base64_decode(component.text)


def plugin_state(plugin) -> PluginState:
    """The current state of a pedalboard-hosted LatentMorph instance (read through ``raw_state``:
    no ``preset_data`` read, see the module docstring). Raises ``ValueError`` when it cannot be read."""
    return read_state(read_component_state(plugin))


def set_parameter(plugin, name: str, value: float | str) -> None:
    """Set parameter ``name`` of a pedalboard-hosted instance as a host's automation would, by its
    number also where its value text is not one (pedalboard takes the root notes, shown as "C4", by
    name only): the number goes through the plugin's own text parser. Other values as ``setattr``."""
    if plugin not in _takes_text:
        _takes_text[plugin] = {key: parameter.type is str for key, parameter in plugin.parameters.items()}
    if _takes_text[plugin][name] and isinstance(value, (int, float)) and not isinstance(value, bool):
        parameter = plugin.parameters[name]
        parameter.raw_value = parameter.get_raw_value_for_text(f"{value:g}")
    else:
        setattr(plugin, name, value)


def set_plugin_state(plugin, component_state: bytes) -> None:
    """Load a state document (or any bytes, to test refusal) into a pedalboard-hosted instance.
    ``preset_data`` is read once per instance (for its class id), not per call."""
    if plugin not in _class_ids:
        _class_ids[plugin] = preset_chunks(plugin.preset_data)[0]
    plugin.preset_data = make_preset(_class_ids[plugin], component_state)

"""The VST3 plugin's state document (format_version 1), for tools that drive the plugin.

The plugin stores its state as UTF-8 XML, with no binary header, so hosts' ``raw_state`` can be
read and written directly::

    <LatentMorphState format_version="1" model_id="lm-…">
      <Parameters><PARAM id="morph" value="0.5"/> …</Parameters>
      <Slot index="0" path="factory:samples/kick.wav" sha256="…"/>
      <Slot index="1" path="/abs/b.wav" sha256="…"/>
      <Status state="empty|rendering|ready|error" message="…"/>
    </LatentMorphState>

``Status`` is written by the plugin and ignored when state is loaded. A slot ``path`` is absolute
or ``factory:`` + a path relative to the factory folder (``presets/``).
"""

from __future__ import annotations

import dataclasses
import xml.etree.ElementTree as ET
from pathlib import Path

FORMAT_VERSION = 1


@dataclasses.dataclass
class PluginState:
    """Parsed state: ``params`` (id → real value), ``slots`` (paths, index order), ``slot_sha256``,
    ``status`` (``state`` and ``message``), ``model_id``."""

    params: dict[str, float]
    slots: list[str]
    slot_sha256: list[str]
    status: dict[str, str]
    model_id: str


def make_state(slot_a: str | Path, slot_b: str | Path, params: dict[str, float] | None = None) -> bytes:
    """State bytes for two slots and parameter values (others keep their defaults)."""
    root = ET.Element("LatentMorphState", format_version=str(FORMAT_VERSION))
    parameters = ET.SubElement(root, "Parameters")
    for key, value in (params or {}).items():
        ET.SubElement(parameters, "PARAM", id=key, value=repr(float(value)))
    for index, path in enumerate((slot_a, slot_b)):
        ET.SubElement(root, "Slot", index=str(index), path=str(path), sha256="")
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="utf-8")


def read_state(raw: bytes) -> PluginState:
    """Parse state bytes. Raises ``ValueError`` when they are not a LatentMorph state."""
    try:
        root = ET.fromstring(raw.decode("utf-8"))
    except (UnicodeDecodeError, ET.ParseError) as error:
        raise ValueError(f"not a LatentMorph state: {error}") from error
    if root.tag != "LatentMorphState":
        raise ValueError(f"not a LatentMorph state: root element <{root.tag}>")
    params = {p.get("id"): float(p.get("value")) for p in root.iter("PARAM")}
    slots = sorted(root.findall("Slot"), key=lambda s: int(s.get("index", 0)))
    status = root.find("Status")
    return PluginState(params, [s.get("path", "") for s in slots], [s.get("sha256", "") for s in slots],
                       dict(status.attrib) if status is not None else {}, root.get("model_id", ""))

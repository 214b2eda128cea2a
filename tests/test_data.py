"""Fast tests of the training-data preparation (no network, no apt, no soundfont rendering)."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import soundfile as sf
from rich.console import Console
from rich.progress import Progress

from latentmorph.audio import is_audio_path
from latentmorph.library.retrieval import HELD_OUT_PROGRAMS, is_held_out
from latentmorph_train.data_prep import __main__ as data_prep_cli
from latentmorph_train.data_prep import categories, clips, debian, manifest, sample_packs, soundfont
from latentmorph_train.data_prep import sf2 as sf2_tables
from latentmorph_train.data_prep.split import split_for_key

SR = clips.SAMPLE_RATE


# ---- split -------------------------------------------------------------------------------------


def test_split_is_deterministic_and_follows_sha1():
    keys = [f"hydrogen:kit{i}:kick" for i in range(500)] + ["fluidr3:prog0", "fluidr3:drum:35"]
    for key in keys:
        expected = "valid" if int(hashlib.sha1(key.encode()).hexdigest(), 16) % 10 == 0 else "train"
        assert split_for_key(key) == expected
        assert split_for_key(key) == split_for_key(str(key))  # same answer every call
    valid = sum(split_for_key(k) == "valid" for k in keys)
    assert 0.04 < valid / len(keys) < 0.18  # about one key in ten


def test_one_recording_key_never_straddles_the_split():
    # Layers of one instrument map to one key, hence to one side.
    names = ["Kick_Hard_3", "Kick_Soft_1", "Kick-Med", "Kick", "kick_hardest_2"]
    keys = {f"hydrogen:GMRockKit:{categories.instrument_key(n)}" for n in names}
    assert keys == {"hydrogen:GMRockKit:kick"}
    assert len({split_for_key(k) for k in keys}) == 1


def test_instrument_key_strips_layers_but_keeps_instrument_and_take():
    assert categories.instrument_key("Kick_Hard_3") == categories.instrument_key("Kick_Soft_1") == "kick"
    assert categories.instrument_key("SabianHatOpen-Hardest") == "sabian hat open"
    assert categories.instrument_key("Tom Mid") == "tom mid"  # "mid" is not a velocity layer
    assert categories.instrument_key("Sample: beats_06-38.flac") == "beats 06"
    assert categories.instrument_key("beats_06-12") == categories.instrument_key("beats_06-40")
    assert categories.instrument_key("beats_06-12") != categories.instrument_key("beats_07-12")


def test_fluidr3_grid_cap_is_deterministic_subset():
    full = soundfont.fluidr3_grid()
    assert len(full) == 128 * len(sf2_tables.MELODIC_NOTES) * 2 + len(sf2_tables.DRUM_PRESETS) * len(sf2_tables.DRUM_NOTES)
    small = soundfont.fluidr3_grid(100)
    assert small == soundfont.fluidr3_grid(100) and len(small) == 100
    assert set(small) <= set(full)
    assert len({s.clip_id for s in full}) == len(full)


# ---- categories --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("program", "category"),
    [(0, "keys"), (8, "bell"), (19, "keys"), (22, "reed"), (25, "guitar"), (33, "bass"),
     (40, "strings"), (47, "perc"), (48, "strings"), (52, "vocal"), (56, "brass"), (65, "reed"),
     (73, "pipe"), (81, "synth"), (89, "pad"), (99, "fx"), (105, "guitar"), (112, "bell"),
     (117, "tom"), (119, "cymbal"), (127, "fx")],
)  # fmt: skip
def test_category_for_program(program, category):
    assert categories.category_for_program(program) == category


def test_every_program_and_drum_note_has_a_known_category():
    assert all(categories.category_for_program(p) in categories.CATEGORIES for p in range(128))
    assert all(categories.category_for_drum_note(n, k) in categories.CATEGORIES for n in range(128) for k in sf2_tables.DRUM_PRESETS)
    with pytest.raises(ValueError):
        categories.category_for_program(128)


@pytest.mark.parametrize(
    ("note", "category"),
    [(35, "kick"), (36, "kick"), (37, "snare"), (38, "snare"), (39, "perc"), (42, "hat"), (46, "hat"),
     (41, "tom"), (50, "tom"), (49, "cymbal"), (51, "cymbal"), (56, "perc"), (81, "perc")],
)  # fmt: skip
def test_category_for_drum_note(note, category):
    assert categories.category_for_drum_note(note) == category


def test_orchestra_kit_timpani_are_not_hats():
    assert categories.category_for_drum_note(42, preset=0) == "hat"
    assert categories.category_for_drum_note(42, preset=48) == "perc"


@pytest.mark.parametrize(
    ("path", "category"),
    [("drumkits/GMRockKit/Kick-Hard.wav", "kick"),
     ("drumkits/x/bassdrum-4mics-br-stereo-soft2.flac", "kick"),
     ("drums/bassdrum_acoustic01.ogg", "kick"),
     ("drumkits/HardElectro1/PowR_BD_1.flac", "kick"),
     ("drumkits/x/SnareRimshot-Med.wav", "snare"),
     ("drumkits/Millo_MultiLayered2/jsnare_03.flac", "snare"),
     ("drumkits/x/SabianHatOpen-Hard.wav", "hat"),
     ("drumkits/x/hhopen_03.flac", "hat"),
     ("drumkits/x/HiHatSemiopen-0.wav", "hat"),
     ("drumkits/x/CrashRide18Bell-1.wav", "cymbal"),
     ("drumkits/x/ZildjianSplash-Soft.wav", "cymbal"),
     ("drumkits/x/TomFloor-Hard.wav", "tom"),
     ("drumkits/x/tomhi4.flac", "tom"),
     ("drumkits/x/WaterglassHi-Soft.wav", "perc"),
     ("drumkits/x/HandClap.wav", "perc"),
     ("samples/basses/rave_bass01.ogg", "bass"),
     ("samples/basses/matrix1000_pluck01.ogg", "bass"),  # folder decides when the stem does not
     ("samples/instruments/bassslap01.ogg", "bass"),
     ("samples/instruments/church_organ02.ogg", "keys"),
     ("samples/instruments/steel_guitar01.ogg", "guitar"),
     ("drumkits/belofilms_GuitarStrums/Amajor_UP_02.flac", "guitar"),
     ("samples/instruments/violin_pizzicato01.ogg", "strings"),
     ("samples/instruments/trumpet01.ogg", "brass"),
     ("samples/instruments/flute01.ogg", "pipe"),
     ("samples/stringsnpads/juno_pad01.ogg", "pad"),
     ("samples/stringsnpads/rave_choir01.ogg", "vocal"),
     ("samples/misc/dong01.ogg", "bell"),
     ("samples/shapes/technosynth2.wav", "synth"),
     ("samples/effects/explode01.ogg", "fx"),
     ("samples/misc/undefined01.ogg", "other")],
)  # fmt: skip
def test_category_for_path(path, category):
    assert categories.category_for_path(path) == category


# ---- trimming and normalisation ----------------------------------------------------------------


def _decaying_tone(seconds: float, freq: float = 220.0, decay_s: float = 0.05) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return (np.sin(2 * np.pi * freq * t) * np.exp(-t / decay_s)).astype(np.float32)


def test_trim_removes_leading_silence_keeps_preroll_and_normalises():
    lead = int(0.3 * SR)
    tone = 0.2 * _decaying_tone(1.0)
    x = np.concatenate([np.zeros(lead, np.float32), tone])
    clip = clips.trim_and_normalise(x, SR)
    assert clip is not None and clip.dtype == np.float32
    assert np.isclose(np.abs(clip).max(), clips.TARGET_PEAK, atol=1e-6)
    onset = int(np.argmax(np.abs(clip) >= np.abs(clip).max() * 10 ** (clips.ONSET_DB / 20)))
    preroll = int(round(clips.PREROLL_S * SR))
    assert abs(onset - preroll) <= 2  # a few ms kept before the onset
    # The exponential tail falls below -60 dB of the peak after ~0.35 s: the rest is cut.
    assert 0.25 < clip.size / SR < 0.5


def test_trim_caps_duration_and_fades_out():
    x = 0.5 * np.sin(2 * np.pi * 110 * np.arange(5 * SR) / SR).astype(np.float32)  # 5 s drone
    clip = clips.trim_and_normalise(x, SR)
    assert clip is not None
    assert clip.size == int(clips.MAX_CLIP_S * SR)
    assert abs(clip[-1]) < 1e-3  # faded, no click at the cut


def test_trim_drops_silent_and_too_short():
    assert clips.trim_and_normalise(np.zeros(SR, np.float32), SR) is None
    assert clips.trim_and_normalise(np.full(SR, 5e-5, np.float32), SR) is None  # peak < 1e-4
    blip = np.zeros(SR, np.float32)
    blip[1000:1000 + int(0.02 * SR)] = 0.5  # 20 ms burst
    assert clips.trim_and_normalise(blip, SR) is None
    assert clips.trim_and_normalise(np.array([], np.float32), SR) is None


def test_trim_keeps_quiet_but_valid_sounds():
    clip = clips.trim_and_normalise(3e-4 * _decaying_tone(0.5, decay_s=0.1), SR)
    assert clip is not None and np.isclose(np.abs(clip).max(), 0.9, atol=1e-6)


def test_pcm16_roundtrip_is_exact():
    clip = clips.trim_and_normalise(_decaying_tone(0.3), SR)
    pcm = clips.pcm16(clip)
    assert pcm.dtype == np.int16 and np.abs(pcm).max() == round(0.9 * 32767)


# ---- files -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["kick.WAV", "snare.Aif", "hat.AIFF", "x.FLAC", "y.Ogg", "z.wav"])
def test_audio_extensions_are_case_insensitive(name):
    assert is_audio_path(name)
    assert is_audio_path(f"/some/Kit Dir/{name}")


@pytest.mark.parametrize("name", ["drumkit.xml", "preset.ds", "kit.h2drumkit", "wav", "README"])
def test_non_audio_is_not_matched(name):
    assert not is_audio_path(name)


def test_audio_file_scan_is_recursive_and_case_insensitive(tmp_path):
    for rel in ["a/Kick.WAV", "a/b/Snare.Aif", "c.flac", "drumkit.xml", "a/notes.txt"]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"x")
    found = [p.relative_to(tmp_path).as_posix() for p in sample_packs._audio_files(tmp_path)]
    assert found == ["a/Kick.WAV", "a/b/Snare.Aif", "c.flac"]


def test_drumkit_xml_maps_layers_to_instruments(tmp_path):
    (tmp_path / "drumkit.xml").write_text(
        """<?xml version="1.0"?>
<drumkit_info xmlns="http://www.hydrogen-music.org/drumkit">
  <name>T</name>
  <instrumentList>
    <instrument><id>0</id><name>Kick</name>
      <layer><filename>Kick-Soft.wav</filename></layer><layer><filename>Kick-Hard.wav</filename></layer>
    </instrument>
    <instrument><id>1</id><name>Snare</name><filename>sn_1.flac</filename></instrument>
  </instrumentList>
</drumkit_info>"""
    )
    assert sample_packs.drumkit_instruments(tmp_path) == {"Kick-Soft.wav": "Kick", "Kick-Hard.wav": "Kick", "sn_1.flac": "Snare"}
    assert sample_packs.drumkit_instruments(tmp_path / "missing") == {}


def test_summary_counts_and_seconds():
    records = [
        {"source": "lmms", "category": "kick", "split": "train", "duration_s": 1.0, "recording_key": "a"},
        {"source": "lmms", "category": "kick", "split": "valid", "duration_s": 0.5, "recording_key": "b"},
        {"source": "fluidr3", "category": "keys", "split": "train", "duration_s": 2.0, "recording_key": "c"},
    ]
    summary = manifest.summarise(records)
    assert summary["clips"] == 3 and summary["seconds"] == 3.5
    assert summary["by_source"]["lmms"] == {"clips": 2, "seconds": 1.5}
    assert summary["by_split"]["train"] == {"clips": 2, "seconds": 3.0}
    assert summary["by_category_split"]["kick/valid"] == {"clips": 1, "seconds": 0.5}


@pytest.mark.skipif(not soundfont.SOUNDFONT_SYSTEM_PATH.is_file(), reason="fluid-soundfont-gm not installed")
def test_fluidr3_programs_sharing_samples_share_a_recording_key():
    keys = sf2_tables.fluidr3_recording_keys(soundfont.SOUNDFONT_SYSTEM_PATH)
    assert keys[("prog", 0, 0)] == keys[("prog", 1, 0)] == "fluidr3:prog0"  # grand + bright grand
    assert keys[("prog", 40, 0)] == keys[("prog", 110, 0)]  # violin + fiddle
    # Kits share samples per note: one key for a note across kits.
    assert keys[("drum", 38, 0)] == keys[("drum", 38, 8)]
    assert all(k.startswith(("fluidr3:prog", "fluidr3:drum:")) for k in keys.values() if k is not None)
    # Variations join their program's key (Detuned EP 1 → EP 1, Ukulele → nylon guitar's group);
    # none of a held-out program (Church Organ 2 of 19) is kept.
    assert keys[("prog", 4, 8)] == keys[("prog", 4, 0)] and keys[("prog", 24, 8)] == keys[("prog", 24, 0)]
    assert keys[("prog", 19, 8)] is None
    assert all(k is None or not is_held_out("fluidr3", k) for n, k in keys.items() if n[0] == "prog" and n[2])


# ---- MuseScore General -------------------------------------------------------------------------


def _write_sf2(path, presets):
    """A minimal SoundFont 2 file with only the pdta tables the key derivation reads.

    ``presets``: ``{(bank, preset): [(key_lo, key_hi, sample_name), ...]}``, one instrument per
    preset. Equal sample names are one sample (so presets naming it share it).
    """
    import struct

    names = sorted({name for zones in presets.values() for _, _, name in zones})
    phdr, pbag, pgen, inst, ibag, igen = [], [], [], [], [], []
    for i, ((bank, preset), zones) in enumerate(sorted(presets.items())):
        phdr.append(struct.pack("<20sHHHIII", f"P{i}".encode(), preset, bank, len(pbag), 0, 0, 0))
        pbag.append(struct.pack("<HH", len(pgen), 0))
        pgen.append(struct.pack("<HH", 41, i))  # 41 = instrument
        inst.append(struct.pack("<20sH", f"I{i}".encode(), len(ibag)))
        for lo, hi, name in zones:
            ibag.append(struct.pack("<HH", len(igen), 0))
            igen += [struct.pack("<HBB", 43, lo, hi), struct.pack("<HH", 53, names.index(name))]  # keyRange, sampleID
    phdr.append(struct.pack("<20sHHHIII", b"EOP", 0, 0, len(pbag), 0, 0, 0))
    pbag.append(struct.pack("<HH", len(pgen), 0))
    pgen.append(struct.pack("<HH", 0, 0))
    inst.append(struct.pack("<20sH", b"EOI", len(ibag)))
    ibag.append(struct.pack("<HH", len(igen), 0))
    igen.append(struct.pack("<HH", 0, 0))
    shdr = [struct.pack("<20sIIIIIBbHH", n.encode(), 0, 0, 0, 0, 44100, 60, 0, 0, 1) for n in [*names, "EOS"]]
    tables = {"phdr": phdr, "pbag": pbag, "pmod": [bytes(10)], "pgen": pgen, "inst": inst, "ibag": ibag,
              "imod": [bytes(10)], "igen": igen, "shdr": shdr}  # fmt: skip
    pdta = b"pdta" + b"".join(tag.encode() + struct.pack("<I", len(b"".join(r))) + b"".join(r) for tag, r in tables.items())
    body = b"sfbk" + b"LIST" + struct.pack("<I", 4) + b"INFO" + b"LIST" + struct.pack("<I", len(pdta)) + pdta
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    return path


def _programs_on(split, count, exclude=()):
    return [p for p in range(128) if p not in exclude and split_for_key(f"fluidr3:prog{p}") == split][:count]


def test_sf2_tables_are_read_back(tmp_path):
    sf2 = _write_sf2(tmp_path / "t.sf2", {(0, 5): [(0, 59, "lo"), (60, 127, "hi")], (128, 0): [(36, 36, "kick")]})
    names = sf2_tables.sample_names(sf2)
    assert names == ["hi", "kick", "lo", "EOS"]  # sample ids in shdr order, terminal record last
    zones = {preset: [(lo, hi, names[s]) for lo, hi, s in z] for preset, z in sf2_tables.preset_zones(sf2).items()}
    assert zones == {(0, 5): [(0, 59, "lo"), (60, 127, "hi")], (128, 0): [(36, 36, "kick")]}
    (tmp_path / "x.sf2").write_bytes(b"RIFF\0\0\0\0WAVE")
    with pytest.raises(ValueError, match="not an SF2"):
        sf2_tables.preset_zones(tmp_path / "x.sf2")


def test_musescore_programs_follow_fluidr3_programs_of_the_same_number(tmp_path):
    (a, b), (v,) = _programs_on("train", 2), _programs_on("valid", 1)
    fluid = _write_sf2(tmp_path / "f.sf2", {(0, a): [(0, 127, "fa")], (0, b): [(0, 127, "fa")],  # a, b share
                                            (0, v): [(0, 127, "fv")]})  # fmt: skip
    muse = _write_sf2(tmp_path / "m.sf3", {(0, p): [(0, 127, f"m{p}")] for p in (a, b, v)})
    fluid_keys = sf2_tables.fluidr3_recording_keys(fluid)
    assert fluid_keys[("prog", a, 0)] == fluid_keys[("prog", b, 0)] == f"fluidr3:prog{min(a, b)}"
    keys = sf2_tables.musescore_recording_keys(muse, fluid, [])
    for p in (a, b, v):
        assert keys[("prog", p, 0)] == fluid_keys[("prog", p, 0)]
        assert split_for_key(keys[("prog", p, 0)]) == split_for_key(fluid_keys[("prog", p, 0)])
    assert split_for_key(keys[("prog", v, 0)]) == "valid"


def test_musescore_group_straddling_fluidr3_splits_is_left_out(tmp_path):
    (t,), (v,) = _programs_on("train", 1), _programs_on("valid", 1)
    (other,) = _programs_on("train", 1, exclude=(t,))
    fluid = _write_sf2(tmp_path / "f.sf2", {(0, p): [(0, 127, f"f{p}")] for p in (t, v, other)})
    # MuseScore's programs t and v play one common sample: they cannot follow both FluidR3 sides.
    muse = _write_sf2(tmp_path / "m.sf3", {(0, t): [(0, 127, "shared")], (0, v): [(0, 127, "shared")],
                                           (0, other): [(0, 127, "own")]})  # fmt: skip
    keys = sf2_tables.musescore_recording_keys(muse, fluid, [])
    assert keys[("prog", t, 0)] is None and keys[("prog", v, 0)] is None
    assert keys[("prog", other, 0)] == f"fluidr3:prog{other}"


def test_variations_follow_their_program_and_leave_held_out_and_straddling_ones_out(tmp_path):
    (t,), (v,) = _programs_on("train", 1, exclude=HELD_OUT_PROGRAMS), _programs_on("valid", 1, exclude=HELD_OUT_PROGRAMS)
    held = min(p for p in HELD_OUT_PROGRAMS if p not in (t, v))
    (other,) = _programs_on("train", 1, exclude={t, v, *HELD_OUT_PROGRAMS})
    base = {(0, t): [(0, 127, "ft")], (0, v): [(0, 127, "fv")], (0, held): [(0, 127, "fh")], (0, other): [(0, 127, "fo")]}
    variations = {(8, t): [(0, 127, "t8")],  # own samples: joins program t
                  (8, other): [(0, 59, "ft"), (60, 127, "fv")],  # plays t's and v's samples: straddles
                  (8, held): [(0, 127, "h8")],  # a variation of a held-out program
                  (16, v): [(0, 127, "v16")], (17, t): [(0, 127, "t17")]}  # fmt: skip
    plain = sf2_tables.fluidr3_recording_keys(_write_sf2(tmp_path / "p.sf2", base))
    fluid = _write_sf2(tmp_path / "f.sf2", base | variations)
    keys = sf2_tables.fluidr3_recording_keys(fluid)
    assert {n: k for n, k in keys.items() if n[0] == "drum" or n[2] == 0} == plain  # nothing else moved
    assert keys[("prog", t, 8)] == f"fluidr3:prog{t}" and keys[("prog", v, 16)] == f"fluidr3:prog{v}"
    assert keys[("prog", other, 8)] is None and keys[("prog", held, 8)] is None
    assert ("prog", t, 17) not in keys  # not a variation bank
    assert [s.bank for s in soundfont.fluidr3_grid(None, [("prog", t, 8)]) if s.preset == t].count(8) == len(
        sf2_tables.MELODIC_NOTES) * len(sf2_tables.MELODIC_VELOCITIES)
    muse = _write_sf2(tmp_path / "m.sf3", {(0, t): [(0, 127, "mt")], (8, t): [(0, 127, "mt8")],
                                           (8, held): [(0, 127, "mh8")]})  # fmt: skip
    muse_keys = sf2_tables.musescore_recording_keys(muse, fluid, [])
    assert muse_keys[("prog", t, 8)] == f"fluidr3:prog{t}" and muse_keys[("prog", held, 8)] is None
    assert soundfont.NoteSpec(8, t, 60, 100).clip_id == f"fluidr3/bank008/prog{t:03d}/n060_v100"


def test_musescore_drums_link_by_gm_note_and_by_sample_name(tmp_path):
    fluid = _write_sf2(tmp_path / "f.sf2", {(0, 47): [(0, 127, "Timpani")], (128, 0): [(38, 38, "Snare")]})
    muse = _write_sf2(tmp_path / "m.sf3", {(128, 0): [(27, 27, "High Q"), (28, 28, "Timpani"), (38, 38, "Snr 2")],
                                           (128, 8): [(27, 27, "High Q")]})  # fmt: skip
    drum_nodes = [("drum", 27, 0), ("drum", 28, 0), ("drum", 38, 0), ("drum", 27, 8)]
    keys = sf2_tables.musescore_recording_keys(muse, fluid, drum_nodes)
    fluid_keys = sf2_tables.fluidr3_recording_keys(fluid)
    assert keys[("drum", 27, 0)] == keys[("drum", 27, 8)] == "musescore:drum:27"  # no FluidR3 note 27
    assert keys[("drum", 28, 0)] == fluid_keys[("prog", 47, 0)]  # same sample name as a FluidR3 program
    snare_keys = {fluid_keys[("drum", 38, k)] for k in sf2_tables.DRUM_PRESETS}
    assert keys[("drum", 38, 0)] == min(snare_keys)  # GM note 38 of any FluidR3 kit


def test_musescore_grid_covers_programs_and_every_kit_note(tmp_path):
    zones = {(0, 0): [(0, 127, 0)], (0, 40): [(0, 127, 1)], (8, 0): [(0, 127, 0)], (17, 40): [(0, 127, 1)],
             (128, 0): [(35, 38, 2), (27, 27, 3)], (128, 57): [(1, 2, 4)]}  # fmt: skip
    grid = soundfont.musescore_grid(zones)
    melodic = [s for s in grid if s.bank != 128]
    assert {(s.bank, s.preset, s.note, s.velocity) for s in melodic} == {
        (b, p, n, v) for b, p in ((0, 0), (0, 40), (8, 0))
        for n in sf2_tables.MUSESCORE_NOTES for v in sf2_tables.MUSESCORE_VELOCITIES
    }  # variations (bank 8) on the programs' notes; "Expr." articulations (bank 17) are not rendered
    assert [(s.preset, s.note) for s in grid if s.bank == 128] == [(0, 27), (0, 35), (0, 36), (0, 37), (0, 38),
                                                                   (57, 1), (57, 2)]  # fmt: skip
    ids = {s.clip_id for s in grid}
    assert len(ids) == len(grid) and all(i.startswith("musescore/") for i in ids)
    assert not ids & {s.clip_id for s in soundfont.fluidr3_grid()}
    assert soundfont.musescore_grid(zones, 10) == soundfont.musescore_grid(zones, 10) and len(soundfont.musescore_grid(zones, 10)) == 10
    # Together with FluidR3's grid: every even note 24-96, four velocities.
    assert set(sf2_tables.MUSESCORE_NOTES) | set(sf2_tables.MELODIC_NOTES) == set(range(24, 97, 2))
    assert not set(sf2_tables.MUSESCORE_VELOCITIES) & set(sf2_tables.MELODIC_VELOCITIES)


@pytest.mark.parametrize(
    ("note", "preset", "category"),
    [(27, 0, "perc"), (29, 0, "fx"), (34, 0, "bell"), (84, 0, "bell"), (87, 0, "perc"), (20, 0, "other"),
     (60, 56, "snare"), (1, 57, "kick"), (80, 58, "cymbal"), (30, 95, "tom"), (33, 55, "perc")],
)  # fmt: skip
def test_category_for_gs_and_marching_drum_notes(note, preset, category):
    assert categories.category_for_drum_note(note, preset) == category


# ---- UI sounds (oxygen, lomiri, bucklespring) --------------------------------------------------


@pytest.mark.parametrize(
    ("source", "rel", "key"),
    [("oxygen", "sounds/Oxygen-Sys-Log-In-Long.ogg", "oxygen:sys log"),
     ("oxygen", "sounds/Oxygen-Sys-Log-Out.ogg", "oxygen:sys log"),
     ("oxygen", "sounds/Oxygen-Window-Shade-Up.ogg", "oxygen:window shade"),
     ("oxygen", "sounds/Oxygen-Im-Sms.ogg", "oxygen:im sms"),
     ("bucklespring", "buckle/wav/3b-0.wav", "bucklespring:press"),
     ("bucklespring", "buckle/wav/3b-1.wav", "bucklespring:release"),
     ("lomiri", "sounds/lomiri/ringtones/Soul.ogg", "lomiri:sounds/lomiri/ringtones/Soul.ogg")],
)  # fmt: skip
def test_ui_sound_recording_keys_group_variants_of_one_sound(source, rel, key):
    from pathlib import Path

    assert sample_packs.ui_sound_recording_key(source, Path(rel)) == key


def _package(tmp_path, name, files, copyright_text=None):
    root = tmp_path / name
    for rel, content in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            (root / rel).write_bytes(content)
        else:
            sf.write(str(root / rel), content, 48000, format="OGG" if rel.endswith(".ogg") else "WAV")
    if copyright_text is not None:
        doc = root / "usr/share/doc" / name
        doc.mkdir(parents=True, exist_ok=True)
        (doc / "copyright").write_text(copyright_text)
    return debian.Package(name, "1.0-1", root)


_DEP5 = """Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: t

Files: *
Copyright: 2020 A
License: GPL-2+

Files: share/sounds/t/ringtones/Wind?chime.ogg
Copyright: 2020 B
License: CC0-1.0
"""


def test_copyright_license_matches_source_paths_to_installed_files(tmp_path):
    pkg = _package(tmp_path, "t-sounds", {"usr/share/sounds/t/ringtones/Wind chime.ogg": b"x",
                                          "usr/share/sounds/t/ringtones/Soul.ogg": b"x"}, _DEP5)  # fmt: skip
    sounds = pkg.root / "usr/share/sounds/t/ringtones"
    assert debian.copyright_license(pkg, sounds / "Wind chime.ogg") == "CC0-1.0"  # the named stanza beats "*"
    assert debian.copyright_license(pkg, sounds / "Soul.ogg") == "GPL-2+"
    bare = _package(tmp_path, "bare", {"usr/share/sounds/a.ogg": b"x"})
    assert debian.copyright_license(bare, bare.root / "usr/share/sounds/a.ogg") == "see debian/copyright"


def test_ui_sound_files_become_fx_clips_and_unreadable_ones_are_counted(tmp_path):
    t = np.arange(int(0.5 * 48000)) / 48000
    tone = (0.5 * np.sin(2 * np.pi * 440 * t) * np.exp(-t / 0.1)).astype(np.float32)
    pkg = _package(tmp_path, "t-sounds", {
        "usr/share/sounds/t/ringtones/Melody piano.ogg": tone,
        "usr/share/sounds/t/notifications/Blip.wav": tone,
        "usr/share/sounds/t/notifications/Broken.wav": b"RIFF\x10\0\0\0WAVEjunkjunk",
        "usr/share/sounds/t/README": b"not audio",
    }, _DEP5)  # fmt: skip
    items = sample_packs._ui_sound_items(pkg, "lomiri")
    assert {i.clip_id: i.category for i in items} == {
        "lomiri/sounds_t_notifications_Blip": "fx", "lomiri/sounds_t_notifications_Broken": "fx",
        "lomiri/sounds_t_ringtones_Melody_piano": "keys",
    }  # fmt: skip
    stats = clips.Stats()
    out = tmp_path / "out"
    with Progress(console=Console(quiet=True)) as progress:
        records = sample_packs.prepare_files(out, items, False, Console(quiet=True), progress, stats)
    assert [r["id"] for r in records] == ["lomiri/sounds_t_notifications_Blip", "lomiri/sounds_t_ringtones_Melody_piano"]
    assert [f["path"] for f in stats.failed] == ["t-sounds:/usr/share/sounds/t/notifications/Broken.wav"]
    assert stats.failed[0]["reason"]
    for record in records:
        clip, rate = sf.read(str(out / record["path"]))
        assert rate == SR and np.isclose(np.abs(clip).max(), clips.TARGET_PEAK, atol=1e-3)  # resampled 48k → 44.1k
        assert record["split"] == split_for_key(record["recording_key"])
        assert record["license"] == "GPL-2+"


# ---- manifest comparison -----------------------------------------------------------------------


def test_compare_splits_finds_moved_removed_and_added_clips(tmp_path):
    old = [{"id": "a", "split": "train"}, {"id": "b", "split": "valid"}, {"id": "c", "split": "train"}]
    new = [{"id": "a", "split": "train", "source": "x"}, {"id": "b", "split": "train", "source": "x"},
           {"id": "d", "split": "valid", "source": "musescore"}]  # fmt: skip
    result = manifest.compare_splits(old, new)
    assert result["kept"] == 2 and result["removed"] == 1 and result["added"] == 1
    assert result["changed"] == [{"id": "b", "old": "valid", "new": "train"}]
    assert result["added_by_source_split"] == {"musescore/valid": 1}
    assert manifest.compare_splits(old, old)["changed"] == []


def test_compare_command_exit_codes(tmp_path):
    from typer.testing import CliRunner

    def write(name, records):
        (tmp_path / name).write_text("".join(json.dumps(r) + "\n" for r in records))
        return str(tmp_path / name)

    old = write("old.jsonl", [{"id": "a", "split": "train"}])
    same = write("same.jsonl", [{"id": "a", "split": "train"}, {"id": "z", "split": "valid"}])
    moved = write("moved.jsonl", [{"id": "a", "split": "valid"}])
    bad = write("bad.jsonl", [{"id": "a"}])
    runner = CliRunner()
    ok = runner.invoke(data_prep_cli.app, ["compare", old, same, "--json"])
    assert ok.exit_code == 0 and json.loads(ok.stdout)["added"] == 1
    assert runner.invoke(data_prep_cli.app, ["compare", old, moved]).exit_code == 1
    broken = runner.invoke(data_prep_cli.app, ["compare", old, bad])
    assert broken.exit_code == 2 and "bad.jsonl:1" in broken.stdout


@pytest.mark.skipif(not soundfont.SOUNDFONT_SYSTEM_PATH.is_file(), reason="fluid-soundfont-gm not installed")
def test_a_render_does_not_depend_on_the_notes_before_it():
    # Events act at fluidsynth's 64-frame block starts: a render that left the synth mid-block
    # would shift the next note-on (FluidR3 renders of .data differed by up to +5.8 dB re peak).
    pytest.importorskip("fluidsynth")
    spec = soundfont.NoteSpec(0, 40, 60, 100)
    renders = []
    for history in ([soundfont.NoteSpec(0, 0, 60, 100)], [soundfont.NoteSpec(128, 0, 38, 100), soundfont.NoteSpec(0, 0, 61, 50)]):
        renderer = soundfont.FluidRenderer(soundfont.SOUNDFONT_SYSTEM_PATH)
        for previous in history:
            renderer.render(previous)
        renders.append(renderer.render(spec))
    a, b = renders
    assert a.shape == b.shape and np.abs(a).max() > 1e-2
    assert np.abs(a - b).max() < 1e-3 * np.abs(a).max()  # below -60 dB re peak

// Python bindings of the voice engine (module `latentmorph_engine`): the exact DSP the plugin runs,
// driven offline from pytest and scripts. Built by the CMake target `latentmorph_engine_py` into build/python/.

#include "engine/Engine.h"
#include "engine/ParameterTable.h"
#include "engine/WavFile.h"

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace py = pybind11;

namespace latentmorph {
namespace {

/** One event of render(), as the raw MIDI message the plugin would get at that sample. */
struct MidiEvent
{
    long offset = 0;
    std::array<std::uint8_t, 3> bytes {};
    int numBytes = 0;
};

constexpr const char* kEventForms = "an event is (sample_offset, note, velocity, is_note_on) or (sample_offset, midi_bytes)";

/** Converts (sample_offset, note, velocity, is_note_on) or (sample_offset, midi_bytes).
    Raises ValueError for a value out of range, TypeError for a wrong type. */
MidiEvent toMidiEvent (const py::handle& item, long numSamples)
{
    if (! py::isinstance<py::sequence> (item) || py::isinstance<py::str> (item))
        throw py::type_error (std::string (kEventForms) + ", got " + py::repr (item).cast<std::string>());

    const auto fields = py::reinterpret_borrow<py::sequence> (item);

    if (fields.size() != 4 && fields.size() != 2)
        throw py::value_error (std::string (kEventForms) + ", got " + py::repr (item).cast<std::string>());

    MidiEvent event;
    event.offset = fields[0].cast<long>();

    if (event.offset < 0 || event.offset >= numSamples)
        throw py::value_error ("event sample_offset " + std::to_string (event.offset) + " is outside [0, num_samples)");

    if (fields.size() == 4)
    {
        const auto note = fields[1].cast<int>();
        const auto velocity = fields[2].cast<int>();

        if (note < 0 || note > 127 || velocity < 0 || velocity > 127)
            throw py::value_error ("event note and velocity must be in 0..127");

        event.bytes = fields[3].cast<bool>() ? std::array<std::uint8_t, 3> { 0x90, std::uint8_t (note), std::uint8_t (velocity) }
                                             : std::array<std::uint8_t, 3> { 0x80, std::uint8_t (note), 0 };
        event.numBytes = 3;
        return event;
    }

    // bytes(), so bytes, bytearray and a list of ints all work.
    const auto midi = py::module_::import ("builtins").attr ("bytes") (fields[1]).cast<std::string>();
    const auto isStatus = [] (char c)
    { return (static_cast<std::uint8_t> (c) & 0x80) != 0; };

    if (midi.empty() || midi.size() > 3 || ! isStatus (midi[0]) || std::any_of (midi.begin() + 1, midi.end(), isStatus))
        throw py::value_error ("event midi_bytes must be one MIDI message of 1 to 3 bytes: a status byte >= 0x80, "
                               "then data bytes < 0x80");

    std::copy (midi.begin(), midi.end(), event.bytes.begin());
    event.numBytes = static_cast<int> (midi.size());
    return event;
}

/** Slot `slot`'s fine tune, cents, as a Python property. */
template <int slot>
float fineTune (const Engine& engine)
{
    return engine.fineTune (slot);
}

template <int slot>
void setFineTune (Engine& engine, float cents)
{
    engine.setFineTune (slot, cents);
}

/** Publishes on the calling thread and takes the grid at once: in Python one thread plays both roles. */
void swapGridNow (Engine& engine, std::shared_ptr<const Grid> grid)
{
    engine.publishGrid (grid); // cannot be full: every publish below is consumed immediately
    engine.beginBlock();
    engine.collectGarbage();
}

using Renders = py::array_t<float, py::array::c_style | py::array::forcecast>;

/** A Grid of float32 [steps, num_samples] `renders` (Grid's checks raise ValueError). */
std::shared_ptr<const Grid> makeGrid (const Renders& renders, double gridSampleRateHz, int padSize)
{
    if (renders.ndim() != 2)
        throw py::value_error ("renders must be a 2-D array [steps, num_samples], got " + std::to_string (renders.ndim()) + " dimensions");

    const auto steps = static_cast<int> (renders.shape (0));
    const auto numSamples = static_cast<std::size_t> (renders.shape (1));
    std::vector<float> pcm (renders.data(), renders.data() + renders.size());
    return std::make_shared<const Grid> (std::move (pcm), steps, numSamples, gridSampleRateHz, padSize);
}

void setGrid (Engine& engine, const Renders& renders, double gridSampleRateHz, int padSize)
{
    swapGridNow (engine, makeGrid (renders, gridSampleRateHz, padSize));
}

py::array_t<float> morphPointOf (const Renders& renders, double gridSampleRateHz, int padSize, float morph, float morphY)
{
    const auto sound = morphPoint (*makeGrid (renders, gridSampleRateHz, padSize), morph, morphY);
    py::array_t<float> out (static_cast<py::ssize_t> (sound.size()));
    std::copy (sound.begin(), sound.end(), out.mutable_data());
    return out;
}

void writeWav (const std::string& path, const Renders& samples, double sampleRateHz)
{
    if (samples.ndim() != 1)
        throw py::value_error ("samples must be a 1-D array [num_samples], got " + std::to_string (samples.ndim()) + " dimensions");

    try
    {
        writeWavFile (path, samples.data(), static_cast<std::size_t> (samples.size()), sampleRateHz);
    }
    catch (const std::runtime_error& e)
    {
        throw py::value_error (e.what());
    }
}

py::array_t<float> render (Engine& engine, long numSamples, const py::iterable& eventItems, int blockSize, bool reset)
{
    if (numSamples < 0)
        throw py::value_error ("num_samples must be >= 0");

    if (blockSize < 1)
        throw py::value_error ("block_size must be >= 1");

    std::vector<MidiEvent> events;

    for (const auto& item : eventItems)
    {
        try
        {
            events.push_back (toMidiEvent (item, numSamples));
        }
        catch (const py::cast_error&) // e.g. a float note: pybind11 would say RuntimeError
        {
            throw py::type_error (std::string (kEventForms) + " with integer offset, note and velocity, got "
                                  + py::repr (item).cast<std::string>());
        }
    }

    // Stable: events at the same offset keep their order (e.g. note-off then note-on).
    std::stable_sort (events.begin(), events.end(), [] (const MidiEvent& a, const MidiEvent& b)
                      { return a.offset < b.offset; });

    py::array_t<float> output (numSamples);
    auto* out = output.mutable_data();
    auto event = events.cbegin();

    if (reset)
        engine.reset();

    for (long blockStart = 0; blockStart < numSamples; blockStart += blockSize)
    {
        const auto blockEnd = std::min (numSamples, blockStart + blockSize);
        auto position = blockStart;
        engine.beginBlock();

        for (; event != events.cend() && event->offset < blockEnd; ++event)
        {
            engine.render (out + position, static_cast<int> (event->offset - position));
            position = event->offset;
            engine.handleMidiMessage (event->bytes.data(), event->numBytes); // the plugin's MIDI path
        }

        engine.render (out + position, static_cast<int> (blockEnd - position));
    }

    return output;
}

py::tuple readGrid (const std::string& path)
{
    std::shared_ptr<const Grid> grid;

    try
    {
        grid = readGridFile (path);
    }
    catch (const std::runtime_error& e)
    {
        throw py::value_error (e.what());
    }

    py::array_t<float> renders ({ static_cast<py::ssize_t> (grid->steps()), static_cast<py::ssize_t> (grid->numSamples()) });
    std::copy (grid->step (0), grid->step (0) + grid->steps() * grid->numSamples(), renders.mutable_data());
    return py::make_tuple (renders, grid->sampleRateHz());
}

/** kParameterTable as a tuple of dicts, one per parameter in table order. */
py::tuple parameterTable()
{
    py::list rows;

    for (const auto& spec : kParameterTable)
    {
        py::dict row;
        row["id"] = spec.id;
        row["name"] = spec.name;
        row["min"] = spec.minValue;
        row["max"] = spec.maxValue;
        row["default"] = spec.defaultValue;
        row["interval"] = spec.interval;
        row["centre"] = spec.centreValue;
        row["unit"] = spec.unit;
        row["is_integer"] = spec.isInteger;
        rows.append (row);
    }

    return py::tuple (rows);
}

} // namespace
} // namespace latentmorph

PYBIND11_MODULE (latentmorph_engine, m)
{
    using latentmorph::Engine;

    m.doc() = "LatentMorph voice engine (the plugin's C++ DSP) for offline rendering and tests.\n\n"
              "PARAMETERS: the plugin's parameter table (plugin/engine/ParameterTable.h), a tuple of dicts in the "
              "plugin's order with keys id, name, min, max, default, interval, centre (the value at the knob's "
              "mid-point), unit and is_integer; values are real values in `unit`.";

    py::class_<Engine> (m, "Engine", R"doc(
Polyphonic sampler voice engine playing a morph grid.

Up to `polyphony` voices (1..64) play at once; a note-on beyond that steals the oldest voice, which
fades linearly to 0 in 3 ms (132 samples at 44100 Hz) while the new note starts at once. MIDI CC 64 is
the sustain pedal (value >= 64 = down): note-offs while it is down hold their voices until it goes up.

A voice plays the grid at pitch ratio 2**((note + bend - root(m)) / 12) * grid_sample_rate_hz / host_sample_rate_hz
with cubic Hermite interpolation, crossfading the two renders nearest its morph position
(pos = m * (K - 1)); root(m) interpolates root_note + fine_tune_a_cents / 100 and root_note_b +
fine_tune_b_cents / 100 by m (plugin/engine/Engine.h). m = morph + mod_wheel_morph * cc1 / 127 (smoothed)
+ velocity_morph * velocity / 127, clamped to [0, 1]. Level = (velocity / 127) ** velocity_curve *
linear ADSR * 10**(gain_db / 20).
Morph and gain are smoothed per sample (one-pole, 20 ms) except at the start of a render.
Voices are not scaled by the polyphony; the mix passes a peak limiter with its ceiling at 1.0
(0 dBFS, no lookahead, 50 ms release) that leaves any mix within [-1, 1] untouched, bit for bit.
)doc")
        .def (py::init<int>(), py::arg ("polyphony") = Engine::kDefaultPolyphony)
        .def ("prepare", &Engine::prepare, py::arg ("host_sample_rate_hz"), py::arg ("max_block_size") = 512,
              "Sets the host (output) sample rate in Hz and the usual block size; silences all voices.")
        .def ("set_grid", &latentmorph::setGrid, py::arg ("renders"), py::arg ("grid_sample_rate_hz"), py::arg ("pad_size") = 0,
              "Plays `renders`, float32 [K, N] (K >= 2 morph steps at t = i / (K - 1), N samples each, mono), "
              "sampled at grid_sample_rate_hz; with pad_size P > 0 an XY pad of P x P rows, y-major (row y * P + x "
              "at (x, y) / (P - 1); corners A, B, C, D at (0, 0), (1, 0), (0, 1), (1, 1)). Raises ValueError on a bad "
              "shape, rate, pad size or non-finite sample.")
        .def (
            "clear_grid", [] (Engine& engine)
            { latentmorph::swapGridNow (engine, nullptr); },
            "Removes the grid: the engine renders exact zeros.")
        .def ("render", &latentmorph::render, py::arg ("num_samples"), py::arg ("events") = py::tuple(),
              py::arg ("block_size") = 512, py::arg ("reset") = true, R"doc(
Renders num_samples mono samples at the host sample rate and returns them as float32 [num_samples].

events: iterable of events, each one of
  (sample_offset, note, velocity, is_note_on): note and velocity in 0..127 (a note-on with velocity 0
      is a note-off);
  (sample_offset, midi_bytes): one raw MIDI message of 1 to 3 bytes (bytes, bytearray or ints),
      handled exactly as the plugin handles MIDI: note-on 0x9n, note-off 0x8n, control change 0xBn
      1 = mod wheel, 64 = sustain pedal (value >= 64 down), 120 = all sound off (3 ms fade),
      121 = reset all controllers, channel pressure 0xDn (2 bytes: bytes([0xD0, value])), 123 = all notes off (release, pedal or not), pitch bend 0xEn;
      any channel; other messages are ignored.
      E.g. pedal down at sample 100: (100, bytes([0xB0, 64, 127])); up: (900, bytes([0xB0, 64, 0])).
sample_offset in [0, num_samples); a bad event raises ValueError. Events apply sample-accurately,
in order of offset (stable). With reset=True the engine is reset first (voices silenced, smoothers
jump to their targets, pedal up); reset=False continues from the previous render (held voices, smoothers
gliding to changed parameters). Rendered in blocks of block_size samples, as a host would call it.
)doc")
        .def_property ("morph", &Engine::morph, &Engine::setMorph, "Morph position 0..1 (clamped).")
        .def_property ("morph_y", &Engine::morphY, &Engine::setMorphY, "XY pad's y position 0..1 (clamped; ignored on a line grid).")
        .def_property ("aftertouch_morph_y", &Engine::aftertouchMorphY, &Engine::setAftertouchMorphY,
                       "Added to morph_y at channel pressure (0xDn) 127, in proportion below; -1..1.")
        .def_property ("root_note_c", &Engine::rootNoteC, &Engine::setRootNoteC, "MIDI note that plays corner C at its own pitch.")
        .def_property ("root_note_d", &Engine::rootNoteD, &Engine::setRootNoteD, "MIDI note that plays corner D at its own pitch.")
        .def_property ("fine_tune_c_cents", &latentmorph::fineTune<2>, &latentmorph::setFineTune<2>, "Cents added to root_note_c (slot C).")
        .def_property ("fine_tune_d_cents", &latentmorph::fineTune<3>, &latentmorph::setFineTune<3>, "Cents added to root_note_d (slot D).")
        .def_property ("gain_db", &Engine::gainDb, &Engine::setGainDb, "Output gain in dB.")
        .def_property ("attack_ms", &Engine::attackMs, &Engine::setAttackMs, "Linear attack time in ms (0 = instant).")
        .def_property ("decay_ms", &Engine::decayMs, &Engine::setDecayMs, "Linear decay time from 1 to sustain in ms.")
        .def_property ("sustain", &Engine::sustain, &Engine::setSustain, "Sustain level 0..1, linear amplitude (clamped).")
        .def_property ("release_ms", &Engine::releaseMs, &Engine::setReleaseMs, "Linear release time to silence in ms.")
        .def_property ("root_note", &Engine::rootNote, &Engine::setRootNote, "MIDI note that plays the grid at its own pitch.")
        .def_property ("polyphony", &Engine::polyphony, &Engine::setPolyphony,
                       "The most voices that play at once, 1..64 (clamped); lowering it steals the oldest voices.")
        .def_property ("bend_range_semitones", &Engine::bendRange, &Engine::setBendRange,
                       "Pitch bend at +8191 (and -8192), semitones; +8191 bends by exactly this much.")
        .def_property ("mod_wheel_morph", &Engine::modWheelMorph, &Engine::setModWheelMorph,
                       "Added to morph at mod wheel (CC 1) 127, in proportion below; -1..1.")
        .def_property ("velocity_curve", &Engine::velocityCurve, &Engine::setVelocityCurve,
                       "Level = (velocity / 127) ** velocity_curve (1: linear; 0: full level).")
        .def_property ("velocity_morph", &Engine::velocityMorph, &Engine::setVelocityMorph,
                       "Added to a note's morph at velocity 127, in proportion below; -1..1.")
        .def_property ("root_note_b", &Engine::rootNoteB, &Engine::setRootNoteB,
                       "MIDI note that plays slot B (the grid's last row) at its own pitch.")
        .def_property ("fine_tune_a_cents", &latentmorph::fineTune<0>, &latentmorph::setFineTune<0>, "Cents added to root_note (slot A).")
        .def_property ("fine_tune_b_cents", &latentmorph::fineTune<1>, &latentmorph::setFineTune<1>, "Cents added to root_note_b (slot B).")
        .def_property ("start_ms", &Engine::startMs, &Engine::setStartMs, "Where in the sample notes start, ms.")
        .def_property ("voice_mode", &Engine::voiceMode, &Engine::setVoiceMode,
                       "0 poly, 1 mono (each key a new voice), 2 legato (a key while one is held moves its pitch); "
                       "mono and legato: last-note priority.")
        .def_property ("loop_mode", &Engine::loopMode, &Engine::setLoopMode,
                       "0 one-shot (the sample plays to its end), 1 sustain loop (the grid's loop repeats until the release ends).")
        .def_property ("loop_crossfade_ms", &Engine::loopCrossfadeMs, &Engine::setLoopCrossfadeMs,
                       "Crossfade before the loop's end, ms (at most half the loop).")
        .def (
            "set_loop_points_ms", [] (Engine& e, float startMs, float endMs)
            { e.setLoopPointsMs (startMs, endMs); },
            py::arg ("start_ms"), py::arg ("end_ms"),
            "The user's sustain loop in ms of the sample (used when end_ms > start_ms; else the grid's own).")
        .def_property ("glide_ms", &Engine::glideMs, &Engine::setGlideMs,
                       "Mono and legato: time the pitch takes to move from the previous note, ms (linear in semitones).")
        .def_property_readonly ("pitch_bend_semitones", &Engine::pitchBendSemitones,
                                "The current pitch bend (from MIDI 0xEn), semitones.")
        .def_property_readonly ("sustain_pedal", &Engine::sustainPedal, "True while the sustain pedal (CC 64) is down.")
        .def_property_readonly ("active_voice_count", &Engine::activeVoiceCount, "Voices still sounding after the last render, stolen ones fading out included (up to 128).")
        .def_property_readonly ("has_grid", &Engine::hasGrid)
        .def_property_readonly ("loop", &Engine::gridLoop,
                                "(loop_start, loop_end) in grid samples of the sustain loop voices use: the user's or the grid's own; (0, 0) without one.");

    m.attr ("PARAMETERS") = latentmorph::parameterTable();
    m.def ("read_grid_file", &latentmorph::readGrid, py::arg ("path"),
           "Reads a .lmgrid file (docs/protocol.md) with the plugin's reader. Returns (renders float32 [K, N], "
           "sample_rate_hz). Raises ValueError naming the path and reason for a bad magic, size or content.");
    m.def ("morph_point", &latentmorph::morphPointOf, py::arg ("renders"), py::arg ("grid_sample_rate_hz"), py::arg ("pad_size") = 0,
           py::arg ("morph") = 0.0f, py::arg ("morph_y") = 0.0f,
           "The sound of the grid `renders` (as set_grid takes it) at (morph, morph_y), each clamped to 0..1: float32 "
           "[num_samples] at grid_sample_rate_hz, the engine's blend of the two nearest steps (a line) or the four nearest "
           "lattice points (a pad, bilinearly) sample by sample; what a voice plays at the root note without envelope, and "
           "what the editor's Export writes. Raises ValueError as set_grid.");
    m.def ("write_wav_file", &latentmorph::writeWav, py::arg ("path"), py::arg ("samples"), py::arg ("sample_rate_hz"),
           "Writes float32 [num_samples] mono as a 32-bit float WAV with the plugin's writer (Export, New, Variation). "
           "Raises ValueError for a sample rate outside 1000..768000 Hz, a non-1-D array or a path that cannot be written.");
}

// Python bindings of the voice engine (module `latentmorph_engine`): the exact DSP the plugin runs,
// driven offline from pytest and scripts. Built by the CMake target `latentmorph_engine_py` into build/python/.

#include "engine/Engine.h"

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <stdexcept>
#include <tuple>
#include <vector>

namespace py = pybind11;

namespace latentmorph {
namespace {

using NoteEvent = std::tuple<long, int, int, bool>;   // (sample_offset, note, velocity, is_note_on)

/** Publishes on the calling thread and takes the grid at once: in Python one thread plays both roles. */
void swapGridNow (Engine& engine, std::shared_ptr<const Grid> grid)
{
    engine.publishGrid (grid);   // cannot be full: every publish below is consumed immediately
    engine.beginBlock();
    engine.collectGarbage();
}

void setGrid (Engine& engine, const py::array_t<float, py::array::c_style | py::array::forcecast>& renders, double gridSampleRateHz)
{
    if (renders.ndim() != 2)
        throw py::value_error ("renders must be a 2-D array [steps, num_samples], got " + std::to_string (renders.ndim()) + " dimensions");

    const auto steps = static_cast<int> (renders.shape (0));
    const auto numSamples = static_cast<std::size_t> (renders.shape (1));
    std::vector<float> pcm (renders.data(), renders.data() + renders.size());
    swapGridNow (engine, std::make_shared<const Grid> (std::move (pcm), steps, numSamples, gridSampleRateHz));
}

py::array_t<float> render (Engine& engine, long numSamples, std::vector<NoteEvent> events, int blockSize, bool reset)
{
    if (numSamples < 0)
        throw py::value_error ("num_samples must be >= 0");

    if (blockSize < 1)
        throw py::value_error ("block_size must be >= 1");

    for (const auto& [offset, note, velocity, isNoteOn] : events)
    {
        if (offset < 0 || offset >= numSamples)
            throw py::value_error ("event sample_offset " + std::to_string (offset) + " is outside [0, num_samples)");
        if (note < 0 || note > 127 || velocity < 0 || velocity > 127)
            throw py::value_error ("event note and velocity must be in 0..127");
    }

    // Stable: events at the same offset keep their order (e.g. note-off then note-on).
    std::stable_sort (events.begin(), events.end(), [] (const NoteEvent& a, const NoteEvent& b) { return std::get<0> (a) < std::get<0> (b); });

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

        for (; event != events.cend() && std::get<0> (*event) < blockEnd; ++event)
        {
            const auto& [offset, note, velocity, isNoteOn] = *event;
            engine.render (out + position, static_cast<int> (offset - position));
            position = offset;

            if (isNoteOn)
                engine.noteOn (note, velocity);
            else
                engine.noteOff (note);
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

} // namespace
} // namespace latentmorph

PYBIND11_MODULE (latentmorph_engine, m)
{
    using latentmorph::Engine;

    m.doc() = "LatentMorph voice engine (the plugin's C++ DSP) for offline rendering and tests.";

    py::class_<Engine> (m, "Engine", R"doc(
Polyphonic sampler voice engine playing a morph grid.

A voice plays the grid at pitch ratio 2**((note - root_note) / 12) * grid_sample_rate_hz / host_sample_rate_hz
with cubic Hermite interpolation, crossfading the two renders nearest the morph position
(pos = morph * (K - 1)). Level = velocity / 127 (linear amplitude) * linear ADSR * 10**(gain_db / 20).
Morph and gain are smoothed per sample (one-pole, 20 ms) except at the start of a render.
)doc")
        .def (py::init<int>(), py::arg ("max_voices") = Engine::kDefaultMaxVoices)
        .def ("prepare", &Engine::prepare, py::arg ("host_sample_rate_hz"), py::arg ("max_block_size") = 512,
              "Sets the host (output) sample rate in Hz and the usual block size; silences all voices.")
        .def ("set_grid", &latentmorph::setGrid, py::arg ("renders"), py::arg ("grid_sample_rate_hz"),
              "Plays `renders`, float32 [K, N] (K >= 2 morph steps at t = i / (K - 1), N samples each, mono), "
              "sampled at grid_sample_rate_hz. Raises ValueError on a bad shape, rate or non-finite sample.")
        .def ("clear_grid", [] (Engine& engine) { latentmorph::swapGridNow (engine, nullptr); },
              "Removes the grid: the engine renders exact zeros.")
        .def ("render", &latentmorph::render, py::arg ("num_samples"), py::arg ("events") = std::vector<latentmorph::NoteEvent> {},
              py::arg ("block_size") = 512, py::arg ("reset") = true, R"doc(
Renders num_samples mono samples at the host sample rate and returns them as float32 [num_samples].

events: iterable of (sample_offset, note, velocity, is_note_on); sample_offset in [0, num_samples),
note and velocity in 0..127 (a note-on with velocity 0 is a note-off). Events apply sample-accurately,
in order of offset (stable). With reset=True the engine is reset first (voices silenced, smoothers
jump to their targets); reset=False continues from the previous render (held voices, smoothers
gliding to changed parameters). Rendered in blocks of block_size samples, as a host would call it.
)doc")
        .def_property ("morph", &Engine::morph, &Engine::setMorph, "Morph position 0..1 (clamped).")
        .def_property ("gain_db", &Engine::gainDb, &Engine::setGainDb, "Output gain in dB.")
        .def_property ("attack_ms", &Engine::attackMs, &Engine::setAttackMs, "Linear attack time in ms (0 = instant).")
        .def_property ("decay_ms", &Engine::decayMs, &Engine::setDecayMs, "Linear decay time from 1 to sustain in ms.")
        .def_property ("sustain", &Engine::sustain, &Engine::setSustain, "Sustain level 0..1, linear amplitude (clamped).")
        .def_property ("release_ms", &Engine::releaseMs, &Engine::setReleaseMs, "Linear release time to silence in ms.")
        .def_property ("root_note", &Engine::rootNote, &Engine::setRootNote, "MIDI note that plays the grid at its own pitch.")
        .def_property_readonly ("max_voices", &Engine::maxVoices)
        .def_property_readonly ("active_voice_count", &Engine::activeVoiceCount, "Voices still sounding after the last render.")
        .def_property_readonly ("has_grid", &Engine::hasGrid);

    m.def ("read_grid_file", &latentmorph::readGrid, py::arg ("path"),
           "Reads a .lmgrid file (docs/protocol.md) with the plugin's reader. Returns (renders float32 [K, N], "
           "sample_rate_hz). Raises ValueError naming the path and reason for a bad magic, size or content.");
}

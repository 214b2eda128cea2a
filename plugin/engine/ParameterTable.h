#pragma once

#include <array>
#include <cstddef>

namespace latentmorph {

/** One row of the parameter table. Values are real (denormalised) values in `unit`. */
struct ParameterSpec
{
    const char* id;
    const char* name;
    float minValue;
    float maxValue;
    float defaultValue;
    float interval;    ///< resolution of the value (also the step count hosts see)
    float centreValue; ///< value at the knob's mid-point (skews long time ranges towards short times)
    const char* unit;
    bool isInteger;
};

/** The plugin's parameters: the only place they are defined. The plugin's state, editor, host
    parameters and engine read it, and so do the tests and the preset builder (through the Python
    module latentmorph_engine, `PARAMETERS`). Free of JUCE. */
// clang-format off
inline constexpr std::array<ParameterSpec, 9> kParameterTable { {
    // id            name         min      max       default  interval centre   unit  integer
    { "morph",      "Morph",      0.0f,    1.0f,     0.0f,    0.001f,  0.5f,    "",   false },
    { "gain_db",    "Gain",       -48.0f,  12.0f,    0.0f,    0.1f,    -18.0f,  "dB", false },
    { "attack_ms",  "Attack",     0.0f,    5000.0f,  2.0f,    1.0f,    200.0f,  "ms", false },
    { "decay_ms",   "Decay",      1.0f,    5000.0f,  200.0f,  1.0f,    300.0f,  "ms", false },
    { "sustain",    "Sustain",    0.0f,    1.0f,     1.0f,    0.001f,  0.5f,    "",   false },
    { "release_ms", "Release",    1.0f,    10000.0f, 200.0f,  1.0f,    500.0f,  "ms", false },
    { "root_note",  "Root note",  0.0f,    127.0f,   60.0f,   1.0f,    63.5f,   "",   true },
    // how far each sample's own detail (its residual against the model) reaches into the morph;
    // a change re-renders the grid, so it moves in steps of 0.05 (default: latentmorph.morph.DEFAULT_DETAIL)
    { "detail",     "Detail",     0.0f,    1.0f,     0.5f,    0.05f,   0.5f,    "",   false },
    // the most voices that sound at once; a note beyond that steals the oldest (3 ms fade). Appended
    // last, so older states keep their indices and load without it at the default
    { "polyphony",  "Polyphony",  1.0f,    64.0f,    16.0f,   1.0f,    32.5f,   "",   true },
} };
// clang-format on

/** Index of each parameter in kParameterTable. */
enum class ParameterIndex
{
    morph,
    gainDb,
    attackMs,
    decayMs,
    sustain,
    releaseMs,
    rootNote,
    detail,
    polyphony
};

/** The row of `index`. */
constexpr const ParameterSpec& parameterSpec (ParameterIndex index) noexcept
{
    return kParameterTable[static_cast<std::size_t> (index)];
}

} // namespace latentmorph

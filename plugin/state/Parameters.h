#pragma once

#include <juce_audio_processors/juce_audio_processors.h>

#include <array>
#include <atomic>

namespace latentmorph {

/** One row of the parameter table. Values are real (denormalised) values in `unit`. */
struct ParameterSpec
{
    const char* id;
    const char* name;
    float minValue;
    float maxValue;
    float defaultValue;
    float interval;      ///< resolution of the value (also the step count hosts see)
    float centreValue;   ///< value at the knob's mid-point (skews long time ranges towards short times)
    const char* unit;
    bool isInteger;
};

/** The plugin's parameters: the only place they are defined. State, editor, host and engine all read this. */
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

/** Index of each parameter in kParameterTable. */
enum class ParameterIndex { morph, gainDb, attackMs, decayMs, sustain, releaseMs, rootNote, detail, polyphony };

/** Looks a spec up by id; nullptr when unknown. Message thread only (string comparison). */
const ParameterSpec* findParameterSpec (const juce::String& id) noexcept;

/** Builds the APVTS layout from kParameterTable. */
juce::AudioProcessorValueTreeState::ParameterLayout createParameterLayout();

/** The raw values of all parameters, cached once so the audio thread never looks a parameter up by string. */
class ParameterValues
{
public:
    explicit ParameterValues (juce::AudioProcessorValueTreeState& state);

    /** Current real value. Real-time safe (one atomic load). */
    float get (ParameterIndex index) const noexcept { return values_[static_cast<std::size_t> (index)]->load (std::memory_order_relaxed); }

private:
    std::array<std::atomic<float>*, kParameterTable.size()> values_ {};
};

} // namespace latentmorph

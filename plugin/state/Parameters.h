#pragma once

#include "engine/ParameterTable.h"

#include <juce_audio_processors/juce_audio_processors.h>

#include <array>
#include <atomic>

namespace latentmorph {

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

#pragma once

#include "engine/ParameterTable.h"

#include <juce_audio_processors/juce_audio_processors.h>

#include <array>
#include <atomic>

namespace latentmorph {

/** Looks a spec up by id; nullptr when unknown. Message thread only (string comparison). */
const ParameterSpec* findParameterSpec (const juce::String& id) noexcept;

/** The scientific pitch name of a MIDI note, middle C (60) = "C4": 61 = "C#4", 0 = "C-1". */
juce::String noteName (int midiNote);

/** A MIDI note from text a host or user types: a number ("62", "62.4" rounds) or a note name ("D4",
    "d#4", "Eb4", "C-1"); -1 when it is neither. */
int parseNote (const juce::String& text);

/** Builds the APVTS layout from kParameterTable. The root-note parameters' value text is the note name
    ("C4"); text is parsed by parseNote, so hosts set them by number or by name. */
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

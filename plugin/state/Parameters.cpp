#include "state/Parameters.h"

namespace latentmorph {

const ParameterSpec* findParameterSpec (const juce::String& id) noexcept
{
    for (const auto& spec : kParameterTable)
        if (id == spec.id)
            return &spec;

    return nullptr;
}

juce::String noteName (int midiNote)
{
    static const char* const names[] = { "C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B" };
    const auto octave = (midiNote >= 0 ? midiNote / 12 : (midiNote - 11) / 12) - 1;
    return juce::String (names[((midiNote % 12) + 12) % 12]) + juce::String (octave);
}

int parseNote (const juce::String& text)
{
    const auto trimmed = text.trim();

    if (trimmed.isEmpty())
        return -1;

    if (trimmed.containsOnly ("0123456789.+-"))
        return juce::jmax (0, juce::roundToInt (trimmed.getDoubleValue()));

    static const int semitones[] = { 9, 11, 0, 2, 4, 5, 7 }; // A B C D E F G
    const auto letter = juce::CharacterFunctions::toUpperCase (trimmed[0]);

    if (letter < 'A' || letter > 'G')
        return -1;

    auto note = semitones[letter - 'A'];
    auto rest = trimmed.substring (1);

    if (rest.startsWithChar ('#'))
        ++note;
    else if (rest.startsWithChar ('b'))
        --note;

    if (rest.startsWithChar ('#') || rest.startsWithChar ('b'))
        rest = rest.substring (1);

    if (rest.isEmpty() || ! rest.containsOnly ("0123456789-") || rest.lastIndexOfChar ('-') > 0)
        return -1;

    return note + 12 * (rest.getIntValue() + 1);
}

juce::AudioProcessorValueTreeState::ParameterLayout createParameterLayout()
{
    juce::AudioProcessorValueTreeState::ParameterLayout layout;

    for (std::size_t i = 0; i < kParameterTable.size(); ++i)
    {
        const auto& spec = kParameterTable[i];
        const juce::ParameterID id { spec.id, 1 };

        if (spec.isInteger)
        {
            auto attributes = juce::AudioParameterIntAttributes().withLabel (spec.unit);

            if (static_cast<ParameterIndex> (i) == ParameterIndex::voiceMode || static_cast<ParameterIndex> (i) == ParameterIndex::loopMode)
            {
                const auto modes = static_cast<ParameterIndex> (i) == ParameterIndex::voiceMode ? juce::StringArray { "Poly", "Mono", "Legato" }
                                                                                                : juce::StringArray { "One-shot", "Sustain loop" };
                attributes = attributes.withStringFromValueFunction ([modes] (int value, int)
                                                                     { return modes[value]; })
                                 .withValueFromStringFunction ([modes] (const juce::String& text)
                                                               {
                                                                   const auto index = modes.indexOf (text.trim(), true);
                                                                   return index >= 0 ? index : juce::jlimit (0, modes.size() - 1, text.getIntValue()); });
            }
            else if (isNoteParameter (static_cast<ParameterIndex> (i)))
            {
                const auto low = static_cast<int> (spec.minValue), high = static_cast<int> (spec.maxValue);
                const auto fallback = static_cast<int> (spec.defaultValue);
                attributes = attributes.withStringFromValueFunction ([] (int value, int)
                                                                     { return noteName (value); })
                                 .withValueFromStringFunction ([low, high, fallback] (const juce::String& text)
                                                               {
                                                                   const auto note = parseNote (text);
                                                                   return note < 0 ? fallback : juce::jlimit (low, high, note); });
            }

            layout.add (std::make_unique<juce::AudioParameterInt> (id, spec.name, static_cast<int> (spec.minValue),
                                                                   static_cast<int> (spec.maxValue), static_cast<int> (spec.defaultValue),
                                                                   attributes));
            continue;
        }

        juce::NormalisableRange<float> range { spec.minValue, spec.maxValue, spec.interval };
        range.setSkewForCentre (spec.centreValue);
        layout.add (std::make_unique<juce::AudioParameterFloat> (id, spec.name, range, spec.defaultValue,
                                                                 juce::AudioParameterFloatAttributes().withLabel (spec.unit)));
    }

    return layout;
}

ParameterValues::ParameterValues (juce::AudioProcessorValueTreeState& state)
{
    for (std::size_t i = 0; i < kParameterTable.size(); ++i)
    {
        values_[i] = state.getRawParameterValue (kParameterTable[i].id);
        jassert (values_[i] != nullptr);
    }
}

} // namespace latentmorph

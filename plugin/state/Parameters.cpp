#include "state/Parameters.h"

namespace latentmorph {

const ParameterSpec* findParameterSpec (const juce::String& id) noexcept
{
    for (const auto& spec : kParameterTable)
        if (id == spec.id)
            return &spec;

    return nullptr;
}

juce::AudioProcessorValueTreeState::ParameterLayout createParameterLayout()
{
    juce::AudioProcessorValueTreeState::ParameterLayout layout;

    for (const auto& spec : kParameterTable)
    {
        const juce::ParameterID id { spec.id, 1 };

        if (spec.isInteger)
        {
            layout.add (std::make_unique<juce::AudioParameterInt> (id, spec.name, static_cast<int> (spec.minValue),
                                                                   static_cast<int> (spec.maxValue), static_cast<int> (spec.defaultValue),
                                                                   juce::AudioParameterIntAttributes().withLabel (spec.unit)));
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

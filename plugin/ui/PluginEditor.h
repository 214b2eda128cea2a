#pragma once

#include "PluginProcessor.h"
#include "ui/SlotPanel.h"
#include "ui/XYPad.h"

#include <juce_gui_basics/juce_gui_basics.h>

#include <array>
#include <memory>
#include <vector>

namespace latentmorph {

/** Four slot panels (A and B morph; C and D make the XY pad), the XY pad (its dot at morph, morph_y), a status line and a rotary knob for every parameter of kParameterTable.
    Refreshed from a Timer on the message thread. */
class LatentMorphEditor final : public juce::AudioProcessorEditor, private juce::Timer
{
public:
    explicit LatentMorphEditor (LatentMorphProcessor& owner);
    ~LatentMorphEditor() override;

    void paint (juce::Graphics& g) override;
    void resized() override;

private:
    void timerCallback() override;

    struct Knob
    {
        juce::Slider slider { juce::Slider::RotaryHorizontalVerticalDrag, juce::Slider::TextBoxBelow };
        juce::Label label;
        std::unique_ptr<juce::AudioProcessorValueTreeState::SliderAttachment> attachment;
    };

    LatentMorphProcessor& processor_;
    std::array<std::unique_ptr<SlotPanel>, SlotLoader::kNumSlots> slots_;
    XYPad pad_;
    juce::Label status_;
    std::vector<std::unique_ptr<Knob>> knobs_;
};

} // namespace latentmorph

#pragma once

#include <juce_audio_processors/juce_audio_processors.h>

#include <array>

namespace latentmorph {

/** The XY pad of the four slots: corners A (top left), B (top right), C (bottom left) and D (bottom
    right) labelled with their letters and file names, and a dot at
    (morph, morph_y) that follows the parameters, automation included (refresh() from the editor's
    timer). Dragging moves the dot and sets both parameters, one gesture per drag. */
class XYPad final : public juce::Component
{
public:
    explicit XYPad (juce::AudioProcessorValueTreeState& parameters);

    /** Message thread: reads morph and morph_y, repaints when the dot moved. */
    void refresh();

    /** Message thread: the file names shown at the corners A, B, C, D (empty: the letter only). */
    void setCornerNames (const std::array<juce::String, 4>& names);

    void paint (juce::Graphics& g) override;
    void mouseDown (const juce::MouseEvent& event) override;
    void mouseDrag (const juce::MouseEvent& event) override;
    void mouseUp (const juce::MouseEvent& event) override;

private:
    juce::Rectangle<float> field() const;
    void setFrom (juce::Point<float> position);

    juce::RangedAudioParameter *morph_, *morphY_;
    juce::Point<float> dot_; ///< (morph, morph_y), 0..1 each
    std::array<juce::String, 4> names_;
};

} // namespace latentmorph

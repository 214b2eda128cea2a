#pragma once

#include "PluginProcessor.h"
#include "ui/MorphView.h"
#include "ui/SlotPanel.h"
#include "ui/XYPad.h"

#include <juce_gui_basics/juce_gui_basics.h>

#include <array>
#include <memory>
#include <vector>

namespace latentmorph {

/** The editor: slots A and C left of the XY pad, B and D right of it (the pad's corners), each with
    its waveform, root note and tuning; below them the morph view (the sound at morph, morph_y, and
    Export); then the other parameters as knobs in labelled sections (Morph, Amp envelope,
    Pitch & MIDI, Playback) and a status line. Resizable within kMinSize .. kMaxSize; the size
    survives closing and reopening (the processor keeps it). Refreshed from a Timer (10 Hz) on the
    message thread, so the pad dot and morph view follow automation. */
class LatentMorphEditor final : public juce::AudioProcessorEditor, private juce::Timer
{
public:
    static constexpr juce::Point<int> kDefaultSize { 1000, 800 }, kMinSize { 760, 540 }, kMaxSize { 1600, 1100 };

    explicit LatentMorphEditor (LatentMorphProcessor& owner);
    ~LatentMorphEditor() override;

    void paint (juce::Graphics& g) override;
    void resized() override;

    /** Where things are, for tests and the snapshot tool: {"size": [w, h], "knobs": [{"id", "label",
        "slider": [x, y, w, h], "label_bounds": [...], "label_fits": bool}], "slot_waveforms": [[x, y, w, h] x 4],
        "pad": [...], "morph_view": [...]} in editor pixels. label_fits: the name, wrapped at spaces,
        fits the label's lines without squeezing (so it is never cut to "..."). */
    juce::var describeLayout() const;

private:
    void timerCallback() override;

    struct Knob
    {
        const ParameterSpec* spec = nullptr;
        juce::Slider slider { juce::Slider::RotaryHorizontalVerticalDrag, juce::Slider::TextBoxBelow };
        juce::Label label;
        std::unique_ptr<juce::AudioProcessorValueTreeState::SliderAttachment> attachment;
    };

    struct Section
    {
        juce::String title;
        std::vector<Knob*> knobs;
        juce::Rectangle<int> bounds;
    };

    LatentMorphProcessor& processor_;
    std::array<std::unique_ptr<SlotPanel>, SlotLoader::kNumSlots> slots_;
    XYPad pad_;
    MorphView morphView_;
    juce::Label status_; ///< one line; its tooltip holds the whole message when the line cuts it
    std::vector<std::unique_ptr<Knob>> knobs_;
    std::vector<Section> sections_;
    std::shared_ptr<const Grid> shownGrid_;                     ///< the grid the slots' waveforms come from
    juce::SharedResourcePointer<juce::TooltipWindow> tooltips_; ///< without one JUCE shows no component's tooltip
};

} // namespace latentmorph

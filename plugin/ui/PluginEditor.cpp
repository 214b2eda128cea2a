#include "ui/PluginEditor.h"

#include "ui/Colours.h"

namespace latentmorph {

using namespace colours;

LatentMorphEditor::LatentMorphEditor (LatentMorphProcessor& owner)
    : AudioProcessorEditor (owner),
      processor_ (owner),
      pad_ (owner.getParameterState())
{
    addAndMakeVisible (pad_);

    for (std::size_t i = 0; i < slots_.size(); ++i)
    {
        slots_[i] = std::make_unique<SlotPanel> (owner.getSlotLoader(), static_cast<int> (i));
        addAndMakeVisible (*slots_[i]);
    }

    addAndMakeVisible (status_);

    for (const auto& spec : kParameterTable)
    {
        auto knob = std::make_unique<Knob>();
        knob->slider.setTextBoxStyle (juce::Slider::TextBoxBelow, false, 80, 20);
        knob->slider.setColour (juce::Slider::rotarySliderFillColourId, kAccent);
        knob->label.setText (spec.name, juce::dontSendNotification);
        knob->label.setJustificationType (juce::Justification::centred);

        if (*spec.unit != '\0') // before the attachment, which sets the text from the parameter
            knob->slider.setTextValueSuffix (juce::String (" ") + spec.unit);

        knob->attachment = std::make_unique<juce::AudioProcessorValueTreeState::SliderAttachment> (owner.getParameterState(), spec.id, knob->slider);
        addAndMakeVisible (knob->slider);
        addAndMakeVisible (knob->label);
        knobs_.push_back (std::move (knob));
    }

    setSize (720, 500);
    timerCallback();
    startTimerHz (10);
}

LatentMorphEditor::~LatentMorphEditor()
{
    stopTimer();
}

void LatentMorphEditor::timerCallback()
{
    auto& slots = processor_.getSlotLoader();
    const auto paths = slots.getSlots();
    for (std::size_t i = 0; i < slots_.size(); ++i)
        slots_[i]->showPath (paths[i].path);

    pad_.refresh();

    const auto status = slots.getStatus();
    const auto text = juce::String (SlotLoader::toString (status.state)) + ": " + status.message;

    if (status_.getText() != text)
    {
        status_.setText (text, juce::dontSendNotification);
        status_.setColour (juce::Label::textColourId, status.state == SlotLoader::State::error ? kError : juce::Colours::white);
    }
}

void LatentMorphEditor::paint (juce::Graphics& g)
{
    g.fillAll (kBackground);
    g.setColour (juce::Colours::white);
    g.setFont (juce::Font (20.0f, juce::Font::bold));
    g.drawText ("LatentMorph", getLocalBounds().removeFromTop (40).reduced (12, 0), juce::Justification::centredLeft);
}

void LatentMorphEditor::resized()
{
    auto area = getLocalBounds().reduced (12);
    area.removeFromTop (32);

    auto slotRow = area.removeFromTop (140);
    pad_.setBounds (slotRow.removeFromRight (140).reduced (4));
    const auto slotWidth = slotRow.getWidth() / static_cast<int> (slots_.size());

    for (auto& slot : slots_)
        slot->setBounds (slotRow.removeFromLeft (slotWidth).reduced (4));

    status_.setBounds (area.removeFromBottom (28));

    // Rows of at most kKnobsPerRow knobs, so that each keeps a readable width.
    constexpr int kKnobsPerRow = 12;
    const auto count = static_cast<int> (knobs_.size());
    const auto rows = (count + kKnobsPerRow - 1) / kKnobsPerRow;
    const auto knobWidth = area.getWidth() / kKnobsPerRow;
    const auto rowHeight = area.getHeight() / juce::jmax (1, rows);

    for (int i = 0; i < count; ++i)
    {
        const auto row = i / kKnobsPerRow, column = i % kKnobsPerRow;
        auto cell = juce::Rectangle<int> (area.getX() + column * knobWidth, area.getY() + row * rowHeight, knobWidth, rowHeight).reduced (2);
        knobs_[static_cast<std::size_t> (i)]->label.setBounds (cell.removeFromTop (16));
        knobs_[static_cast<std::size_t> (i)]->slider.setBounds (cell);
    }
}

} // namespace latentmorph

#include "ui/XYPad.h"

#include "engine/ParameterTable.h"
#include "ui/Colours.h"

namespace latentmorph {

using namespace colours;

XYPad::XYPad (juce::AudioProcessorValueTreeState& parameters)
    : morph_ (parameters.getParameter (parameterSpec (ParameterIndex::morph).id)),
      morphY_ (parameters.getParameter (parameterSpec (ParameterIndex::morphY).id))
{
    refresh();
}

void XYPad::refresh()
{
    const juce::Point<float> dot { morph_->getValue(), morphY_->getValue() }; // both 0..1, linear

    if (dot != dot_)
    {
        dot_ = dot;
        repaint();
    }
}

void XYPad::setCornerNames (const std::array<juce::String, 4>& names)
{
    if (names != names_)
    {
        names_ = names;
        repaint();
    }
}

// a row of corner labels above and below the field
juce::Rectangle<float> XYPad::field() const { return getLocalBounds().toFloat().reduced (12.0f, 30.0f); }

void XYPad::paint (juce::Graphics& g)
{
    drawPanel (g, getLocalBounds());

    // A at the top left, B top right, C bottom left, D bottom right: morph is x, morph_y grows downwards
    const auto area = field();
    g.setColour (kAccent.withAlpha (0.35f));
    g.drawRect (area, 1.0f);
    const auto labels = getLocalBounds().toFloat().reduced (10.0f, 6.0f);
    const auto halfWidth = 0.5f * labels.getWidth();

    for (int corner = 0; corner < 4; ++corner)
    {
        const auto right = corner % 2 == 1, bottom = corner >= 2;
        const auto row = bottom ? labels.withTop (labels.getBottom() - 18.0f) : labels.withHeight (18.0f);
        const auto box = right ? row.withLeft (row.getX() + halfWidth) : row.withWidth (halfWidth);
        juce::AttributedString text;
        text.setJustification (right ? juce::Justification::centredRight : juce::Justification::centredLeft);
        text.setWordWrap (juce::AttributedString::none);
        text.append (juce::String::charToString (static_cast<juce::juce_wchar> ('A' + corner)), juce::Font (14.0f, juce::Font::bold), juce::Colours::white);

        if (names_[static_cast<std::size_t> (corner)].isNotEmpty())
            text.append ("  " + names_[static_cast<std::size_t> (corner)], juce::Font (12.0f), juce::Colours::lightgrey);

        const juce::Graphics::ScopedSaveState clip (g); // a long name stops at the middle
        g.reduceClipRegion (box.toNearestInt());
        text.draw (g, box);
    }

    const juce::Point<float> at { area.getX() + dot_.x * area.getWidth(), area.getY() + dot_.y * area.getHeight() };
    g.setColour (kAccent);
    g.fillEllipse (juce::Rectangle<float> (12.0f, 12.0f).withCentre (at));
}

void XYPad::setFrom (juce::Point<float> position)
{
    const auto area = field();
    morph_->setValueNotifyingHost (juce::jlimit (0.0f, 1.0f, (position.x - area.getX()) / area.getWidth()));
    morphY_->setValueNotifyingHost (juce::jlimit (0.0f, 1.0f, (position.y - area.getY()) / area.getHeight()));
    refresh();
}

void XYPad::mouseDown (const juce::MouseEvent& event)
{
    morph_->beginChangeGesture();
    morphY_->beginChangeGesture();
    setFrom (event.position);
}

void XYPad::mouseDrag (const juce::MouseEvent& event) { setFrom (event.position); }

void XYPad::mouseUp (const juce::MouseEvent&)
{
    morph_->endChangeGesture();
    morphY_->endChangeGesture();
}

} // namespace latentmorph

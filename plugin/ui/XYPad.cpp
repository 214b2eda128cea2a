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

juce::Rectangle<float> XYPad::field() const { return getLocalBounds().toFloat().reduced (16.0f); }

void XYPad::paint (juce::Graphics& g)
{
    const auto bounds = getLocalBounds().toFloat().reduced (1.0f);
    g.setColour (kPanel);
    g.fillRoundedRectangle (bounds, 8.0f);

    // A at the top left, B top right, C bottom left, D bottom right: morph is x, morph_y grows downwards
    const auto area = field();
    g.setColour (kAccent.withAlpha (0.35f));
    g.drawRect (area, 1.0f);
    g.setColour (juce::Colours::white);
    g.setFont (juce::Font (12.0f, juce::Font::bold));
    const auto corner = [&g] (const char* name, juce::Point<float> at)
    { g.drawText (name, juce::Rectangle<float> (14.0f, 14.0f).withCentre (at), juce::Justification::centred); };
    const auto inset = getLocalBounds().toFloat().reduced (7.0f);
    corner ("A", inset.getTopLeft());
    corner ("B", inset.getTopRight());
    corner ("C", inset.getBottomLeft());
    corner ("D", inset.getBottomRight());

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

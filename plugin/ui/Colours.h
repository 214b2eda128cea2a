#pragma once

#include <juce_graphics/juce_graphics.h>

namespace latentmorph::colours {

inline const juce::Colour kBackground { 0xff1d2126 };
inline const juce::Colour kPanel { 0xff2a3038 };
inline const juce::Colour kAccent { 0xff5fb3b3 };
inline const juce::Colour kTrack { 0xff3c4550 }; ///< the unfilled part of a knob's arc
inline const juce::Colour kError { 0xffe06c75 };

/** The rounded panel behind a slot, the pad and the morph view; `highlighted` (a file dragged over a
    slot) draws a thicker, brighter edge. */
inline void drawPanel (juce::Graphics& g, juce::Rectangle<int> area, bool highlighted = false)
{
    const auto bounds = area.toFloat().reduced (1.0f);
    g.setColour (kPanel);
    g.fillRoundedRectangle (bounds, 8.0f);
    g.setColour (highlighted ? kAccent : kAccent.withAlpha (0.35f));
    g.drawRoundedRectangle (bounds, 8.0f, highlighted ? 3.0f : 1.5f);
}

} // namespace latentmorph::colours

#pragma once

#include <juce_graphics/juce_graphics.h>

namespace latentmorph::colours {

inline const juce::Colour kBackground { 0xff1d2126 };
inline const juce::Colour kPanel { 0xff2a3038 };
inline const juce::Colour kAccent { 0xff5fb3b3 };
inline const juce::Colour kError { 0xffe06c75 };

} // namespace latentmorph::colours

#pragma once

#include <juce_core/juce_core.h>

namespace latentmorph {

/** Slot paths as saved in the state: an absolute path, or `factory:relative/path` inside the factory
    directory, so projects using factory samples survive a move to another machine. */
namespace slot_paths {

inline constexpr const char* kFactoryPrefix = "factory:";

/** The factory directory: env LATENTMORPH_FACTORY_DIR, else the build-time LATENTMORPH_FACTORY_DIR. */
juce::File factoryDirectory();

/** True for a character an XML 1.0 document can hold: tab, newline, carriage return and U+0020 to
    U+10FFFF less the UTF-16 surrogates and U+FFFE/U+FFFF. The state is XML, so a slot path or status
    text with any other character could be written (as `&#55296;`) but not read back. */
bool isXmlChar (juce::juce_wchar character) noexcept;

/** True when every character of `text` passes isXmlChar. */
bool isXmlText (const juce::String& text);

/** Resolves a saved slot path to a file. Fails (with a reason) for an empty, relative or
    escaping (`factory:../x`) path, or one with a character the state cannot hold (isXmlText);
    does not check that the file exists. */
juce::Result resolve (const juce::String& slotPath, juce::File& resolved);

/** The slot path to save for a dropped file: `factory:…` inside the factory directory, else absolute. */
juce::String fromFile (const juce::File& file);

} // namespace slot_paths
} // namespace latentmorph

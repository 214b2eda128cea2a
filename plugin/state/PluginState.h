#pragma once

#include "Parameters.h"
#include "SlotLoader.h"

#include <juce_data_structures/juce_data_structures.h>

namespace latentmorph {

/** The plugin state: UTF-8 XML, written as the raw state bytes with no binary header so that tools can
    read and write it:

        <LatentMorphState format_version="1" model_id="lm-…">
          <Parameters> <PARAM id="morph" value="0.5"/> … </Parameters>   (real, denormalised values)
          <Slot index="0" path="factory:samples/kick.wav" sha256="…"/>
          <Slot index="1" path="/abs/b.wav" sha256="…"/>
          <Status state="empty|rendering|ready|error" message="…"/>      (for hosts and tests; ignored on load)
        </LatentMorphState>

    Format revisions (bump kFormatVersion and add a migration note here):
      1 — first version.
*/
struct PluginState
{
    static constexpr int kFormatVersion = 1;

    std::array<float, kParameterTable.size()> parameters {};   ///< real values in kParameterTable order
    SlotLoader::Slots slots;
    juce::String modelId;

    /** Parses and validates state bytes. Reading stops at the first NUL byte (JUCE's VST3 wrapper
        appends its own NUL-led trailer to the state). Missing <Parameters> or PARAMs take their
        defaults, out-of-range values are clamped. Fails, with a reason and `out` untouched, on: over
        1 MiB of text, elements nested deeper than 8 levels or a <!DOCTYPE> (both checked before the
        XML parser, which recurses, sees the text), invalid UTF-8 or XML, another root tag, an element,
        attribute or text the format does not have, a character XML cannot hold, a missing or
        non-integer format_version or one newer than kFormatVersion, an unknown or repeated parameter
        id, a non-numeric parameter value, a bad slot index, path or sha256. A state is loaded whole
        or not at all. */
    static juce::Result parse (const void* data, std::size_t sizeInBytes, PluginState& out);

    /** The XML text. `parameters` is the APVTS tree (tag "Parameters", PARAM children). Characters XML
        cannot hold (see slot_paths::isXmlChar) in the model id or status message are written as U+FFFD,
        so parse() and other XML readers can always read the result. */
    static juce::String write (const juce::ValueTree& parameters, const SlotLoader::Slots& slots, const juce::String& modelId,
                               const SlotLoader::Status& status);
};

} // namespace latentmorph

#pragma once

#include "engine/ParameterTable.h"
#include "state/SlotLoader.h"

#include <juce_data_structures/juce_data_structures.h>

namespace latentmorph {

/** The plugin state: one UTF-8 XML document, <LatentMorphState format_version="1">, written as the
    raw state bytes with no binary header. Its elements, the rules for loading it and its revisions
    are documented once, in docs/state.md.
*/
struct PluginState
{
    static constexpr int kFormatVersion = 1;

    std::array<float, kParameterTable.size()> parameters {}; ///< real values in kParameterTable order
    SlotLoader::Slots slots;
    juce::String modelId;
    std::optional<GridFiles> grid; ///< <Grid>: the files of the grid last played for these slots, if the state names them

    /** Parses and validates state bytes as docs/state.md says: a state is loaded whole or not at
        all. Fails with a reason, `out` untouched. Missing <Parameters> or PARAMs take their defaults,
        out-of-range values are clamped. */
    static juce::Result parse (const void* data, std::size_t sizeInBytes, PluginState& out);

    /** The XML text. `parameters` is the APVTS tree (tag "Parameters", PARAM children); `grid` is written
        as <Grid> when given and its paths can be held (slot_paths::isXmlText). Characters XML cannot hold
        (see slot_paths::isXmlChar) in the model id or status message are written as U+FFFD, so parse()
        and other XML readers can always read the result. */
    static juce::String write (const juce::ValueTree& parameters, const SlotLoader::Slots& slots, const juce::String& modelId,
                               const SlotLoader::Status& status, const std::optional<GridFiles>& grid);
};

} // namespace latentmorph

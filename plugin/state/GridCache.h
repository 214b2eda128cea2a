#pragma once

#include "engine/Grid.h"

#include <juce_core/juce_core.h>

#include <array>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

namespace latentmorph {

/** Process-wide in-memory cache of loaded grids, shared by all plugin instances.

    pedalboard destroys and re-creates an instrument on every render; with this cache the new instance
    gets its grid back without a backend round trip or a file read. Keyed by the resolved source paths
    plus each file's size and modification time (so an edited file misses), and the step count.
    Holds the most recently used kMaxEntries grids; engines keep their own references, so evicting a
    grid that is playing frees nothing. Thread-safe; never call it on the audio thread (it locks).
*/
class GridCache
{
public:
    struct Entry
    {
        std::shared_ptr<const Grid> grid;
        std::vector<juce::String> sourceSha256; ///< one per source, from the backend's answer
        juce::String modelId;
        juce::String warning; ///< the answer's `warning` (e.g. a source cut at the length limit), or empty
    };

    static constexpr std::size_t kMaxEntries = 16;

    static GridCache& instance();

    /** The key of a grid of `steps` rows between `sources` as they are on disk now (stats the files). */
    static juce::String keyFor (const std::vector<juce::File>& sources, int steps, float detail);

    std::optional<Entry> find (const juce::String& key);
    void insert (const juce::String& key, Entry entry);

private:
    GridCache() = default;

    std::mutex mutex_;
    std::list<std::pair<juce::String, Entry>> entries_; // most recently used first
};

} // namespace latentmorph

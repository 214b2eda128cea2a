#include "state/GridCache.h"

namespace latentmorph {

GridCache& GridCache::instance()
{
    static GridCache cache;
    return cache;
}

juce::String GridCache::keyFor (const std::vector<juce::File>& sources, int steps, float detail)
{
    juce::String key (steps);
    key << '\t' << juce::String (detail, 3);

    for (const auto& file : sources)
        key << '\n'
            << file.getFullPathName() << '\t' << file.getSize() << '\t' << file.getLastModificationTime().toMilliseconds();

    return key;
}

std::optional<GridCache::Entry> GridCache::find (const juce::String& key)
{
    const std::lock_guard<std::mutex> lock (mutex_);

    for (auto it = entries_.begin(); it != entries_.end(); ++it)
    {
        if (it->first == key)
        {
            entries_.splice (entries_.begin(), entries_, it);
            return entries_.front().second;
        }
    }

    return std::nullopt;
}

void GridCache::insert (const juce::String& key, Entry entry)
{
    const std::lock_guard<std::mutex> lock (mutex_);
    entries_.remove_if ([&key] (const auto& item)
                        { return item.first == key; });
    entries_.emplace_front (key, std::move (entry));

    if (entries_.size() > kMaxEntries)
        entries_.pop_back();
}

} // namespace latentmorph

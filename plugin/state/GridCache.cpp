#include "state/GridCache.h"

#include <juce_cryptography/juce_cryptography.h>

#include <chrono>
#include <filesystem>
#include <stdexcept>

namespace latentmorph {

SourceStamp SourceStamp::of (const juce::File& file)
{
    // std::filesystem rather than juce::File, whose modification time has whole seconds on Linux
    const std::filesystem::path path (file.getFullPathName().toStdString());
    std::error_code sizeError, timeError;
    const auto size = std::filesystem::file_size (path, sizeError);
    const auto modified = std::filesystem::last_write_time (path, timeError);

    if (sizeError || timeError)
        return { -1, 0 };

    return { static_cast<juce::int64> (size),
             static_cast<juce::int64> (std::chrono::duration_cast<std::chrono::milliseconds> (modified.time_since_epoch()).count()) };
}

GridFileContent GridFiles::readPart (std::size_t index) const
{
    const auto path = paths.at (index).toStdString();
    std::error_code error;

    // a FIFO or device named by a crafted state would block or never end: only regular files are opened
    if (! std::filesystem::is_regular_file (path, error))
        throw std::runtime_error ("grid file " + path + ": not a regular file");

    const auto rows = steps / std::max<int> (1, static_cast<int> (paths.size()));
    auto part = readGridFileContent (path);

    if (part.steps != rows || static_cast<juce::int64> (part.numSamples) != numSamples || part.sampleRateHz != sampleRateHz)
        throw std::runtime_error ("grid file " + path + " holds " + std::to_string (part.steps) + " rows of "
                                  + std::to_string (part.numSamples) + " samples at " + std::to_string (part.sampleRateHz)
                                  + " Hz, expected " + std::to_string (rows) + " of " + std::to_string (numSamples) + " at "
                                  + std::to_string (sampleRateHz) + " Hz");

    return part;
}

std::shared_ptr<const Grid> GridFiles::read() const
{
    if (paths.empty() || steps % static_cast<int> (paths.size()) != 0)
        throw std::runtime_error ("a grid of " + std::to_string (steps) + " rows cannot come from " + std::to_string (paths.size()) + " files");

    // The files' raw rows into one buffer, checked and analysed (Grid: finite samples, sustain loop) once.
    auto pcm = readPart (0).renders;
    pcm.reserve (static_cast<std::size_t> (steps) * static_cast<std::size_t> (numSamples));

    for (std::size_t i = 1; i < paths.size(); ++i)
    {
        const auto part = readPart (i);
        pcm.insert (pcm.end(), part.renders.begin(), part.renders.end());
    }

    try
    {
        return std::make_shared<const Grid> (std::move (pcm), steps, static_cast<std::size_t> (numSamples), sampleRateHz, padSize);
    }
    catch (const std::invalid_argument& e)
    {
        throw std::runtime_error ("grid file " + paths.front().toStdString() + (paths.size() > 1 ? " and the pad's other rows: " : ": ") + e.what());
    }
}

juce::Result GridFiles::matchesSources (const std::vector<juce::File>& files, const std::vector<juce::String>& sha256) const
{
    if (files.size() != sources.size() || sha256.size() != sources.size())
        return juce::Result::fail ("the grid was made from " + juce::String (static_cast<int> (sources.size())) + " sources");

    for (std::size_t i = 0; i < files.size(); ++i)
    {
        const auto now = SourceStamp::of (files[i]);
        std::error_code error;

        if (now == sources[i])
            continue;

        // A different size is a different file; the same size with another time may be a copy: hash it.
        if (now.sizeBytes != sources[i].sizeBytes || now.sizeBytes > kMaxHashBytes || sha256[i].isEmpty()
            || ! std::filesystem::is_regular_file (files[i].getFullPathName().toStdString(), error)
            || juce::SHA256 (files[i]).toHexString() != sha256[i])
            return juce::Result::fail (files[i].getFullPathName() + " changed since the grid was made");
    }

    return juce::Result::ok();
}

GridCache& GridCache::instance()
{
    static GridCache cache;
    return cache;
}

juce::String GridCache::keyFor (const std::vector<juce::File>& sources, int steps, float detail)
{
    juce::String key (steps);
    key << '\t' << GridFiles::detailText (detail);

    for (const auto& file : sources)
    {
        const auto stamp = SourceStamp::of (file);
        key << '\n'
            << file.getFullPathName() << '\t' << stamp.sizeBytes << '\t' << stamp.modifiedMs;
    }

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

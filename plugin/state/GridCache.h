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

/** A source file's size and modification time: a stat, not a read, so that an unchanged file is
    recognised in microseconds (hashing one with juce::SHA256 costs ~11 ms per MB). */
struct SourceStamp
{
    juce::int64 sizeBytes = -1; ///< -1: the file could not be stat'ed
    juce::int64 modifiedMs = 0; ///< ms of std::filesystem::file_time_type, whose clock has its own epoch: compared only with stamps of this plugin

    static SourceStamp of (const juce::File& file);
    bool operator== (const SourceStamp& other) const noexcept { return sizeBytes == other.sizeBytes && modifiedMs == other.modifiedMs; }
};

/** Where a grid lies on disk and what it was made from: enough to read it again and to check that it
    still fits the slots without the backend (a reopened project, the plugin state's <Grid>, docs/state.md). */
struct GridFiles
{
    std::vector<juce::String> paths;  ///< absolute .lmgrid paths: one file, or one per lattice row of a pad (row order)
    int steps = 0;                    ///< rows of the whole grid (a 9 x 9 pad: 81)
    int padSize = 0;                  ///< N of an N x N pad, 0 for a line
    juce::int64 numSamples = 0;       ///< samples per row, in every file
    int sampleRateHz = 0;             ///< of every file
    float detail = 0.0f;              ///< the `detail` it was rendered with
    std::vector<SourceStamp> sources; ///< each source file (the slots that have a path, in slot order) when the grid was asked for

    /** The grid: the one file read as it is, or the rows' files concatenated into the pad. Blocking file
        I/O (never on the audio thread). Throws std::runtime_error naming the file and the reason when
        one is not a regular file, cannot be read (readGridFileContent's checks) or its header does not hold
        steps / paths.size() rows of numSamples samples at sampleRateHz. */
    std::shared_ptr<const Grid> read() const;

    /** File `index` of paths, its rows as stored, its header checked as read() does; part of a pad when
        there are several. */
    GridFileContent readPart (std::size_t index) const;

    /** Ok when `sources` (resolved slot files, slot order) are the files this grid was made from: same
        count and, per file, the same size and modification time, or, when only the time differs (a
        copy, a `touch`), the same SHA-256 as `sha256` (the backend's hex digests, saved with the
        slots; files over kMaxHashBytes are not hashed). Otherwise fails saying which differs. */
    juce::Result matchesSources (const std::vector<juce::File>& sources, const std::vector<juce::String>& sha256) const;

    /** `detail` as grids are told apart by it: 3 decimals (what the key, the state and a restore compare). */
    static juce::String detailText (float detail) { return juce::String (detail, 3); }

    /** 64 MiB: ~0.7 s of juce::SHA256 (90 MB/s here), about what starting the backend costs. */
    static constexpr juce::int64 kMaxHashBytes = juce::int64 { 64 } << 20;

    /** Same files and shape (what the engine would play is the same). */
    bool sameGrid (const GridFiles& other) const
    {
        return paths == other.paths && steps == other.steps && padSize == other.padSize && numSamples == other.numSamples
               && sampleRateHz == other.sampleRateHz;
    }
};

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
        GridFiles files;      ///< the backend's files it was read from
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

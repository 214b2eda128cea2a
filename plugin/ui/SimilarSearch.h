#pragma once

#include "BackendClient.h"

#include <juce_core/juce_core.h>

#include <atomic>
#include <functional>
#include <memory>
#include <vector>

namespace latentmorph {

/** "Find similar" for one slot panel: asks the backend (`similar`, docs/protocol.md) for the sounds of
    the indexed library nearest to a file, on a worker thread, and hands the answer to the message thread.

    Threads: start() and the destructor run on the message thread and never wait for the backend
    (which may be busy rendering a grid for up to its request timeout). The request runs on this
    object's own worker thread; the callback runs on the message thread, only for the latest search,
    and never after the destructor has returned.
*/
class SimilarSearch
{
public:
    /** One library sound, as in the backend's `hits` (Hit.to_json of latentmorph.library.search). */
    struct Hit
    {
        juce::String path;      ///< absolute path of the audio file
        double startS = 0.0;    ///< segment start within the file, seconds (0 for a whole file)
        double endS = 0.0;      ///< segment end, seconds
        double distance = 0.0;  ///< embedding distance to the query (smaller is more similar)
        juce::String tag;       ///< category tag, empty when the library has none for it
        juce::String segmentPath; ///< a segment's span written as its own WAV by the backend (empty for a whole file)

        /** The file a slot loads for this hit: the segment's own WAV, else the file itself. */
        juce::String fileToLoad() const { return segmentPath.isNotEmpty() ? segmentPath : path; }
    };

    /** The outcome of one search: `hits` nearest first when `errorMessage` is empty. */
    struct Result
    {
        std::vector<Hit> hits;
        juce::String errorMessage;
    };

    using Callback = std::function<void (const Result&)>;

    /** How many sounds the plugin asks for. */
    static constexpr int kNumHits = 12;

    SimilarSearch();

    /** Abandons a running request (BackendClient gives up within ~50 ms) and joins the worker. */
    ~SimilarSearch();

    /** Message thread. Searches the backend's default library for sounds like `queryFile`; a search
        still running is superseded (its answer is dropped). `onResult` runs later on the message thread. */
    void start (const juce::File& queryFile, Callback onResult);

    /** Turns a backend reply into a Result: the error message of a failed reply (e.g. "no library
        indexed — run `latentmorph index DIR`"), or the parsed hits; malformed hits become an error. */
    static Result parseReply (const BackendClient::Reply& reply);

private:
    std::atomic<std::uint64_t> generation_ { 0 };
    std::shared_ptr<bool> alive_;   // message thread only: expires the callbacks of a destroyed search
    juce::ThreadPool worker_ { 1 };

    JUCE_DECLARE_NON_COPYABLE (SimilarSearch)
};

} // namespace latentmorph

#pragma once

#include "backend/BackendApi.h"

#include <juce_core/juce_core.h>

#include <atomic>
#include <functional>
#include <memory>
#include <vector>

namespace latentmorph {

/** "Find similar" for one slot panel: runs BackendApi::similar on a worker thread and hands the
    answer to the message thread.

    Threads: start() and the destructor run on the message thread and never wait for the backend
    (which may be busy rendering a grid for up to its request timeout). The request runs on this
    object's own worker thread; the callback runs on the message thread, only for the latest search,
    and never after the destructor has returned.
*/
class SimilarSearch
{
public:
    /** The hits nearest first, or the reason there are none (e.g. "no library database at …: run
        `latentmorph index DIR` first"). */
    using Result = BackendApi::Result<std::vector<BackendApi::Hit>>;
    using Callback = std::function<void (const Result&)>;

    /** How many sounds the plugin asks for. */
    static constexpr int kNumHits = 12;

    SimilarSearch();

    /** Abandons a running request (the backend client gives up within ~50 ms) and joins the worker. */
    ~SimilarSearch();

    /** Message thread. Searches the backend's default library for sounds like `queryFile`; a search
        still running is superseded (its answer is dropped). `onResult` runs later on the message thread. */
    void start (const juce::File& queryFile, Callback onResult);

private:
    std::atomic<std::uint64_t> generation_ { 0 };
    std::shared_ptr<bool> alive_; // message thread only: expires the callbacks of a destroyed search
    juce::ThreadPool worker_ { 1 };

    JUCE_DECLARE_NON_COPYABLE (SimilarSearch)
};

} // namespace latentmorph

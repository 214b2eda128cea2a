#pragma once

#include "backend/BackendApi.h"

#include <juce_events/juce_events.h>

#include <atomic>
#include <functional>
#include <memory>

namespace latentmorph {

/** One slot panel's backend work ("Find similar", "New", "Variation"): runs a blocking BackendApi call
    (and any file work after it) on a worker thread and hands the result to the message thread.

    Threads: start() and the destructor run on the message thread and never wait for the backend
    (which may be busy rendering a grid for up to its request timeout). The work runs on this
    object's own worker thread; the callback runs on the message thread, only for the latest task,
    and never after the destructor has returned.
*/
class BackendTask
{
public:
    BackendTask();

    /** Abandons a running request (the backend client gives up within ~50 ms) and joins the worker. */
    ~BackendTask();

    /** Message thread. Runs `work (shouldAbandon)` on the worker; a task still running is superseded
        (its answer is dropped; `shouldAbandon` turns true for it). `onResult` runs later on the
        message thread with the work's result, unless the work was abandoned. */
    template <typename Value>
    void start (std::function<BackendApi::Result<Value> (const BackendApi::AbandonCheck&)> work,
                std::function<void (const BackendApi::Result<Value>&)> onResult)
    {
        const auto generation = ++generation_;
        std::weak_ptr<bool> alive = alive_;

        worker_.addJob ([this, generation, work = std::move (work), onResult = std::move (onResult), alive]
                        {
            const BackendApi::AbandonCheck superseded = [this, generation] { return generation_.load() != generation; };

            if (superseded())
                return;

            auto result = work (superseded);

            if (result.error.abandoned() || superseded())
                return;

            juce::MessageManager::callAsync ([this, generation, alive, onResult, result = std::move (result)]
            {
                // Message thread: `alive` expires in the destructor, which also runs here, so `this` is valid.
                if (alive.lock() != nullptr && generation_.load() == generation)
                    onResult (result);
            }); });
    }

private:
    std::atomic<std::uint64_t> generation_ { 0 };
    std::shared_ptr<bool> alive_; // message thread only: expires the callbacks of a destroyed task
    juce::ThreadPool worker_ { 1 };

    JUCE_DECLARE_NON_COPYABLE (BackendTask)
};

} // namespace latentmorph

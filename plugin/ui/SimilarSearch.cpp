#include "ui/SimilarSearch.h"

#include <juce_events/juce_events.h>

namespace latentmorph {

SimilarSearch::SimilarSearch() : alive_ (std::make_shared<bool> (true)) {}

SimilarSearch::~SimilarSearch()
{
    alive_.reset(); // a result already queued on the message thread is now dropped
    ++generation_;  // the running request is abandoned at its next poll (every 50 ms)
    worker_.removeAllJobs (true, 5000);
}

void SimilarSearch::start (const juce::File& queryFile, Callback onResult)
{
    const auto generation = ++generation_;
    std::weak_ptr<bool> alive = alive_;

    worker_.addJob ([this, generation, queryFile, onResult = std::move (onResult), alive]
                    {
        const auto superseded = [this, generation] { return generation_.load() != generation; };

        if (superseded())
            return;

        auto result = BackendApi::similar (queryFile, kNumHits, superseded);

        if (result.error.abandoned() || superseded())
            return;

        juce::MessageManager::callAsync ([this, generation, alive, onResult, result = std::move (result)]
        {
            // Message thread: `alive` expires in the destructor, which also runs here, so `this` is valid.
            if (alive.lock() != nullptr && generation_.load() == generation)
                onResult (result);
        }); });
}

} // namespace latentmorph

#include "SimilarSearch.h"

#include <juce_events/juce_events.h>

namespace latentmorph {

namespace {

/** The request fields of `similar` (docs/protocol.md): the backend's default library and no category filter. */
juce::var similarRequest (const juce::File& queryFile)
{
    juce::DynamicObject::Ptr fields = new juce::DynamicObject();
    fields->setProperty ("path", queryFile.getFullPathName());
    fields->setProperty ("k", SimilarSearch::kNumHits);
    fields->setProperty ("category", juce::var());
    fields->setProperty ("db", juce::var());
    return juce::var (fields.get());
}

bool isNumber (const juce::var& value) { return value.isDouble() || value.isInt() || value.isInt64(); }

} // namespace

SimilarSearch::SimilarSearch() : alive_ (std::make_shared<bool> (true)) {}

SimilarSearch::~SimilarSearch()
{
    alive_.reset();   // a result already queued on the message thread is now dropped
    ++generation_;    // the running request is abandoned at its next poll (BackendClient: every 50 ms)
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

        const auto reply = BackendClient::instance().request ("similar", similarRequest (queryFile), superseded);

        if (reply.errorCode == "abandoned" || superseded())
            return;

        juce::MessageManager::callAsync ([this, generation, alive, onResult, result = parseReply (reply)]
        {
            // Message thread: `alive` expires in the destructor, which also runs here, so `this` is valid.
            if (alive.lock() != nullptr && generation_.load() == generation)
                onResult (result);
        });
    });
}

SimilarSearch::Result SimilarSearch::parseReply (const BackendClient::Reply& reply)
{
    Result result;

    if (! reply.ok)
    {
        result.errorMessage = reply.errorMessage;
        return result;
    }

    const auto* hits = reply.body["hits"].getArray();

    if (hits == nullptr)
    {
        result.errorMessage = "backend answer to similar lacks hits";
        return result;
    }

    for (const auto& hit : *hits)
    {
        const auto path = hit["path"].toString();

        if (path.isEmpty() || ! isNumber (hit["start_s"]) || ! isNumber (hit["end_s"]) || ! isNumber (hit["distance"]))
        {
            result.hits.clear();
            result.errorMessage = "backend answer to similar has a malformed hit: " + juce::JSON::toString (hit, true);
            return result;
        }

        result.hits.push_back ({ path, static_cast<double> (hit["start_s"]), static_cast<double> (hit["end_s"]),
                                 static_cast<double> (hit["distance"]), hit["tag"].isString() ? hit["tag"].toString() : juce::String(),
                                 hit["segment_path"].isString() ? hit["segment_path"].toString() : juce::String() });
    }

    return result;
}

} // namespace latentmorph

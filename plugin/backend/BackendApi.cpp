#include "backend/BackendApi.h"

namespace latentmorph {

namespace {

constexpr const char* kBadAnswer = "bad_answer";

bool isNumber (const juce::var& value) { return value.isDouble() || value.isInt() || value.isInt64(); }

template <typename Value>
BackendApi::Result<Value> failure (const juce::String& code, const juce::String& message)
{
    return { std::nullopt, { code, message } };
}

template <typename Value>
BackendApi::Result<Value> failure (const BackendClient::Reply& reply)
{
    return failure<Value> (reply.errorCode, reply.errorMessage);
}

juce::var sourceList (const std::vector<juce::File>& sources)
{
    juce::Array<juce::var> list;

    for (const auto& file : sources)
    {
        juce::DynamicObject::Ptr source = new juce::DynamicObject();
        source->setProperty ("path", file.getFullPathName());
        list.add (juce::var (source.get()));
    }

    return list;
}

/** Sends a grid command (render_grid, render_blend) and reads its answer: a grid file and one
    SHA-256 per source. */
BackendApi::Result<BackendApi::GridReply> gridReply (const char* command, const juce::DynamicObject::Ptr& fields, std::size_t numSources,
                                                     const BackendApi::AbandonCheck& shouldAbandon)
{
    const auto reply = BackendClient::instance().request (command, juce::var (fields.get()), shouldAbandon);

    if (! reply.ok)
        return failure<BackendApi::GridReply> (reply);

    const auto& answer = reply.body;
    const auto* sourceSha256 = answer["source_sha256"].getArray();

    const auto numHashes = sourceSha256 == nullptr ? std::size_t { 0 } : static_cast<std::size_t> (sourceSha256->size());

    if (answer["grid_path"].toString().isEmpty() || (numSources > 0 && sourceSha256 == nullptr) || numHashes != numSources)
        return failure<BackendApi::GridReply> (kBadAnswer, juce::String ("backend answer to ") + command
                                                               + " lacks grid_path or a source_sha256 per source");

    BackendApi::GridReply grid;
    grid.gridPath = answer["grid_path"].toString();
    grid.steps = static_cast<int> (answer["steps"]);
    grid.numSamples = static_cast<juce::int64> (answer["num_samples"]);
    grid.sampleRateHz = static_cast<double> (answer["sample_rate"]);
    grid.modelId = answer["model_id"].toString();
    grid.warning = answer["warning"].toString();

    for (std::size_t i = 0; i < numHashes; ++i)
        grid.sourceSha256.push_back ((*sourceSha256)[static_cast<int> (i)].toString());

    return { std::move (grid), {} };
}

} // namespace

BackendApi::Result<BackendApi::GridReply> BackendApi::renderGrid (const std::vector<juce::File>& sources, int steps, float detail,
                                                                  const AbandonCheck& shouldAbandon)
{
    juce::DynamicObject::Ptr fields = new juce::DynamicObject();
    fields->setProperty ("sources", sourceList (sources));
    fields->setProperty ("steps", steps);
    fields->setProperty ("detail", detail);
    return gridReply ("render_grid", fields, sources.size(), shouldAbandon);
}

BackendApi::Result<BackendApi::GridReply> BackendApi::renderBlend (const std::vector<juce::File>& sources,
                                                                   const std::vector<std::vector<float>>& weights, float detail,
                                                                   const AbandonCheck& shouldAbandon)
{
    juce::Array<juce::var> rows;

    for (const auto& row : weights)
    {
        juce::Array<juce::var> values;

        for (const auto weight : row)
            values.add (weight);

        rows.add (values);
    }

    juce::DynamicObject::Ptr fields = new juce::DynamicObject();
    fields->setProperty ("sources", sourceList (sources));
    fields->setProperty ("weights", rows);
    fields->setProperty ("detail", detail);
    return gridReply ("render_blend", fields, sources.size(), shouldAbandon);
}

BackendApi::Result<BackendApi::GridReply> BackendApi::renderNew (double seconds, juce::int64 seed, double temperature,
                                                                 const AbandonCheck& shouldAbandon)
{
    juce::DynamicObject::Ptr fields = new juce::DynamicObject();
    fields->setProperty ("seconds", seconds);
    fields->setProperty ("count", 1);
    fields->setProperty ("seed", seed);
    fields->setProperty ("temperature", temperature);
    return gridReply ("render_new", fields, 0, shouldAbandon);
}

BackendApi::Result<BackendApi::GridReply> BackendApi::renderVariation (const juce::File& source, double amount, juce::int64 seed,
                                                                       const AbandonCheck& shouldAbandon)
{
    juce::DynamicObject::Ptr fields = new juce::DynamicObject();
    fields->setProperty ("sources", sourceList ({ source }));
    fields->setProperty ("amount", amount);
    fields->setProperty ("count", 1);
    fields->setProperty ("seed", seed);
    return gridReply ("render_variation", fields, 1, shouldAbandon);
}

BackendApi::Result<std::vector<BackendApi::Hit>> BackendApi::similar (const juce::File& query, int k, const AbandonCheck& shouldAbandon)
{
    juce::DynamicObject::Ptr fields = new juce::DynamicObject();
    fields->setProperty ("path", query.getFullPathName());
    fields->setProperty ("k", k);
    fields->setProperty ("category", juce::var()); // all tags
    fields->setProperty ("db", juce::var());       // the backend's default library
    const auto reply = BackendClient::instance().request ("similar", juce::var (fields.get()), shouldAbandon);

    if (! reply.ok)
        return failure<std::vector<Hit>> (reply);

    const auto* hitList = reply.body["hits"].getArray();

    if (hitList == nullptr)
        return failure<std::vector<Hit>> (kBadAnswer, "backend answer to similar lacks hits");

    std::vector<Hit> hits;

    for (const auto& hit : *hitList)
    {
        const auto path = hit["path"].toString();

        if (path.isEmpty() || ! isNumber (hit["start_s"]) || ! isNumber (hit["end_s"]) || ! isNumber (hit["distance"]))
            return failure<std::vector<Hit>> (kBadAnswer, "backend answer to similar has a malformed hit: " + juce::JSON::toString (hit, true));

        hits.push_back ({ path, static_cast<double> (hit["start_s"]), static_cast<double> (hit["end_s"]),
                          static_cast<double> (hit["distance"]), hit["tag"].isString() ? hit["tag"].toString() : juce::String(),
                          hit["segment_path"].isString() ? hit["segment_path"].toString() : juce::String() });
    }

    return { std::move (hits), {} };
}

BackendApi::Result<BackendApi::RootNote> BackendApi::rootNote (const juce::File& file, const AbandonCheck& shouldAbandon)
{
    juce::DynamicObject::Ptr fields = new juce::DynamicObject();
    fields->setProperty ("path", file.getFullPathName());
    const auto reply = BackendClient::instance().request ("root_note", juce::var (fields.get()), shouldAbandon);

    if (! reply.ok)
        return failure<RootNote> (reply);

    const auto& answer = reply.body;
    const auto note = answer["root_note"];

    if (! note.isInt() || static_cast<int> (note) < 0 || static_cast<int> (note) > 127 || ! isNumber (answer["fine_tune_cents"])
        || ! answer["pitched"].isBool() || ! answer["message"].isString())
        return failure<RootNote> (kBadAnswer, "backend answer to root_note lacks root_note (0..127), fine_tune_cents, pitched or message");

    RootNote root;
    root.midiNote = static_cast<int> (note);
    root.fineTuneCents = juce::jlimit (-50.0, 50.0, static_cast<double> (answer["fine_tune_cents"]));
    root.f0Hz = isNumber (answer["f0_hz"]) ? static_cast<double> (answer["f0_hz"]) : 0.0;
    root.pitched = static_cast<bool> (answer["pitched"]);
    root.message = answer["message"].toString();
    return { std::move (root), {} };
}

} // namespace latentmorph

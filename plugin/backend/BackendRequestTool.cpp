/** The plugin's backend code on the command line, no host needed. Two forms:

        LatentMorphBackendRequest CMD FIELDS [CMD FIELDS …]
        LatentMorphBackendRequest --api similar QUERY K
        LatentMorphBackendRequest --api render_grid STEPS DETAIL SOURCE [SOURCE …]
        LatentMorphBackendRequest --api render_blend DETAIL WEIGHTS SOURCE [SOURCE …]
        LatentMorphBackendRequest --api root_note FILE
        LatentMorphBackendRequest --api render_new SECONDS SEED TEMPERATURE
        LatentMorphBackendRequest --api render_variation SOURCE AMOUNT SEED

    The first sends raw requests through BackendClient and prints each reply as one line of JSON,
    {"ok": true, "body": {…}} or {"ok": false, "code": "…", "message": "…"}; FIELDS is a file holding
    the request's JSON object, or "-" for none, and the requests share one backend, as a host's plugin
    instances do. The second makes one typed BackendApi call, as the plugin does, and prints
    {"ok": true, "value": …} with the value's struct members (C++ names), or the error as above;
    render_blend's WEIGHTS is a JSON array of rows, e.g. "[[1,0],[0.5,0.5]]".
    Used by tests/test_backend_client.py and to try the protocol by hand. Exit status 2 on bad
    arguments. */

#include "backend/BackendApi.h"

#include <iostream>

namespace {

using latentmorph::BackendApi;

void printLine (bool ok, const juce::String& key, const juce::var& value, const juce::String& code, const juce::String& message)
{
    juce::DynamicObject::Ptr line = new juce::DynamicObject();
    line->setProperty ("ok", ok);

    if (ok)
        line->setProperty (key, value);
    else
    {
        line->setProperty ("code", code);
        line->setProperty ("message", message);
    }

    std::cout << juce::JSON::toString (juce::var (line.get()), true) << std::endl;
}

juce::var toVar (const std::vector<BackendApi::Hit>& hits)
{
    juce::Array<juce::var> list;

    for (const auto& hit : hits)
    {
        juce::DynamicObject::Ptr item = new juce::DynamicObject();
        item->setProperty ("path", hit.path);
        item->setProperty ("startS", hit.startS);
        item->setProperty ("endS", hit.endS);
        item->setProperty ("distance", hit.distance);
        item->setProperty ("tag", hit.tag);
        item->setProperty ("segmentPath", hit.segmentPath);
        item->setProperty ("fileToLoad", hit.fileToLoad());
        list.add (juce::var (item.get()));
    }

    return list;
}

juce::var toVar (const BackendApi::GridReply& grid)
{
    juce::DynamicObject::Ptr item = new juce::DynamicObject();
    item->setProperty ("gridPath", grid.gridPath);
    item->setProperty ("steps", grid.steps);
    item->setProperty ("numSamples", grid.numSamples);
    item->setProperty ("sampleRateHz", grid.sampleRateHz);
    item->setProperty ("modelId", grid.modelId);
    item->setProperty ("sourceSha256", juce::StringArray (grid.sourceSha256.data(), static_cast<int> (grid.sourceSha256.size())));
    item->setProperty ("warning", grid.warning);
    return juce::var (item.get());
}

juce::var toVar (const BackendApi::RootNote& root)
{
    juce::DynamicObject::Ptr item = new juce::DynamicObject();
    item->setProperty ("midiNote", root.midiNote);
    item->setProperty ("fineTuneCents", root.fineTuneCents);
    item->setProperty ("f0Hz", root.f0Hz);
    item->setProperty ("pitched", root.pitched);
    item->setProperty ("message", root.message);
    return juce::var (item.get());
}

template <typename Value>
void printResult (const BackendApi::Result<Value>& result)
{
    printLine (result.ok(), "value", result.ok() ? toVar (*result.value) : juce::var(), result.error.code, result.error.message);
}

int runApiCall (const juce::StringArray& arguments)
{
    const auto never = []
    { return false; };
    const auto cwd = juce::File::getCurrentWorkingDirectory();

    if (arguments[0] == "similar" && arguments.size() == 3)
    {
        printResult (BackendApi::similar (cwd.getChildFile (arguments[1]), arguments[2].getIntValue(), never));
        return 0;
    }

    if (arguments[0] == "root_note" && arguments.size() == 2)
    {
        printResult (BackendApi::rootNote (cwd.getChildFile (arguments[1]), never));
        return 0;
    }

    if (arguments[0] == "render_grid" && arguments.size() >= 4)
    {
        std::vector<juce::File> sources;

        for (int i = 3; i < arguments.size(); ++i)
            sources.push_back (cwd.getChildFile (arguments[i]));

        printResult (BackendApi::renderGrid (sources, arguments[1].getIntValue(), arguments[2].getFloatValue(), never));
        return 0;
    }

    if (arguments[0] == "render_new" && arguments.size() == 4)
    {
        printResult (BackendApi::renderNew (arguments[1].getDoubleValue(), arguments[2].getLargeIntValue(), arguments[3].getDoubleValue(), never));
        return 0;
    }

    if (arguments[0] == "render_variation" && arguments.size() == 4)
    {
        printResult (BackendApi::renderVariation (cwd.getChildFile (arguments[1]), arguments[2].getDoubleValue(), arguments[3].getLargeIntValue(),
                                                  never));
        return 0;
    }

    if (arguments[0] == "render_blend" && arguments.size() >= 4)
    {
        std::vector<std::vector<float>> weights;
        const auto parsed = juce::JSON::parse (arguments[2]);

        if (const auto* rows = parsed.getArray())
            for (const auto& row : *rows)
            {
                weights.emplace_back();

                if (const auto* values = row.getArray())
                    for (const auto& value : *values)
                        weights.back().push_back (static_cast<float> (value));
            }

        std::vector<juce::File> sources;

        for (int i = 3; i < arguments.size(); ++i)
            sources.push_back (cwd.getChildFile (arguments[i]));

        printResult (BackendApi::renderBlend (sources, weights, arguments[1].getFloatValue(), never));
        return 0;
    }

    return 2;
}

int runRawRequests (int argc, char* argv[])
{
    if (argc < 3 || argc % 2 == 0)
        return 2;

    for (int i = 1; i + 1 < argc; i += 2)
    {
        const juce::String fieldsArgument (argv[i + 1]);
        juce::var fields;

        if (fieldsArgument != "-")
        {
            fields = juce::JSON::parse (juce::File::getCurrentWorkingDirectory().getChildFile (fieldsArgument).loadFileAsString());

            if (! fields.isObject())
            {
                std::cerr << fieldsArgument << ": not a file holding a JSON object\n";
                return 2;
            }
        }

        const auto reply = latentmorph::BackendClient::instance().request (argv[i], fields, []
                                                                           { return false; });
        printLine (reply.ok, "body", reply.body, reply.errorCode, reply.errorMessage);
    }

    return 0;
}

} // namespace

int main (int argc, char* argv[])
{
    const auto status = argc >= 2 && juce::String (argv[1]) == "--api"
                            ? runApiCall (juce::StringArray (argv + 2, argc - 2))
                            : runRawRequests (argc, argv);

    if (status == 2)
        std::cerr << "usage: " << argv[0] << " CMD FIELDS.json|- [CMD FIELDS.json|- ...]\n"
                  << "       " << argv[0] << " --api similar QUERY K\n"
                  << "       " << argv[0] << " --api render_grid STEPS DETAIL SOURCE [SOURCE ...]\n"
                  << "       " << argv[0] << " --api render_blend DETAIL WEIGHTS_JSON SOURCE [SOURCE ...]\n"
                  << "       " << argv[0] << " --api root_note FILE\n"
                  << "       " << argv[0] << " --api render_new SECONDS SEED TEMPERATURE\n"
                  << "       " << argv[0] << " --api render_variation SOURCE AMOUNT SEED\n";

    return status;
}

/** The plugin's BackendClient on the command line, no host needed: sends requests to the backend and
    prints each reply as one line of JSON, {"ok": true, "body": {…}} or {"ok": false, "code": "…",
    "message": "…"}.

        LatentMorphBackendRequest CMD FIELDS [CMD FIELDS …]

    FIELDS is a file holding the request's JSON object, or "-" for none. The requests share one backend,
    as a host's plugin instances do. Used by tests/test_backend_client.py (the client's limits, start-up
    errors and process handling) and to try the protocol by hand. Exit status 2 on bad arguments. */

#include "BackendClient.h"

#include <iostream>

int main (int argc, char* argv[])
{
    if (argc < 3 || argc % 2 == 0)
    {
        std::cerr << "usage: " << argv[0] << " CMD FIELDS.json|- [CMD FIELDS.json|- ...]\n";
        return 2;
    }

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

        const auto reply = latentmorph::BackendClient::instance().request (argv[i], fields, [] { return false; });
        juce::DynamicObject::Ptr line = new juce::DynamicObject();
        line->setProperty ("ok", reply.ok);

        if (reply.ok)
            line->setProperty ("body", reply.body);
        else
        {
            line->setProperty ("code", reply.errorCode);
            line->setProperty ("message", reply.errorMessage);
        }

        std::cout << juce::JSON::toString (juce::var (line.get()), true) << std::endl;
    }

    return 0;
}

#pragma once

#include "backend/ChildProcess.h"

#include <juce_core/juce_core.h>

#include <chrono>
#include <functional>
#include <mutex>

namespace latentmorph {

/** The one backend process of this host process (`<python> -m latentmorph.server`), shared by all
    plugin instances, and the transport of docs/protocol.md: length-prefixed JSON frames over its
    stdin/stdout, the request envelope ("v", "id", "cmd"; "ok", "error"), the `hello` handshake,
    timeouts and restarts. What the commands' fields mean is BackendApi's business; plugin code calls
    BackendApi, never this class.

    The process starts lazily on the first request, never when a plugin is constructed (DAW scanners
    instantiate plugins just to list them). `<python>` is env LATENTMORPH_PYTHON, else the build-time
    LATENTMORPH_PYTHON. It leads its own process group, and a kill (a timeout, a hung exit) signals the
    whole group. When it dies (EOF, EPIPE, a broken frame, a timeout) the next request restarts
    it, waiting 0.5 s after the first failure, doubling up to 8 s while failures continue. At process
    exit (static destructor) it is sent `shutdown`, then SIGTERM if it has not exited within 1 s.

    Threads: request() blocks, so call it from a worker thread only, never the audio or message thread.
    Requests from several threads are serialised. A dead backend never kills the host (see
    ChildProcess::write).
*/
class BackendClient
{
public:
    /** The answer to one request. On success `ok` is true and `body` is the response object;
        otherwise `errorCode` is the protocol's code (e.g. "audio_load_error", "model_error") or one of
        the client's: "backend_start_failed", "backend_died", "backend_protocol_error" (it wrote what is
        not a frame; the message shows the first bytes), "backend_timeout", "request_too_large" (over the
        protocol's frame limit; not sent, the backend keeps running), "abandoned";
        `errorMessage` is a human-readable reason. */
    struct Reply
    {
        bool ok = false;
        juce::var body;
        juce::String errorCode;
        juce::String errorMessage;
    };

    /** Polled while waiting; returning true gives up on the request at once (errorCode "abandoned").
        A late answer is then discarded, so one request never receives another's response. */
    using AbandonCheck = ChildProcess::AbandonCheck;

    static constexpr const char* kAbandoned = "abandoned";

    static BackendClient& instance();

    /** Sends {"v": …, "id": n, "cmd": cmd, …fields} (fields: a JSON object or void) and waits for the
        answer, at most the request timeout (60 s, or env LATENTMORPH_BACKEND_TIMEOUT_S seconds);
        on a timeout the backend is killed. Starts or restarts the backend first when needed. */
    Reply request (const juce::String& cmd, const juce::var& fields, const AbandonCheck& shouldAbandon);

    ~BackendClient();

private:
    BackendClient() = default;

    using Clock = ChildProcess::Clock;

    Reply ensureRunning (const AbandonCheck& shouldAbandon);
    Reply exchange (const juce::String& cmd, const juce::var& fields, Clock::time_point deadline, const AbandonCheck& shouldAbandon);
    Reply fail (const juce::String& code, const juce::String& message);
    void stopProcess(); // stops and reaps the process, schedules the restart backoff

    std::timed_mutex mutex_;
    ChildProcess process_;
    bool helloDone_ = false;
    juce::int64 nextRequestId_ = 1;
    int answersToDiscard_ = 0; // answers still due to abandoned requests
    Clock::time_point nextStartAllowed_ {};
    std::chrono::milliseconds restartDelay_ { 500 };
    juce::String lastExitReason_; // how the last process ended, e.g. "exited with status 1"
};

} // namespace latentmorph

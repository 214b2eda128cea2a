#include "backend/BackendClient.h"

#include "SharedConstants.h"

#include <algorithm>
#include <csignal>
#include <string>
#include <thread>

namespace latentmorph {

namespace {

using Clock = ChildProcess::Clock;
using IoStatus = ChildProcess::IoStatus;
using namespace std::chrono_literals;

constexpr std::size_t kShownStrayBytes = 48; // of a stream that broke the framing, in errors
constexpr auto kPollSlice = 50ms;            // how often a wait for the lock checks for abandonment
constexpr std::chrono::milliseconds kFirstRestartDelay = 500ms;
constexpr std::chrono::milliseconds kMaxRestartDelay = 8000ms;

juce::String pythonPath()
{
    const auto fromEnvironment = juce::SystemStats::getEnvironmentVariable ("LATENTMORPH_PYTHON", {});
    return fromEnvironment.isNotEmpty() ? fromEnvironment : juce::String (LATENTMORPH_PYTHON);
}

std::chrono::milliseconds requestTimeout()
{
    const auto seconds = juce::SystemStats::getEnvironmentVariable ("LATENTMORPH_BACKEND_TIMEOUT_S", {}).getDoubleValue();
    return seconds > 0.0 ? std::chrono::milliseconds (static_cast<long long> (seconds * 1000.0)) : std::chrono::milliseconds (60s);
}

std::string encodeFrame (const std::string& payload)
{
    const auto size = static_cast<std::uint32_t> (payload.size());
    std::string frame { static_cast<char> (size & 0xff), static_cast<char> ((size >> 8) & 0xff),
                        static_cast<char> ((size >> 16) & 0xff), static_cast<char> ((size >> 24) & 0xff) };
    return frame + payload;
}

/** Bytes that broke the framing, readable: the 4 read as a frame length, then what else is already
    waiting (up to kShownStrayBytes in all), other than printable ASCII as \xNN. */
juce::String describeStrayBytes (const char (&header)[4], ChildProcess& process)
{
    const auto bytes = std::string (header, sizeof (header)) + process.readAvailable (kShownStrayBytes - sizeof (header));
    juce::String shown;

    for (const auto byte : bytes)
    {
        const auto code = static_cast<unsigned char> (byte);
        shown << (code >= 0x20 && code < 0x7f && code != '\\' ? juce::String::charToString (code)
                                                              : "\\x" + juce::String::toHexString (code).paddedLeft ('0', 2));
    }

    return shown;
}

} // namespace

BackendClient& BackendClient::instance()
{
    static BackendClient client; // process-wide; its destructor stops the backend at exit
    return client;
}

BackendClient::Reply BackendClient::request (const juce::String& cmd, const juce::var& fields, const AbandonCheck& shouldAbandon)
{
    // Another instance's request may hold the backend for a while: keep checking whether to give up.
    while (! mutex_.try_lock_for (kPollSlice))
        if (shouldAbandon())
            return fail (kAbandoned, "request abandoned");

    const std::lock_guard<std::timed_mutex> lock (mutex_, std::adopt_lock);

    if (auto started = ensureRunning (shouldAbandon); ! started.ok)
        return started;

    return exchange (cmd, fields, Clock::now() + requestTimeout(), shouldAbandon);
}

BackendClient::Reply BackendClient::ensureRunning (const AbandonCheck& shouldAbandon)
{
    if (int waitStatus = 0; process_.reapIfExited (waitStatus))
    {
        // It died while idle: start a new one now rather than fail this request on a dead pipe.
        lastExitReason_ = ChildProcess::describeWaitStatus (waitStatus);
        stopProcess();
    }

    if (! process_.running())
    {
        while (Clock::now() < nextStartAllowed_) // restart backoff
        {
            if (shouldAbandon())
                return fail (kAbandoned, "request abandoned");

            std::this_thread::sleep_for (std::min<Clock::duration> (kPollSlice, nextStartAllowed_ - Clock::now()));
        }

        if (const auto error = process_.start ({ pythonPath().toStdString(), "-m", "latentmorph.server" }); ! error.empty())
        {
            stopProcess();
            return fail ("backend_start_failed", "backend failed to start: " + juce::String (error));
        }

        helloDone_ = false;
        answersToDiscard_ = 0;
    }

    if (helloDone_)
        return { true, {}, {}, {} };

    auto hello = exchange ("hello", {}, Clock::now() + requestTimeout(), shouldAbandon);

    if (hello.errorCode == "backend_died")
        return fail ("backend_start_failed", "backend failed to start: " + pythonPath() + " -m latentmorph.server "
                                                 + lastExitReason_ + " before answering hello (its stderr says why)");

    if (hello.errorCode == "backend_protocol_error")
        return fail ("backend_start_failed", "backend failed to start: " + hello.errorMessage);

    if (! hello.ok)
        return hello; // e.g. model_error: the process is fine, the next request asks again

    if (static_cast<int> (hello.body["protocol"]) != shared::kProtocolVersion)
    {
        const auto reason = "backend speaks protocol " + hello.body["protocol"].toString() + ", the plugin speaks "
                            + juce::String (shared::kProtocolVersion);
        stopProcess();
        return fail ("backend_start_failed", "backend failed to start: " + reason);
    }

    helloDone_ = true;
    return hello;
}

BackendClient::Reply BackendClient::exchange (const juce::String& cmd, const juce::var& fields, Clock::time_point deadline,
                                              const AbandonCheck& shouldAbandon)
{
    const auto id = nextRequestId_++;
    juce::DynamicObject::Ptr message = new juce::DynamicObject();
    message->setProperty ("v", shared::kProtocolVersion);
    message->setProperty ("id", id);
    message->setProperty ("cmd", cmd);

    if (auto* extra = fields.getDynamicObject())
        for (const auto& field : extra->getProperties())
            message->setProperty (field.name, field.value);

    const auto payload = juce::JSON::toString (juce::var (message.get()), true).toStdString();

    if (payload.size() > shared::kMaxFrameBytes) // the backend would read it as a broken stream and exit
        return fail ("request_too_large", "the \"" + cmd + "\" request is " + juce::String (static_cast<double> (payload.size()) / (1 << 20), 1)
                                              + " MiB, over the protocol's " + juce::String (shared::kMaxFrameBytes >> 20)
                                              + " MiB limit; it was not sent");

    if (process_.write (encodeFrame (payload), deadline) != IoStatus::ok)
    {
        stopProcess();
        return fail ("backend_died", "backend died (" + lastExitReason_ + "); it restarts on the next request");
    }

    for (;;)
    {
        char header[4];
        auto status = process_.read (header, sizeof (header), deadline, &shouldAbandon);
        std::string frame;

        if (status == IoStatus::ok)
        {
            const auto size = static_cast<std::size_t> (juce::ByteOrder::littleEndianInt (header));

            if (size == 0 || size > shared::kMaxFrameBytes)
            {
                // Typically something printed to stdout before the backend took it over (a wrapper script, a site hook).
                const auto shown = describeStrayBytes (header, process_);
                stopProcess();
                const auto length = juce::String (static_cast<juce::int64> (size));
                return fail ("backend_protocol_error", "the backend broke the protocol: its stdout has \"" + shown + "\" where a frame was due (read as a length of "
                                                           + length + " bytes); it restarts on the next request");
            }

            frame.resize (size);
            status = process_.read (frame.data(), size, deadline, nullptr);
        }

        switch (status)
        {
            case IoStatus::ok:
                break;

            case IoStatus::abandoned:
                ++answersToDiscard_; // the backend still answers it; the next exchange skips that answer
                return fail (kAbandoned, "request abandoned");

            case IoStatus::timeout:
            {
                const auto seconds = juce::String (std::chrono::duration<double> (requestTimeout()).count(), 1);
                stopProcess();
                return fail ("backend_timeout", "backend did not answer \"" + cmd + "\" within " + seconds
                                                    + " s; it was stopped and restarts on the next request");
            }

            case IoStatus::closed:
            case IoStatus::failed:
                stopProcess();
                return fail ("backend_died", "backend died (" + lastExitReason_ + "); it restarts on the next request");
        }

        if (answersToDiscard_ > 0)
        {
            --answersToDiscard_;
            continue;
        }

        restartDelay_ = kFirstRestartDelay; // the backend works: a later failure starts the backoff afresh
        const auto answer = juce::JSON::parse (juce::String::fromUTF8 (frame.data(), static_cast<int> (frame.size())));

        if (! answer.isObject() || ! (answer["id"].isInt() || answer["id"].isInt64()) || static_cast<juce::int64> (answer["id"]) != id)
        {
            stopProcess();
            return fail ("backend_died", "backend sent an unexpected answer; it restarts on the next request");
        }

        if (answer["ok"].isBool() && static_cast<bool> (answer["ok"]))
            return { true, answer, {}, {} };

        const auto error = answer["error"];
        const auto errorMessage = error["message"].toString();
        return fail (error["code"].toString().isNotEmpty() ? error["code"].toString() : juce::String ("internal"),
                     errorMessage.isNotEmpty() ? errorMessage : juce::String ("backend error without a message"));
    }
}

BackendClient::Reply BackendClient::fail (const juce::String& code, const juce::String& message)
{
    return { false, {}, code, message };
}

void BackendClient::stopProcess()
{
    if (const auto waitStatus = process_.stop (500ms))
        lastExitReason_ = ChildProcess::describeWaitStatus (*waitStatus);

    helloDone_ = false;
    answersToDiscard_ = 0;
    nextStartAllowed_ = Clock::now() + restartDelay_;
    restartDelay_ = std::min (restartDelay_ * 2, kMaxRestartDelay);
}

BackendClient::~BackendClient()
{
    // Runs at process exit (or module unload). Plain std::string here: JUCE statics may be gone.
    if (! mutex_.try_lock_for (1s))
    {
        process_.signalGroup (SIGTERM); // a request is stuck mid-exchange: do not wait for it
        return;
    }

    const std::lock_guard<std::timed_mutex> lock (mutex_, std::adopt_lock);

    if (! process_.running())
        return;

    const auto shutdown = R"({"v":)" + std::to_string (shared::kProtocolVersion) + R"(,"id":)" + std::to_string (nextRequestId_)
                          + R"(,"cmd":"shutdown"})";
    process_.write (encodeFrame (shutdown), Clock::now() + 1s);
    process_.closeInput();

    if (int waitStatus = 0; ! process_.waitForExit (1s, waitStatus))
    {
        process_.signalGroup (SIGTERM);
        process_.waitForExit (1s, waitStatus);
    }

    process_.stop (0ms); // closes its stdout; SIGKILLs the group should it still run
}

} // namespace latentmorph

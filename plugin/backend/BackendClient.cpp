#include "BackendClient.h"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <string>
#include <thread>

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

namespace latentmorph {

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr int kProtocolVersion = 1;
constexpr std::size_t kMaxFrameBytes = std::size_t { 16 } << 20;   // docs/protocol.md: 1 <= N <= 16 MiB
constexpr std::size_t kShownStrayBytes = 48;                       // of a stream that broke the framing, in errors
constexpr auto kPollSlice = 50ms;                                   // how often a wait checks for abandonment
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

/** Blocks SIGPIPE on the calling thread while alive, and consumes one that a write raised meanwhile,
    so writing to a dead backend returns EPIPE instead of killing the host. Does not touch the
    process-wide disposition of SIGPIPE, which belongs to the host. */
class ScopedSigpipeBlock
{
public:
    ScopedSigpipeBlock()
    {
        sigemptyset (&pipeSet_);
        sigaddset (&pipeSet_, SIGPIPE);
        sigset_t pending;
        sigpending (&pending);
        wasAlreadyPending_ = sigismember (&pending, SIGPIPE) == 1;
        pthread_sigmask (SIG_BLOCK, &pipeSet_, &previousMask_);
    }

    ~ScopedSigpipeBlock()
    {
        if (! wasAlreadyPending_)
        {
            const timespec noWait { 0, 0 };
            sigtimedwait (&pipeSet_, nullptr, &noWait);
        }

        pthread_sigmask (SIG_SETMASK, &previousMask_, nullptr);
    }

private:
    sigset_t pipeSet_ {}, previousMask_ {};
    bool wasAlreadyPending_ = false;
};

enum class IoStatus { ok, timeout, closed, abandoned, failed };

/** Waits until `fd` is ready for `events` (or hung up), the deadline passes, or shouldAbandon() is true. */
IoStatus waitReady (int fd, short events, Clock::time_point deadline, const BackendClient::AbandonCheck* shouldAbandon)
{
    for (;;)
    {
        if (shouldAbandon != nullptr && (*shouldAbandon)())
            return IoStatus::abandoned;

        const auto now = Clock::now();

        if (now >= deadline)
            return IoStatus::timeout;

        const auto slice = std::min<Clock::duration> (kPollSlice, deadline - now);
        pollfd descriptor { fd, events, 0 };
        const auto ready = ::poll (&descriptor, 1, static_cast<int> (std::chrono::ceil<std::chrono::milliseconds> (slice).count()));

        if (ready > 0)
            return IoStatus::ok;   // readable/writable, or hung up: the read or write that follows tells which

        if (ready < 0 && errno != EINTR)
            return IoStatus::failed;
    }
}

IoStatus writeAll (int fd, const std::string& bytes, Clock::time_point deadline)
{
    const ScopedSigpipeBlock blockSigpipe;
    std::size_t written = 0;

    while (written < bytes.size())
    {
        if (const auto status = waitReady (fd, POLLOUT, deadline, nullptr); status != IoStatus::ok)
            return status;

        const auto result = ::write (fd, bytes.data() + written, bytes.size() - written);

        if (result >= 0)
            written += static_cast<std::size_t> (result);
        else if (errno == EPIPE)
            return IoStatus::closed;
        else if (errno != EINTR && errno != EAGAIN)
            return IoStatus::failed;
    }

    return IoStatus::ok;
}

/** Reads exactly `size` bytes. Abandonment is only honoured before the first byte, so a frame is never torn. */
IoStatus readExactly (int fd, char* out, std::size_t size, Clock::time_point deadline, const BackendClient::AbandonCheck* shouldAbandon)
{
    std::size_t got = 0;

    while (got < size)
    {
        if (const auto status = waitReady (fd, POLLIN, deadline, got == 0 ? shouldAbandon : nullptr); status != IoStatus::ok)
            return status;

        const auto result = ::read (fd, out + got, size - got);

        if (result > 0)
            got += static_cast<std::size_t> (result);
        else if (result == 0)
            return IoStatus::closed;
        else if (errno != EINTR && errno != EAGAIN)
            return IoStatus::failed;
    }

    return IoStatus::ok;
}

std::string encodeFrame (const std::string& payload)
{
    const auto size = static_cast<std::uint32_t> (payload.size());
    std::string frame { static_cast<char> (size & 0xff), static_cast<char> ((size >> 8) & 0xff),
                        static_cast<char> ((size >> 16) & 0xff), static_cast<char> ((size >> 24) & 0xff) };
    return frame + payload;
}

/** Polls waitpid for up to `timeout`; true (with the wait status) once `pid` has exited and been reaped. */
bool waitForExit (pid_t pid, std::chrono::milliseconds timeout, int& waitStatus)
{
    const auto deadline = Clock::now() + timeout;

    for (;;)
    {
        const auto result = ::waitpid (pid, &waitStatus, WNOHANG);

        if (result == pid || (result < 0 && errno != EINTR))
            return true;   // reaped (or not ours to reap any more, e.g. the host reaps all children)

        if (Clock::now() >= deadline)
            return false;

        std::this_thread::sleep_for (10ms);
    }
}

/** Waits `grace` for `pid` to exit on its own, then kills its process group; always reaps. Returns the
    wait status. The backend leads its own group (see spawn), so processes that a wrapper interpreter
    (LATENTMORPH_PYTHON may be a script) started die with it; until it is reaped its pid names that group. */
int reapChild (pid_t pid, std::chrono::milliseconds grace)
{
    int waitStatus = 0;

    if (! waitForExit (pid, grace, waitStatus))
    {
        ::kill (-pid, SIGKILL);
        waitForExit (pid, 2000ms, waitStatus);
    }

    return waitStatus;
}

/** Bytes that broke the framing, readable: the 4 read as a frame length, then what else is already
    waiting on `fd` (non-blocking, up to kShownStrayBytes in all), other than printable ASCII as \xNN. */
juce::String describeStrayBytes (const char (&header)[4], int fd)
{
    std::string bytes (header, sizeof (header));
    char more[kShownStrayBytes - sizeof (header)];

    if (const auto got = ::read (fd, more, sizeof (more)); got > 0)
        bytes.append (more, static_cast<std::size_t> (got));

    juce::String shown;

    for (const auto byte : bytes)
    {
        const auto code = static_cast<unsigned char> (byte);
        shown << (code >= 0x20 && code < 0x7f && code != '\\' ? juce::String::charToString (code)
                                                               : "\\x" + juce::String::toHexString (code).paddedLeft ('0', 2));
    }

    return shown;
}

juce::String describeWaitStatus (int waitStatus)
{
    if (WIFEXITED (waitStatus))
        return "exited with status " + juce::String (WEXITSTATUS (waitStatus));

    if (WIFSIGNALED (waitStatus))
        return "was killed by signal " + juce::String (WTERMSIG (waitStatus)) + " (" + juce::String (::strsignal (WTERMSIG (waitStatus))) + ")";

    return "ended";
}

} // namespace

BackendClient& BackendClient::instance()
{
    static BackendClient client;   // process-wide; its destructor stops the backend at exit
    return client;
}

BackendClient::Reply BackendClient::request (const juce::String& cmd, const juce::var& fields, const AbandonCheck& shouldAbandon)
{
    // Another instance's request may hold the backend for a while: keep checking whether to give up.
    while (! mutex_.try_lock_for (kPollSlice))
        if (shouldAbandon())
            return fail ("abandoned", "request abandoned");

    const std::lock_guard<std::timed_mutex> lock (mutex_, std::adopt_lock);

    if (auto started = ensureRunning (shouldAbandon); ! started.ok)
        return started;

    return exchange (cmd, fields, Clock::now() + requestTimeout(), shouldAbandon);
}

BackendClient::Reply BackendClient::ensureRunning (const AbandonCheck& shouldAbandon)
{
    if (int waitStatus = 0; pid_ > 0 && ::waitpid (pid_, &waitStatus, WNOHANG) == pid_)
    {
        // It died while idle: start a new one now rather than fail this request on a dead pipe.
        pid_ = -1;
        lastExitReason_ = describeWaitStatus (waitStatus);
        stopProcess();
    }

    if (pid_ <= 0)
    {
        while (Clock::now() < nextStartAllowed_)   // restart backoff
        {
            if (shouldAbandon())
                return fail ("abandoned", "request abandoned");

            std::this_thread::sleep_for (std::min<Clock::duration> (kPollSlice, nextStartAllowed_ - Clock::now()));
        }

        if (const auto spawned = spawn(); spawned.failed())
        {
            stopProcess();
            return fail ("backend_start_failed", "backend failed to start: " + spawned.getErrorMessage());
        }
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
        return hello;   // e.g. model_error: the process is fine, the next request asks again

    if (static_cast<int> (hello.body["protocol"]) != kProtocolVersion)
    {
        const auto reason = "backend speaks protocol " + hello.body["protocol"].toString() + ", the plugin speaks "
                            + juce::String (kProtocolVersion);
        stopProcess();
        return fail ("backend_start_failed", "backend failed to start: " + reason);
    }

    helloDone_ = true;
    return hello;
}

juce::Result BackendClient::spawn()
{
    int stdinPipe[2], stdoutPipe[2];

    if (::pipe2 (stdinPipe, O_CLOEXEC) != 0)
        return juce::Result::fail (juce::String ("pipe: ") + juce::String (std::strerror (errno)));

    if (::pipe2 (stdoutPipe, O_CLOEXEC) != 0)
    {
        const auto error = errno;
        ::close (stdinPipe[0]);
        ::close (stdinPipe[1]);
        return juce::Result::fail (juce::String ("pipe: ") + juce::String (std::strerror (error)));
    }

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init (&actions);
    posix_spawn_file_actions_adddup2 (&actions, stdinPipe[0], STDIN_FILENO);    // dup2 clears FD_CLOEXEC
    posix_spawn_file_actions_adddup2 (&actions, stdoutPipe[1], STDOUT_FILENO);  // stderr stays the host's

    // The child gets a clean signal state whatever the host (or this thread) has blocked or ignored,
    // and its own process group, so a Ctrl-C meant for the host does not interrupt it mid-answer
    // (it exits on EOF when the host goes).
    posix_spawnattr_t attributes;
    posix_spawnattr_init (&attributes);
    sigset_t noSignals, defaultSignals;
    sigemptyset (&noSignals);
    sigemptyset (&defaultSignals);
    sigaddset (&defaultSignals, SIGPIPE);
    sigaddset (&defaultSignals, SIGTERM);
    posix_spawnattr_setsigmask (&attributes, &noSignals);
    posix_spawnattr_setsigdefault (&attributes, &defaultSignals);
    posix_spawnattr_setpgroup (&attributes, 0);
    posix_spawnattr_setflags (&attributes, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);

    auto python = pythonPath().toStdString();
    std::string moduleFlag = "-m", module = "latentmorph.server";
    char* arguments[] = { python.data(), moduleFlag.data(), module.data(), nullptr };
    pid_t pid = -1;
    const auto spawnError = ::posix_spawnp (&pid, python.c_str(), &actions, &attributes, arguments, environ);

    posix_spawnattr_destroy (&attributes);
    posix_spawn_file_actions_destroy (&actions);
    ::close (stdinPipe[0]);
    ::close (stdoutPipe[1]);

    if (spawnError != 0)
    {
        ::close (stdinPipe[1]);
        ::close (stdoutPipe[0]);
        return juce::Result::fail (juce::String (python) + ": " + juce::String (std::strerror (spawnError)));
    }

    pid_ = pid;
    toBackend_ = stdinPipe[1];
    fromBackend_ = stdoutPipe[0];
    ::fcntl (toBackend_, F_SETFL, ::fcntl (toBackend_, F_GETFL) | O_NONBLOCK);
    ::fcntl (fromBackend_, F_SETFL, ::fcntl (fromBackend_, F_GETFL) | O_NONBLOCK);
    helloDone_ = false;
    answersToDiscard_ = 0;
    return juce::Result::ok();
}

BackendClient::Reply BackendClient::exchange (const juce::String& cmd, const juce::var& fields, Clock::time_point deadline,
                                              const AbandonCheck& shouldAbandon)
{
    const auto id = nextRequestId_++;
    juce::DynamicObject::Ptr message = new juce::DynamicObject();
    message->setProperty ("v", kProtocolVersion);
    message->setProperty ("id", id);
    message->setProperty ("cmd", cmd);

    if (auto* extra = fields.getDynamicObject())
        for (const auto& field : extra->getProperties())
            message->setProperty (field.name, field.value);

    const auto payload = juce::JSON::toString (juce::var (message.get()), true).toStdString();

    if (payload.size() > kMaxFrameBytes)   // the backend would read it as a broken stream and exit
        return fail ("request_too_large", "the \"" + cmd + "\" request is " + juce::String (static_cast<double> (payload.size()) / (1 << 20), 1)
                                              + " MiB, over the protocol's " + juce::String (kMaxFrameBytes >> 20) + " MiB limit; it was not sent");

    if (writeAll (toBackend_, encodeFrame (payload), deadline) != IoStatus::ok)
    {
        stopProcess();
        return fail ("backend_died", "backend died (" + lastExitReason_ + "); it restarts on the next request");
    }

    for (;;)
    {
        char header[4];
        auto status = readExactly (fromBackend_, header, sizeof (header), deadline, &shouldAbandon);
        std::string frame;

        if (status == IoStatus::ok)
        {
            const auto size = static_cast<std::size_t> (juce::ByteOrder::littleEndianInt (header));

            if (size == 0 || size > kMaxFrameBytes)
            {
                // Typically something printed to stdout before the backend took it over (a wrapper script, a site hook).
                const auto shown = describeStrayBytes (header, fromBackend_);
                stopProcess();
                return fail ("backend_protocol_error", "the backend broke the protocol: its stdout has \"" + shown + "\" where a frame was due"
                                                       " (read as a length of " + juce::String (static_cast<juce::int64> (size))
                                                       + " bytes); it restarts on the next request");
            }

            frame.resize (size);
            status = readExactly (fromBackend_, frame.data(), size, deadline, nullptr);
        }

        switch (status)
        {
            case IoStatus::ok:
                break;

            case IoStatus::abandoned:
                ++answersToDiscard_;   // the backend still answers it; the next exchange skips that answer
                return fail ("abandoned", "request abandoned");

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

        restartDelay_ = kFirstRestartDelay;   // the backend works: a later failure starts the backoff afresh
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
    if (toBackend_ >= 0)
        ::close (std::exchange (toBackend_, -1));   // EOF: a live backend exits by itself

    if (fromBackend_ >= 0)
        ::close (std::exchange (fromBackend_, -1));

    if (pid_ > 0)
        lastExitReason_ = describeWaitStatus (reapChild (std::exchange (pid_, -1), 500ms));

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
        if (pid_ > 0)
            ::kill (-pid_, SIGTERM);   // a request is stuck mid-exchange: do not wait for it (the whole group, as reapChild)
        return;
    }

    const std::lock_guard<std::timed_mutex> lock (mutex_, std::adopt_lock);

    if (pid_ <= 0)
        return;

    const auto shutdown = R"({"v":1,"id":)" + std::to_string (nextRequestId_) + R"(,"cmd":"shutdown"})";
    writeAll (toBackend_, encodeFrame (shutdown), Clock::now() + 1s);
    ::close (toBackend_);

    int waitStatus = 0;

    if (! waitForExit (pid_, 1s, waitStatus))
    {
        ::kill (-pid_, SIGTERM);

        if (! waitForExit (pid_, 1s, waitStatus))
            reapChild (pid_, 0ms);
    }

    ::close (fromBackend_);
}

} // namespace latentmorph

#include "backend/ChildProcess.h"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <thread>
#include <utility>

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

namespace latentmorph {

namespace {

using Clock = ChildProcess::Clock;
using IoStatus = ChildProcess::IoStatus;
using namespace std::chrono_literals;

constexpr auto kPollSlice = 50ms;  // how often a wait checks for abandonment
constexpr auto kKillWait = 2000ms; // how long a SIGKILLed child may take to be reaped

/** Blocks SIGPIPE on the calling thread while alive, and consumes one that a write raised meanwhile. */
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

    ScopedSigpipeBlock (const ScopedSigpipeBlock&) = delete;
    ScopedSigpipeBlock& operator= (const ScopedSigpipeBlock&) = delete;

private:
    sigset_t pipeSet_ {}, previousMask_ {};
    bool wasAlreadyPending_ = false;
};

/** Waits until `fd` is ready for `events` (or hung up), the deadline passes, or shouldAbandon() is true. */
IoStatus waitReady (int fd, short events, Clock::time_point deadline, const ChildProcess::AbandonCheck* shouldAbandon)
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
            return IoStatus::ok; // readable/writable, or hung up: the read or write that follows tells which

        if (ready < 0 && errno != EINTR)
            return IoStatus::failed;
    }
}

void closeIfOpen (int& fd)
{
    if (fd >= 0)
        ::close (std::exchange (fd, -1));
}

} // namespace

std::string ChildProcess::start (const std::vector<std::string>& arguments)
{
    int stdinPipe[2], stdoutPipe[2];

    if (::pipe2 (stdinPipe, O_CLOEXEC) != 0)
        return std::string ("pipe: ") + std::strerror (errno);

    if (::pipe2 (stdoutPipe, O_CLOEXEC) != 0)
    {
        const auto error = errno;
        ::close (stdinPipe[0]);
        ::close (stdinPipe[1]);
        return std::string ("pipe: ") + std::strerror (error);
    }

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init (&actions);
    posix_spawn_file_actions_adddup2 (&actions, stdinPipe[0], STDIN_FILENO);   // dup2 clears FD_CLOEXEC
    posix_spawn_file_actions_adddup2 (&actions, stdoutPipe[1], STDOUT_FILENO); // stderr stays ours

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

    auto argumentCopies = arguments; // posix_spawn wants char*, not const char*
    std::vector<char*> argv;

    for (auto& argument : argumentCopies)
        argv.push_back (argument.data());

    argv.push_back (nullptr);
    pid_t pid = -1;
    const auto spawnError = ::posix_spawnp (&pid, argv[0], &actions, &attributes, argv.data(), environ);

    posix_spawnattr_destroy (&attributes);
    posix_spawn_file_actions_destroy (&actions);
    ::close (stdinPipe[0]);
    ::close (stdoutPipe[1]);

    if (spawnError != 0)
    {
        ::close (stdinPipe[1]);
        ::close (stdoutPipe[0]);
        return arguments[0] + ": " + std::strerror (spawnError);
    }

    pid_ = pid;
    input_ = stdinPipe[1];
    output_ = stdoutPipe[0];
    ::fcntl (input_, F_SETFL, ::fcntl (input_, F_GETFL) | O_NONBLOCK);
    ::fcntl (output_, F_SETFL, ::fcntl (output_, F_GETFL) | O_NONBLOCK);
    return {};
}

bool ChildProcess::reapIfExited (int& waitStatus)
{
    if (pid_ <= 0 || ::waitpid (pid_, &waitStatus, WNOHANG) != pid_)
        return false;

    pid_ = -1;
    return true;
}

IoStatus ChildProcess::write (const std::string& bytes, Clock::time_point deadline)
{
    const ScopedSigpipeBlock blockSigpipe;
    std::size_t written = 0;

    while (written < bytes.size())
    {
        if (const auto status = waitReady (input_, POLLOUT, deadline, nullptr); status != IoStatus::ok)
            return status;

        const auto result = ::write (input_, bytes.data() + written, bytes.size() - written);

        if (result >= 0)
            written += static_cast<std::size_t> (result);
        else if (errno == EPIPE)
            return IoStatus::closed;
        else if (errno != EINTR && errno != EAGAIN)
            return IoStatus::failed;
    }

    return IoStatus::ok;
}

IoStatus ChildProcess::read (char* out, std::size_t size, Clock::time_point deadline, const AbandonCheck* shouldAbandon)
{
    std::size_t got = 0;

    while (got < size)
    {
        if (const auto status = waitReady (output_, POLLIN, deadline, got == 0 ? shouldAbandon : nullptr); status != IoStatus::ok)
            return status;

        const auto result = ::read (output_, out + got, size - got);

        if (result > 0)
            got += static_cast<std::size_t> (result);
        else if (result == 0)
            return IoStatus::closed;
        else if (errno != EINTR && errno != EAGAIN)
            return IoStatus::failed;
    }

    return IoStatus::ok;
}

std::string ChildProcess::readAvailable (std::size_t maxBytes)
{
    std::string bytes (maxBytes, '\0');
    const auto got = ::read (output_, bytes.data(), maxBytes);
    bytes.resize (got > 0 ? static_cast<std::size_t> (got) : 0);
    return bytes;
}

void ChildProcess::closeInput()
{
    closeIfOpen (input_);
}

void ChildProcess::signalGroup (int signal)
{
    if (pid_ > 0)
        ::kill (-pid_, signal);
}

bool ChildProcess::waitForExit (std::chrono::milliseconds timeout, int& waitStatus)
{
    const auto deadline = Clock::now() + timeout;

    while (pid_ > 0)
    {
        const auto result = ::waitpid (pid_, &waitStatus, WNOHANG);

        if (result == pid_ || (result < 0 && errno != EINTR))
            pid_ = -1; // reaped (or not ours to reap any more)
        else if (Clock::now() >= deadline)
            return false;
        else
            std::this_thread::sleep_for (10ms);
    }

    return true;
}

std::optional<int> ChildProcess::stop (std::chrono::milliseconds grace)
{
    closeIfOpen (input_); // EOF: a live child that reads its stdin exits by itself
    closeIfOpen (output_);

    if (pid_ <= 0)
        return std::nullopt;

    int waitStatus = 0;

    if (! waitForExit (grace, waitStatus))
    {
        signalGroup (SIGKILL);

        if (! waitForExit (kKillWait, waitStatus))
            pid_ = -1; // unreapable (e.g. stuck in the kernel): forget it rather than hang the host
    }

    return waitStatus;
}

std::string ChildProcess::describeWaitStatus (int waitStatus)
{
    if (WIFEXITED (waitStatus))
        return "exited with status " + std::to_string (WEXITSTATUS (waitStatus));

    if (WIFSIGNALED (waitStatus))
        return "was killed by signal " + std::to_string (WTERMSIG (waitStatus)) + " (" + ::strsignal (WTERMSIG (waitStatus)) + ")";

    return "ended";
}

} // namespace latentmorph

#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <sys/types.h>

namespace latentmorph {

/** A child process whose stdin and stdout are non-blocking pipes of ours (its stderr is ours too),
    leading its own process group: POSIX spawning, pipe I/O with deadlines, signals and reaping.
    Knows nothing of what flows through the pipes. No JUCE.

    Not thread-safe: its owner serialises the calls. The destructor does not stop the child (at
    process exit another thread may still be blocked in a read); the owner calls stop().
*/
class ChildProcess
{
public:
    using Clock = std::chrono::steady_clock;

    /** Polled while waiting; returning true gives up the wait at once. */
    using AbandonCheck = std::function<bool()>;

    enum class IoStatus
    {
        ok,
        timeout,
        closed,
        abandoned,
        failed
    };

    ChildProcess() = default;
    ChildProcess (const ChildProcess&) = delete;
    ChildProcess& operator= (const ChildProcess&) = delete;

    /** Starts `arguments[0]` (looked up in PATH) with `arguments` and this process's environment, with
        a clean signal state (nothing blocked, SIGPIPE and SIGTERM at their defaults, whatever the host
        has set) in a new process group, so a Ctrl-C meant for the host does not reach it. Returns
        an empty string, or why it could not start. Call only while not running(). */
    std::string start (const std::vector<std::string>& arguments);

    bool running() const noexcept { return pid_ > 0; }

    /** Reaps the child without waiting if it has exited: true, with its wait status. */
    bool reapIfExited (int& waitStatus);

    /** Writes all of `bytes` to its stdin by `deadline`. SIGPIPE is blocked on the calling thread
        meanwhile and a pending one consumed, so a dead child gives `closed`, never kills the host
        (the process-wide disposition of SIGPIPE is left to the host). */
    IoStatus write (const std::string& bytes, Clock::time_point deadline);

    /** Reads exactly `size` bytes of its stdout by `deadline`. `shouldAbandon` (may be null) is only
        honoured before the first byte, so a message is never torn. */
    IoStatus read (char* out, std::size_t size, Clock::time_point deadline, const AbandonCheck* shouldAbandon);

    /** Up to `maxBytes` of what its stdout holds now, without waiting. */
    std::string readAvailable (std::size_t maxBytes);

    /** Closes its stdin: a child that reads until EOF exits by itself. */
    void closeInput();

    /** Sends `signal` to its whole process group: children a wrapper interpreter started get it too. */
    void signalGroup (int signal);

    /** Waits up to `timeout` for the child to exit and reaps it: true once it has (or once it is
        not ours to reap any more, e.g. the host reaps all children). */
    bool waitForExit (std::chrono::milliseconds timeout, int& waitStatus);

    /** Closes both pipes, waits `grace` for the child to exit, then SIGKILLs its group; always reaps.
        The wait status, or nullopt when no child was running. */
    std::optional<int> stop (std::chrono::milliseconds grace);

    /** "exited with status 1", "was killed by signal 9 (Killed)". */
    static std::string describeWaitStatus (int waitStatus);

private:
    pid_t pid_ = -1;  // until reaped, also the id of its process group
    int input_ = -1;  // our end of its stdin
    int output_ = -1; // our end of its stdout
};

} // namespace latentmorph

#pragma once

#include "engine/Engine.h"
#include "engine/ParameterTable.h"
#include "state/GridCache.h"

#include <juce_core/juce_core.h>

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>
#include <variant>
#include <vector>

namespace latentmorph {

/** The four sample slots (A, B, C, D) of one plugin instance, their status, and the background worker
    that turns them into a morph grid for the engine.

    When the slot paths change and A and B are set, the worker asks the backend for a kGridSteps-step
    grid between them (render_grid) or, with C or D set too, for the XY pad of the four corners
    (render_blend; a missing D is the even blend of B and C, a missing C of A and D): a coarse
    kCoarsePadSize x kCoarsePadSize pad first, published at once so the slots play, then the full
    kPadSize x kPadSize pad, one request per row of it (the backend then holds kPadSize points at a
    time: its peak memory stays that of the coarse pad). Either comes from the process-wide GridCache when there, else the
    backend's disk cache. The worker loads the `.lmgrid` file and publishes it to the engine. A newer change supersedes an older one: the worker stops waiting for the old answer.

    A reopened project (setSlots with the GridFiles saved in its state) plays before the backend has
    started: when the source files still match (GridFiles::matchesSources) and the saved files read
    and fit, the worker publishes that grid at once, status ready "(from the disk cache)", and the
    request counts as done (isBusy() false, so offline renders go on). It then still asks the backend
    (stale-while-revalidate), for the full pad directly: an answer naming the same files changes
    nothing, other files (a new model or render version) replace the grid, and a failed request keeps
    the cached grid with the error in the status. A missing, short or mismatched file falls back,
    silently, to asking the backend first.
    The worker is the engine's only grid thread: it publishes grids and collects the retired ones.
    It is a plain thread rather than the message thread because hosts such as pedalboard never run a
    message loop, yet offline renders must wait for the grid (waitUntilDone).

    Root notes. A file dropped into a slot (setSlotPath, not a restored state) is first sent to the
    backend's root_note command; the RootNoteListener gets the slot's detected note and fine tune (the
    processor sets that slot's root-note and fine-tune parameters) and the status line ends with the
    backend's message ("A: root note D4 (+3 cents, 293.2 Hz)", "B: no steady pitch (...): root note C4").

    The engine plays the grid of the current slots or nothing: a failed request leaves silence and an
    error status, never the previous pair's sound. A slot change keeps the old grid until the new one
    is ready.
*/
class SlotLoader
{
public:
    enum class State
    {
        empty,
        rendering,
        ready,
        error
    };

    struct Slot
    {
        juce::String path;   ///< absolute, or factory:relative/path; empty = no sample
        juce::String sha256; ///< hex SHA-256 of the file the grid was made from (backend's source_sha256)
    };

    static constexpr std::size_t kNumSlots = 4;
    using Slots = std::array<Slot, kNumSlots>;

    struct Status
    {
        State state = State::empty;
        juce::String message;
    };

    static constexpr int kGridSteps = 17;
    static constexpr int kCoarsePadSize = 3; ///< the XY pad first rendered (playable at once)
    static constexpr int kPadSize = 9;       ///< the XY pad then rendered (the backend's most points)
    static constexpr std::chrono::milliseconds kDetailPollInterval { 20 };
    static constexpr float kDefaultDetail = parameterSpec (ParameterIndex::detail).defaultValue;

    /** Called on the worker thread when a dropped file's root note is known: slot 0..3 (A..D), MIDI
        note 0..127, fine tune in cents (-50..50). */
    using RootNoteListener = std::function<void (int slot, int midiNote, float fineTuneCents)>;

    explicit SlotLoader (Engine& engine);

    /** Before the first setSlotPath (the worker calls it without a lock). */
    void setRootNoteListener (RootNoteListener listener) { rootNoteListener_ = std::move (listener); }

    /** Stops the worker: a pending backend answer is abandoned, so this returns within ~50 ms. */
    ~SlotLoader();

    /** Message thread (or the host's state thread). Takes slots, model id and the grid's files restored
        from a saved state (savedGrid: none in a state from before them, see the class comment).
        When the paths differ from the current ones a new grid request supersedes any pending one; the
        saved sha256 values and model id are then compared with the backend's answer (a mismatch plays
        anyway, with a warning in the status). Never blocks on the backend or on files. */
    void setSlots (const Slots& slots, const juce::String& savedModelId, const std::optional<GridFiles>& savedGrid = std::nullopt);

    /** Message thread. Sets one slot (0 = A .. 3 = D), e.g. from a file drop; an empty path clears it. A path with a character the
        state cannot hold (slot_paths::isXmlText) is refused with an error status; the slot keeps its path. */
    void setSlotPath (int index, const juce::String& path);

    /** Any thread, the audio thread included (one atomic store): the `detail` the grid should be
        rendered with. The worker notices a change within kDetailPollInterval and re-renders; until
        then isBusy() is true, so offline renders wait for the new grid. */
    void setDetail (float detail) noexcept { wantedDetail_.store (detail); }

    /** Shows an error that is not about the slots (e.g. a rejected state) until the next setSlots. */
    void reportError (const juce::String& message);

    Slots getSlots() const;

    /** Not the audio thread (it locks): the grid last published to the engine, nullptr before the first
        or after a failed request (the editor draws the slots' waveforms and the morph view from it). */
    std::shared_ptr<const Grid> getGrid() const;
    juce::String getModelId() const;
    Status getStatus() const;

    /** The files of the grid the engine plays for the current slots (for the saved state), none while
        it is not theirs yet (rendering, error, empty). Not the audio thread (it locks). */
    std::optional<GridFiles> getGridFiles() const;

    /** True while a request has not finished (and published its grid). Real-time safe: one atomic load pair. */
    bool isBusy() const noexcept
    {
        return completedGeneration_.load() != requestedGeneration_.load() || wantedDetail_.load() != requestedDetail_.load();
    }

    /** Offline rendering only (it blocks): waits until the latest request has finished and its grid is
        published, at most `timeout`. `whileWaiting` runs every few ms on the calling (audio) thread; the
        processor takes published grids there. Returns false on timeout. */
    bool waitUntilDone (std::chrono::milliseconds timeout, const std::function<void()>& whileWaiting);

    static const char* toString (State state) noexcept;

private:
    struct Job
    {
        std::uint64_t generation = 0;
        Slots slots;
        juce::String savedModelId;
        float detail = 0.0f;
        std::array<bool, kNumSlots> detectRoot {}; ///< slots dropped and not yet detected: ask for their root notes
        std::optional<GridFiles> savedGrid;        ///< a restored state's grid, played until the backend answers
    };

    void startRequest (const juce::String& savedModelId, const std::optional<GridFiles>& savedGrid = std::nullopt); // mutex_ held
    /** The restored state's grid of `job` when it still fits `sources` and reads back whole, else nullptr. */
    std::shared_ptr<const Grid> loadSavedGrid (const Job& job, const std::vector<juce::File>& sources) const;
    void run();
    void process (const Job& job);
    void publish (std::shared_ptr<const Grid> grid);
    void finish (const Job& job, const Status& status, const GridCache::Entry& grid); // grid: empty unless ready
    bool detectRootNotes (const Job& job, juce::StringArray& messages);               // false: superseded
    /** The grid of `sources` (2: a line of kGridSteps; 4: a padSize x padSize pad) from the caches or the
        backend; nullopt when superseded (nothing to report), else the entry or the error. An answer naming
        the files of `known` (a restored project's grid, or none) takes its grid instead of reading them again. */
    std::optional<std::variant<GridCache::Entry, juce::String>> fetchGrid (const Job& job, const std::vector<juce::File>& sources,
                                                                           int padSize, const GridCache::Entry& known);
    std::optional<std::variant<GridCache::Entry, juce::String>> fetchPadByRows (const std::vector<juce::File>& sources,
                                                                                const std::vector<std::vector<float>>& weights, int padSize,
                                                                                float detail, const std::function<bool()>& shouldAbandon,
                                                                                const juce::String& key, const GridCache::Entry& known);
    bool isSuperseded (std::uint64_t generation) const noexcept;

    Engine& engine_;

    mutable std::mutex mutex_;
    std::condition_variable wakeWorker_, jobDone_;
    Slots slots_;
    juce::String modelId_;
    std::shared_ptr<const Grid> publishedGrid_;
    Status requestStatus_;
    juce::String otherError_;
    std::optional<GridFiles> gridFiles_; ///< of the grid published for slots_, for getStateInformation
    std::optional<Job> pendingJob_;
    std::array<bool, kNumSlots> detectRoot_ {}; ///< slots dropped whose root note is not detected yet
    RootNoteListener rootNoteListener_;
    std::atomic<std::uint64_t> requestedGeneration_ { 0 }, completedGeneration_ { 0 };
    std::atomic<float> wantedDetail_ { kDefaultDetail }, requestedDetail_ { kDefaultDetail };
    std::atomic<bool> stopping_ { false };
    std::thread worker_; // started by the first request
};

} // namespace latentmorph

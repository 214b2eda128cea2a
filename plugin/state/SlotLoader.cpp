#include "state/SlotLoader.h"

#include "backend/BackendApi.h"
#include "state/SlotPaths.h"

namespace latentmorph {

namespace {

using namespace std::chrono_literals;

const char* slotName (std::size_t index) noexcept
{
    constexpr const char* kNames[] = { "A", "B", "C", "D" };
    return kNames[std::min<std::size_t> (index, 3)];
}

/** The status while a slot is empty. */
SlotLoader::Status emptyStatus (const SlotLoader::Slots& slots)
{
    const auto emptyA = slots[0].path.isEmpty(), emptyB = slots[1].path.isEmpty();
    return { SlotLoader::State::empty, emptyA && emptyB ? "Drop a sample on slot A and slot B"
                                                        : juce::String ("Drop a sample on slot ") + (emptyA ? "A" : "B") };
}

/** The files of the grid a render_grid or render_blend answer names (a padSize x padSize pad when
    padSize > 0), rendered with `detail` from `sources`; its fields are the answer's, which
    GridFiles::read checks the file against. */
GridFiles filesOf (const BackendApi::GridReply& reply, int padSize, float detail, const std::vector<juce::File>& sources)
{
    GridFiles files { { reply.gridPath }, reply.steps, padSize, reply.numSamples, juce::roundToInt (reply.sampleRateHz), detail, {} };

    for (const auto& source : sources)
        files.sources.push_back (SourceStamp::of (source));

    return files;
}

/** Loads the grid `files` name, from the backend's answer `reply`; `known` (a restored project's grid,
    or none) is taken instead of reading the same files again. */
juce::Result loadGrid (const BackendApi::GridReply& reply, const GridFiles& files, const GridCache::Entry& known, GridCache::Entry& entry)
{
    try
    {
        entry.grid = known.grid != nullptr && known.files.sameGrid (files) ? known.grid : files.read();
    }
    catch (const std::exception& e)
    {
        return juce::Result::fail (e.what());
    }

    entry.files = files;
    entry.sourceSha256 = reply.sourceSha256;
    entry.modelId = reply.modelId;
    entry.warning = reply.warning;
    return juce::Result::ok();
}

/** render_blend's weight rows for a size x size pad (row y * size + x at (u, v) = (x, y) / (size - 1))
    of the corners `present` (A and B always; C, D or both): bilinear weights of A (0, 0), B (1, 0),
    C (0, 1) and D (1, 1), a missing C shared evenly by A and D, a missing D by B and C; one weight per
    present corner, in corner order. */
std::vector<std::vector<float>> padWeights (int size, const std::array<bool, SlotLoader::kNumSlots>& present)
{
    std::vector<std::vector<float>> rows;

    for (int y = 0; y < size; ++y)
    {
        for (int x = 0; x < size; ++x)
        {
            const auto u = static_cast<float> (x) / static_cast<float> (size - 1);
            const auto v = static_cast<float> (y) / static_cast<float> (size - 1);
            std::array<float, SlotLoader::kNumSlots> corner { (1.0f - u) * (1.0f - v), u * (1.0f - v), (1.0f - u) * v, u * v };

            if (! present[3])
            {
                corner[1] += 0.5f * corner[3];
                corner[2] += 0.5f * corner[3];
            }
            else if (! present[2])
            {
                corner[0] += 0.5f * corner[2];
                corner[3] += 0.5f * corner[2];
            }

            rows.emplace_back();

            for (std::size_t i = 0; i < corner.size(); ++i)
                if (present[i])
                    rows.back().push_back (corner[i]);
        }
    }

    return rows;
}

} // namespace

SlotLoader::SlotLoader (Engine& engine) : engine_ (engine), requestStatus_ (emptyStatus (slots_)) {}

SlotLoader::~SlotLoader()
{
    {
        const std::lock_guard<std::mutex> lock (mutex_);
        stopping_ = true;
    }

    wakeWorker_.notify_all();

    if (worker_.joinable())
        worker_.join();
}

void SlotLoader::setSlots (const Slots& slots, const juce::String& savedModelId, const std::optional<GridFiles>& savedGrid)
{
    const std::lock_guard<std::mutex> lock (mutex_);
    otherError_.clear();

    const auto samePaths = std::equal (slots.begin(), slots.end(), slots_.begin(), [] (const Slot& a, const Slot& b)
                                       { return a.path == b.path; });

    // The same samples keep their grid (and the backend's hashes); a failed load is retried.
    if (samePaths && requestStatus_.state != State::error)
        return;

    slots_ = slots;
    detectRoot_ = {}; // a restored state keeps its saved root notes

    if (savedModelId.isNotEmpty())
        modelId_ = savedModelId;

    startRequest (savedModelId, savedGrid);
}

void SlotLoader::setSlotPath (int index, const juce::String& path)
{
    if (index < 0 || index >= static_cast<int> (kNumSlots))
        return;

    const std::lock_guard<std::mutex> lock (mutex_);

    // A path the state cannot hold is refused here, so the slot keeps a path that can be saved.
    if (! slot_paths::isXmlText (path))
    {
        juce::File unused;
        otherError_ = juce::String ("slot ") + slotName (static_cast<std::size_t> (index)) + ": "
                      + slot_paths::resolve (path, unused).getErrorMessage();
        return;
    }

    otherError_.clear();
    slots_[static_cast<std::size_t> (index)] = { path, {} };
    detectRoot_[static_cast<std::size_t> (index)] = path.isNotEmpty();
    startRequest ({}); // always, even for the same path: dropping a file again is how a user retries
}

void SlotLoader::reportError (const juce::String& message)
{
    const std::lock_guard<std::mutex> lock (mutex_);
    otherError_ = message;
}

SlotLoader::Slots SlotLoader::getSlots() const
{
    const std::lock_guard<std::mutex> lock (mutex_);
    return slots_;
}

std::optional<GridFiles> SlotLoader::getGridFiles() const
{
    const std::lock_guard<std::mutex> lock (mutex_);
    return gridFiles_;
}

juce::String SlotLoader::getModelId() const
{
    const std::lock_guard<std::mutex> lock (mutex_);
    return modelId_;
}

SlotLoader::Status SlotLoader::getStatus() const
{
    const std::lock_guard<std::mutex> lock (mutex_);
    return otherError_.isNotEmpty() ? Status { State::error, otherError_ } : requestStatus_;
}

bool SlotLoader::waitUntilDone (std::chrono::milliseconds timeout, const std::function<void()>& whileWaiting)
{
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    std::unique_lock<std::mutex> lock (mutex_);

    while (isBusy())
    {
        if (stopping_ || std::chrono::steady_clock::now() >= deadline)
            return false;

        jobDone_.wait_for (lock, 5ms);
        lock.unlock();
        whileWaiting(); // frees queue space should the worker be waiting to publish
        lock.lock();
    }

    return true;
}

const char* SlotLoader::toString (State state) noexcept
{
    switch (state)
    {
        case State::empty: return "empty";
        case State::rendering: return "rendering";
        case State::ready: return "ready";
        case State::error: return "error";
    }

    return "error";
}

void SlotLoader::startRequest (const juce::String& savedModelId, const std::optional<GridFiles>& savedGrid)
{
    const auto generation = ++requestedGeneration_;
    const auto detail = wantedDetail_.load();
    requestedDetail_ = detail;
    pendingJob_ = Job { generation, slots_, savedModelId, detail, detectRoot_, savedGrid }; // detectRoot_ cleared once detected
    gridFiles_.reset();                                                                     // the grid playing is not that of these slots until the job says so

    if (slots_[0].path.isEmpty() || slots_[1].path.isEmpty())
        requestStatus_ = emptyStatus (slots_);
    else
        requestStatus_ = { State::rendering, "Rendering the morph grid..." };

    if (! worker_.joinable())
        worker_ = std::thread ([this]
                               { run(); });

    wakeWorker_.notify_one();
}

void SlotLoader::run()
{
    std::unique_lock<std::mutex> lock (mutex_);

    while (! stopping_)
    {
        if (! pendingJob_.has_value() && wantedDetail_.load() != requestedDetail_.load())
            startRequest (modelId_); // the detail parameter moved: same slots, new grid

        if (! pendingJob_.has_value())
        {
            wakeWorker_.wait_for (lock, kDetailPollInterval);
            lock.unlock();
            engine_.collectGarbage();
            lock.lock();
            continue;
        }

        const auto job = std::move (*pendingJob_);
        pendingJob_.reset();
        lock.unlock();
        process (job);
        lock.lock();
        completedGeneration_ = job.generation;
        jobDone_.notify_all();
    }
}

bool SlotLoader::detectRootNotes (const Job& job, juce::StringArray& messages)
{
    for (std::size_t i = 0; i < kNumSlots; ++i)
    {
        juce::File file;

        if (! job.detectRoot[i] || job.slots[i].path.isEmpty() || slot_paths::resolve (job.slots[i].path, file).failed())
            continue;

        const auto root = BackendApi::rootNote (file, [this, &job]
                                                { return isSuperseded (job.generation); });

        if (root.error.abandoned())
            return false; // superseded: the newer job detects this slot again

        {
            const std::lock_guard<std::mutex> lock (mutex_);

            if (slots_[i].path != job.slots[i].path)
                return false; // another file was dropped meanwhile

            detectRoot_[i] = false;
        }

        if (! root.ok())
        {
            messages.add (juce::String (slotName (i)) + ": root note not detected (" + root.error.message + ")");
            continue;
        }

        if (rootNoteListener_)
            rootNoteListener_ (static_cast<int> (i), root.value->midiNote, static_cast<float> (root.value->fineTuneCents));

        messages.add (juce::String (slotName (i)) + ": " + root.value->message);
    }

    return true;
}

void SlotLoader::process (const Job& job)
{
    juce::StringArray rootMessages;

    if (! detectRootNotes (job, rootMessages))
        return;

    const auto withRoots = [&rootMessages] (Status status)
    {
        if (! rootMessages.isEmpty())
            status.message << " - " << rootMessages.joinIntoString ("; ");
        return status;
    };
    const auto fail = [this, &job, &withRoots] (const Status& status)
    {
        publish (nullptr);
        finish (job, withRoots (status), {});
    };

    if (job.slots[0].path.isEmpty() || job.slots[1].path.isEmpty())
        return fail (emptyStatus (job.slots));

    std::vector<juce::File> sources;
    std::array<bool, kNumSlots> present {};

    for (std::size_t i = 0; i < kNumSlots; ++i)
    {
        if (job.slots[i].path.isEmpty())
            continue;

        present[i] = true;
        sources.emplace_back();

        if (const auto resolved = slot_paths::resolve (job.slots[i].path, sources.back()); resolved.failed())
            return fail ({ State::error, juce::String ("slot ") + slotName (i) + ": " + resolved.getErrorMessage() });
    }

    juce::StringArray names;

    for (std::size_t i = 0, k = 0; i < kNumSlots; ++i)
        if (present[i])
            names.add (juce::String (slotName (i)) + ": " + sources[k++].getFileName());

    const auto isPad = sources.size() > 2;
    const auto describe = [&names, isPad] (const Grid& grid)
    {
        return names.joinIntoString (isPad ? ", " : "  <->  ") + "  ("
               + (isPad ? juce::String (grid.padSize()) + " x " + juce::String (grid.padSize()) + " pad, "
                        : juce::String (grid.steps()) + " steps, ")
               + juce::String (static_cast<double> (grid.numSamples()) / grid.sampleRateHz(), 2) + " s)";
    };

    const auto inMemory = GridCache::instance().find (GridCache::keyFor (sources, isPad ? kPadSize * kPadSize : kGridSteps, job.detail)).has_value();

    // A reopened project: the grid it played, read from the files its state names, before the backend
    // has even started; the backend is still asked below, and its answer replaces the grid if it differs.
    GridCache::Entry playing; // grid and files; no grid unless restored

    if (job.savedGrid.has_value() && ! inMemory)
    {
        if (const auto grid = loadSavedGrid (job, sources))
        {
            publish (grid);
            const std::lock_guard<std::mutex> lock (mutex_);

            if (isSuperseded (job.generation))
                return;

            playing.grid = grid;
            playing.files = *job.savedGrid;
            gridFiles_ = playing.files;
            requestStatus_ = withRoots ({ State::ready, describe (*grid) + " - from the disk cache" });
            completedGeneration_ = job.generation; // offline renders need not wait for the backend
            jobDone_.notify_all();
        }
    }

    // The cached grid keeps playing when the backend fails; the error joins its status.
    const auto fetchFailed = [this, &job, &fail, &playing] (const juce::String& error)
    {
        if (playing.grid == nullptr)
            return fail ({ State::error, error });

        const std::lock_guard<std::mutex> lock (mutex_);

        if (! isSuperseded (job.generation))
            requestStatus_.message << "; the backend failed: " << error;
    };

    // Four corners: a coarse pad first (unless the full one is at hand or a cached one plays), so that the slots play at once.
    if (isPad && ! inMemory && playing.grid == nullptr)
    {
        const auto coarse = fetchGrid (job, sources, kCoarsePadSize, playing);

        if (! coarse.has_value())
            return;

        if (const auto* error = std::get_if<juce::String> (&*coarse))
            return fail ({ State::error, *error });

        const auto& entry = std::get<GridCache::Entry> (*coarse);
        publish (entry.grid);
        const std::lock_guard<std::mutex> lock (mutex_);

        if (! isSuperseded (job.generation))
        {
            gridFiles_ = entry.files;
            requestStatus_ = withRoots ({ State::rendering, describe (*entry.grid) + " - rendering the " + juce::String (kPadSize) + " x "
                                                                + juce::String (kPadSize) + " pad..." });
        }
    }

    const auto fetched = fetchGrid (job, sources, isPad ? kPadSize : 0, playing);

    if (! fetched.has_value() || isSuperseded (job.generation))
        return;

    if (const auto* error = std::get_if<juce::String> (&*fetched))
        return fetchFailed (*error);

    const auto& entry = std::get<GridCache::Entry> (*fetched);

    if (playing.grid == nullptr || ! entry.files.sameGrid (playing.files)) // the same files: the same sound, not published twice
        publish (entry.grid);

    finish (job, withRoots ({ State::ready, describe (*entry.grid) }), entry);
}

std::shared_ptr<const Grid> SlotLoader::loadSavedGrid (const Job& job, const std::vector<juce::File>& sources) const
{
    const auto& saved = *job.savedGrid;
    const auto isPad = sources.size() > 2;
    const auto shapeFits = isPad ? saved.padSize == kCoarsePadSize || saved.padSize == kPadSize : saved.padSize == 0 && saved.steps == kGridSteps;

    if (! shapeFits || GridFiles::detailText (saved.detail) != GridFiles::detailText (job.detail))
        return nullptr;

    std::vector<juce::String> sha256;

    for (const auto& slot : job.slots)
        if (slot.path.isNotEmpty())
            sha256.push_back (slot.sha256);

    if (saved.matchesSources (sources, sha256).failed())
        return nullptr;

    try
    {
        return saved.read();
    }
    catch (const std::exception&)
    {
        return nullptr; // a removed, cut short or foreign file: the backend is asked as before
    }
}

std::optional<std::variant<GridCache::Entry, juce::String>> SlotLoader::fetchGrid (const Job& job, const std::vector<juce::File>& sources,
                                                                                   int padSize, const GridCache::Entry& known)
{
    const auto rows = padSize > 0 ? padSize * padSize : kGridSteps;
    const auto key = GridCache::keyFor (sources, rows, job.detail);

    if (auto cached = GridCache::instance().find (key))
        return std::move (*cached);

    std::array<bool, kNumSlots> present {};

    for (std::size_t i = 0; i < kNumSlots; ++i)
        present[i] = job.slots[i].path.isNotEmpty();

    const auto shouldAbandon = [this, &job]
    { return isSuperseded (job.generation); };

    if (padSize > kCoarsePadSize)
        return fetchPadByRows (sources, padWeights (padSize, present), padSize, job.detail, shouldAbandon, key, known);

    const auto reply = padSize > 0 ? BackendApi::renderBlend (sources, padWeights (padSize, present), job.detail, shouldAbandon)
                                   : BackendApi::renderGrid (sources, kGridSteps, job.detail, shouldAbandon);

    if (reply.error.abandoned())
        return std::nullopt;

    if (! reply.ok())
        return reply.error.message;

    GridCache::Entry loaded;

    if (const auto result = loadGrid (*reply.value, filesOf (*reply.value, padSize, job.detail, sources), known, loaded); result.failed())
        return result.getErrorMessage();

    GridCache::instance().insert (key, loaded);
    return loaded;
}

std::optional<std::variant<GridCache::Entry, juce::String>> SlotLoader::fetchPadByRows (const std::vector<juce::File>& sources,
                                                                                        const std::vector<std::vector<float>>& weights, int padSize,
                                                                                        float detail, const std::function<bool()>& shouldAbandon,
                                                                                        const juce::String& key, const GridCache::Entry& known)
{
    // One request per row of the pad: the backend holds padSize points at a time, not padSize^2, so its
    // peak memory stays that of the coarse pad (each row is rendered on its own there anyway). The rows'
    // files are then read as one pad (the backend keeps files served in the last 60 s; the pad takes a few).
    std::optional<BackendApi::GridReply> answer; // row 0's, with the first warning of any row
    GridFiles files;

    for (std::size_t row = 0; row < static_cast<std::size_t> (padSize); ++row)
    {
        const auto first = weights.begin() + static_cast<std::ptrdiff_t> (row * static_cast<std::size_t> (padSize));
        const auto reply = BackendApi::renderBlend (sources, { first, first + padSize }, detail, shouldAbandon);

        if (reply.error.abandoned())
            return std::nullopt;

        if (! reply.ok())
            return reply.error.message;

        const auto rowFiles = filesOf (*reply.value, 0, detail, sources);

        if (! answer.has_value())
        {
            answer = *reply.value;
            files = rowFiles;
            files.paths.clear();
        }
        else if (rowFiles.numSamples != files.numSamples || rowFiles.sampleRateHz != files.sampleRateHz || rowFiles.steps != padSize)
            return juce::String ("the rows of the XY pad came back with different lengths or sample rates");

        files.paths.push_back (reply.value->gridPath);

        if (answer->warning.isEmpty())
            answer->warning = reply.value->warning;
    }

    files.steps = padSize * padSize;
    files.padSize = padSize;
    GridCache::Entry loaded;

    if (const auto result = loadGrid (*answer, files, known, loaded); result.failed())
        return result.getErrorMessage();

    GridCache::instance().insert (key, loaded);
    return loaded;
}

std::shared_ptr<const Grid> SlotLoader::getGrid() const
{
    const std::lock_guard<std::mutex> lock (mutex_);
    return publishedGrid_;
}

void SlotLoader::publish (std::shared_ptr<const Grid> grid)
{
    {
        const std::lock_guard<std::mutex> lock (mutex_);
        publishedGrid_ = grid;
    }

    // The queue is only full when the audio thread has not run for many publishes; wait for it
    // (offline, waitUntilDone drains the queue from the audio thread).
    while (! engine_.publishGrid (grid))
    {
        if (stopping_)
            return;

        engine_.collectGarbage();
        std::this_thread::sleep_for (5ms);
    }

    engine_.collectGarbage();
}

void SlotLoader::finish (const Job& job, const Status& status, const GridCache::Entry& grid)
{
    const std::lock_guard<std::mutex> lock (mutex_);

    if (isSuperseded (job.generation))
        return;

    requestStatus_ = status;

    if (status.state != State::ready)
    {
        gridFiles_.reset();
        return;
    }

    gridFiles_ = grid.files;

    juce::StringArray warnings;

    if (grid.warning.isNotEmpty())
        warnings.add (grid.warning);

    // the grid's sources are the slots that have a path, in slot order
    for (std::size_t i = 0, k = 0; i < kNumSlots && k < grid.sourceSha256.size(); ++i)
    {
        if (job.slots[i].path.isEmpty())
            continue;

        const auto& sha256 = grid.sourceSha256[k++];

        if (job.slots[i].sha256.isNotEmpty() && job.slots[i].sha256 != sha256)
            warnings.add (juce::String ("slot ") + slotName (i) + " file differs from the one saved with the project (sha256 mismatch)");

        slots_[i].sha256 = sha256;
    }

    if (job.savedModelId.isNotEmpty() && job.savedModelId != grid.modelId)
        warnings.add ("saved with model " + job.savedModelId + ", now playing model " + grid.modelId);

    modelId_ = grid.modelId;

    if (! warnings.isEmpty())
        requestStatus_.message << " - warning: " << warnings.joinIntoString ("; ");
}

bool SlotLoader::isSuperseded (std::uint64_t generation) const noexcept
{
    return stopping_ || requestedGeneration_.load() != generation;
}

} // namespace latentmorph

// latentmorph_engine_rt_check: plays the engine through its audio-thread methods (beginBlock, MIDI,
// note-ons that steal, the pedal, parameter changes, polyphony changes, render, reset) while new grids
// are published between blocks (the grid thread's part, played by the same thread outside the checked
// scope), some faster than the voices' crossfades to them finish, and fails when any of those calls
// allocates, frees or locks, or when no block rendered a crossfade between grids.
//
//   latentmorph_engine_rt_check               exit 0: none did; 1: the calls and counts on stdout
//   latentmorph_engine_rt_check --self-test   allocates and locks inside the checked scope: must exit 1
//
// Debian bookworm has no RealtimeSanitizer: its newest clang, clang-19 (19.1.7), ships the runtime
// (libclang_rt.rtsan in libclang-rt-19-dev) but its driver does not know -fsanitize=realtime, which
// came with clang 20. So the check interposes the C allocator (operator new and delete call it) and
// the pthread lock functions: this executable's definitions take the place of libc's for the whole
// process, count the calls made on a thread inside a RealtimeScope, and forward to libc. Run by
// tests/test_engine.py.

#include "engine/Engine.h"

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <vector>

#include <dlfcn.h>
#include <pthread.h>
#include <semaphore.h>

extern "C" {
void* __libc_malloc (std::size_t);
void* __libc_calloc (std::size_t, std::size_t);
void* __libc_realloc (void*, std::size_t);
void* __libc_memalign (std::size_t, std::size_t);
void __libc_free (void*);
}

namespace {

enum Call
{
    kMalloc,
    kCalloc,
    kRealloc,
    kFree,
    kAlignedAlloc,
    kMutexLock,
    kMutexTrylock,
    kRwlockRead,
    kRwlockWrite,
    kSemWait,
    kNumCalls
};
constexpr const char* kCallNames[kNumCalls] = { "malloc", "calloc", "realloc", "free", "aligned alloc",
                                                "pthread_mutex_lock", "pthread_mutex_trylock", "pthread_rwlock_rdlock",
                                                "pthread_rwlock_wrlock", "sem_wait" };

std::atomic<int> counts[kNumCalls];
thread_local bool insideRealtimeScope = false;

void note (Call call) noexcept
{
    if (insideRealtimeScope)
        counts[call].fetch_add (1, std::memory_order_relaxed);
}

/** Counts `call` and passes `result` through. */
template <typename Result>
Result counted (Call call, Result result) noexcept
{
    note (call);
    return result;
}

/** Marks the calling thread as the audio thread while alive. */
struct RealtimeScope
{
    RealtimeScope() noexcept { insideRealtimeScope = true; }
    ~RealtimeScope() { insideRealtimeScope = false; }
    RealtimeScope (const RealtimeScope&) = delete;
    RealtimeScope& operator= (const RealtimeScope&) = delete;
};

template <typename Function>
Function next (const char* name)
{
    return reinterpret_cast<Function> (::dlsym (RTLD_NEXT, name));
}

using MutexFunction = int (*) (pthread_mutex_t*);
using RwlockFunction = int (*) (pthread_rwlock_t*);
using SemFunction = int (*) (sem_t*);
// Looked up before main(), so the checked scope never runs dlsym.
const MutexFunction realMutexLock = next<MutexFunction> ("pthread_mutex_lock");
const MutexFunction realMutexTrylock = next<MutexFunction> ("pthread_mutex_trylock");
const RwlockFunction realRwlockRead = next<RwlockFunction> ("pthread_rwlock_rdlock");
const RwlockFunction realRwlockWrite = next<RwlockFunction> ("pthread_rwlock_wrlock");
const SemFunction realSemWait = next<SemFunction> ("sem_wait");

/** Counts `call`, then locks with libc's function. That is null only while the dynamic loader
    itself locks, before main(): there is nothing to forward to yet, and only one thread. */
template <typename Lock>
int forwardLock (Call call, int (*real) (Lock*), Lock* lock)
{
    note (call);
    return real != nullptr ? real (lock) : 0;
}

} // namespace

extern "C" {

void* malloc (std::size_t size) { return counted (kMalloc, __libc_malloc (size)); }
void* calloc (std::size_t count, std::size_t size) { return counted (kCalloc, __libc_calloc (count, size)); }
void* realloc (void* pointer, std::size_t size) { return counted (kRealloc, __libc_realloc (pointer, size)); }
void* aligned_alloc (std::size_t alignment, std::size_t size) { return counted (kAlignedAlloc, __libc_memalign (alignment, size)); }
void* memalign (std::size_t alignment, std::size_t size) { return counted (kAlignedAlloc, __libc_memalign (alignment, size)); }

void free (void* pointer)
{
    if (pointer != nullptr)
        note (kFree);

    __libc_free (pointer);
}

int posix_memalign (void** out, std::size_t alignment, std::size_t size)
{
    *out = counted (kAlignedAlloc, __libc_memalign (alignment, size));
    return *out != nullptr || size == 0 ? 0 : ENOMEM;
}

int pthread_mutex_lock (pthread_mutex_t* mutex) { return forwardLock (kMutexLock, realMutexLock, mutex); }
int pthread_mutex_trylock (pthread_mutex_t* mutex) { return forwardLock (kMutexTrylock, realMutexTrylock, mutex); }
int pthread_rwlock_rdlock (pthread_rwlock_t* lock) { return forwardLock (kRwlockRead, realRwlockRead, lock); }
int pthread_rwlock_wrlock (pthread_rwlock_t* lock) { return forwardLock (kRwlockWrite, realRwlockWrite, lock); }
int sem_wait (sem_t* semaphore) { return forwardLock (kSemWait, realSemWait, semaphore); }

} // extern "C"

namespace {

using latentmorph::Engine;
using latentmorph::Grid;

constexpr double kSampleRateHz = 44100.0;
constexpr int kMaxBlockSize = 512;

std::shared_ptr<const Grid> makeGrid (int steps, std::size_t numSamples, float level, int padSize = 0)
{
    std::vector<float> pcm (static_cast<std::size_t> (steps) * numSamples);

    for (std::size_t i = 0; i < pcm.size(); ++i)
        pcm[i] = level * static_cast<float> ((i * 7919) % 1000) / 1000.0f - level / 2;

    return std::make_shared<const Grid> (std::move (pcm), steps, numSamples, kSampleRateHz, padSize);
}

void midi (Engine& engine, std::uint8_t status, std::uint8_t data1, std::uint8_t data2)
{
    const std::uint8_t bytes[] = { status, data1, data2 };
    engine.handleMidiMessage (bytes, 3);
}

/** One block as a host plays it, every audio-thread method used: the block number picks what happens. */
bool playBlock (Engine& engine, int block, std::vector<float>& out)
{
    const RealtimeScope audioThread;
    engine.beginBlock(); // takes a grid published since the last block, retiring the old one
    engine.setMorph (static_cast<float> (block % 11) / 10.0f);
    engine.setGainDb (static_cast<float> (block % 7) - 6.0f);
    engine.setAttackMs (static_cast<float> (block % 5));
    engine.setDecayMs (50.0f + static_cast<float> (block % 3) * 100.0f);
    engine.setSustain (static_cast<float> (block % 4) / 4.0f);
    engine.setReleaseMs (10.0f + static_cast<float> (block % 9) * 20.0f);
    engine.setRootNote (60 + block % 3);
    engine.setPolyphony (block % 40 < 20 ? 16 : 1 + block % 64); // lowering it steals
    engine.setBendRange (static_cast<float> (block % 13));
    engine.setModWheelMorph (static_cast<float> (block % 5) / 2.0f - 1.0f);
    engine.setVelocityCurve (static_cast<float> (block % 4) / 2.0f);
    engine.setVelocityMorph (static_cast<float> (block % 3) / 2.0f - 0.5f);
    engine.setRootNoteB (58 + block % 7); // roots that differ: the pitch follows the morph
    engine.setFineTune (block % 4, static_cast<float> (block % 21) * 5.0f - 50.0f);
    engine.setMorphY (static_cast<float> (block % 9) / 8.0f);
    engine.setAftertouchMorphY (static_cast<float> (block % 5) / 2.0f - 1.0f);
    engine.setRootNoteC (55 + block % 5); // the pad's corners at their own roots
    engine.setRootNoteD (62 + block % 4);
    engine.setStartMs (static_cast<float> (block % 4) * 20.0f);
    engine.setVoiceMode ((block / 7) % 3); // poly, mono, legato
    engine.setGlideMs (static_cast<float> (block % 3) * 30.0f);
    engine.setLoopMode (block % 2);
    engine.setLoopCrossfadeMs (static_cast<float> (block % 4) * 10.0f);
    engine.setLoopPointsMs (static_cast<float> (block % 3) * 10.0f, static_cast<float> (block % 5) * 20.0f);     // some unset
    midi (engine, 0xe0, static_cast<std::uint8_t> (block % 128), static_cast<std::uint8_t> ((block * 3) % 128)); // pitch bend
    midi (engine, 0xb0, 1, static_cast<std::uint8_t> ((block * 7) % 128));                                       // mod wheel
    const std::uint8_t pressure[] = { 0xd0, static_cast<std::uint8_t> ((block * 11) % 128) };                    // channel aftertouch
    engine.handleMidiMessage (pressure, 2);

    for (int note = 0; note < 24; ++note) // more notes than voices: steals, and fades beside them
        engine.noteOn (36 + (block * 5 + note) % 60, 1 + (note * 13) % 127);

    midi (engine, 0xb0, 64, block % 2 == 0 ? 127 : 0); // sustain pedal
    midi (engine, 0x80, static_cast<std::uint8_t> (36 + block % 60), 0);
    midi (engine, 0x90, static_cast<std::uint8_t> (40 + block % 60), 0); // note-on with velocity 0: a note-off

    // A long block (processed in pieces), a short one and an odd one.
    const int length = block % 3 == 0 ? 3 * kMaxBlockSize : block % 3 == 1 ? 1
                                                                           : 333;
    engine.render (out.data(), length / 2);
    const auto crossfaded = engine.crossfadingGrids(); // voices read two grids in this render
    engine.render (out.data(), length - length / 2);

    if (block % 13 == 0)
        midi (engine, 0xb0, 123, 0); // all notes off

    if (block % 17 == 0)
        midi (engine, 0xb0, 120, 0); // all sound off

    if (block % 19 == 0)
        midi (engine, 0xb0, 121, 0); // reset all controllers

    engine.noteOff (36 + block % 60);

    if (block % 29 == 0)
        engine.reset();

    return crossfaded;
}

int run (bool selfTest)
{
    Engine engine;
    engine.prepare (kSampleRateHz, kMaxBlockSize);
    std::vector<float> out (3 * kMaxBlockSize);
    constexpr int kBlocks = 400;
    int crossfades = 0;

    for (int block = 0; block < kBlocks; ++block)
    {
        // The grid thread: publish a new grid of another size, free the retired ones; from block 300 on,
        // two grids (latest wins) in two of every three blocks, faster than the crossfades finish.
        if (block % 50 == 0 || (block > 300 && block % 3 != 0))
        {
            // every other one an XY pad (3 x 3, then 9 x 9), as four slots load
            const auto pad = (block / 50) % 2 == 1 ? (block < 200 ? 3 : 9) : 0;
            auto grid = makeGrid (pad > 0 ? pad * pad : 2 + block / 50, 4000 + static_cast<std::size_t> (block) * 10, 0.5f, pad);
            engine.publishGrid (grid);

            if (block > 300)
            {
                auto superseding = makeGrid (pad > 0 ? pad * pad : 3, 6000, 0.4f, pad);
                engine.publishGrid (superseding);
            }

            engine.collectGarbage();
        }

        crossfades += playBlock (engine, block, out) ? 1 : 0;
    }

    if (selfTest)
    {
        const RealtimeScope audioThread;
        std::vector<float> allocated (1000, 1.0f);
        std::mutex mutex;
        const std::lock_guard<std::mutex> lock (mutex);
        std::printf ("self-test: allocated %zu floats under a lock\n", allocated.size());
    }

    int total = 0;

    for (int call = 0; call < kNumCalls; ++call)
    {
        if (const auto count = counts[call].load(); count > 0)
        {
            std::printf ("audio thread called %s %d times\n", kCallNames[call], count);
            total += count;
        }
    }

    if (total > 0)
        return 1;

    if (crossfades == 0)
    {
        std::printf ("no block crossfaded between grids: the check misses that path\n");
        return 1;
    }

    std::printf ("%d blocks (%d crossfading grids): no allocation, free or lock on the audio thread\n", kBlocks, crossfades);
    return 0;
}

} // namespace

int main (int argc, char* argv[])
{
    const auto selfTest = argc == 2 && std::strcmp (argv[1], "--self-test") == 0;

    if (argc > 2 || (argc == 2 && ! selfTest))
    {
        std::fprintf (stderr, "usage: %s [--self-test]\n", argv[0]);
        return 2;
    }

    return run (selfTest);
}

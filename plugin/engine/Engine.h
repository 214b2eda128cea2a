#pragma once

#include "engine/Adsr.h"
#include "engine/Grid.h"
#include "engine/SpscQueue.h"

#include <cstdint>
#include <memory>
#include <vector>

namespace latentmorph {

/** The polyphonic voice engine: plays a morph Grid across the keyboard.

    Threads. The engine has two sides:
    - the *audio thread* calls the real-time safe methods (beginBlock, the note methods, the
      parameter setters, render, reset); they never allocate, lock, log or throw;
    - one *grid thread* (a single non-audio thread at a time) calls publishGrid and collectGarbage.
    prepare() and the constructor/destructor must not run concurrently with either.

    Grid handover. publishGrid pushes a grid onto a lock-free SPSC queue; the audio thread takes the
    newest one in beginBlock and pushes the grid it replaces onto a second SPSC queue; collectGarbage
    empties that queue on the grid thread, so a grid's memory is never released on the audio thread.

    Sound. A voice reads the grid at pitch ratio 2^((note - root_note) / 12) * grid_sr / host_sr with
    4-point cubic Hermite (Catmull-Rom) interpolation. Its output is the crossfade of the two renders
    nearest the smoothed morph: pos = morph * (K - 1), i = floor(pos) (at most K - 2), frac = pos - i,
    out = (1 - frac) * r_i + frac * r_{i+1}. Level = (velocity / 127) * ADSR, summed over voices, times
    the smoothed output gain 10^(gain_db / 20). Morph and gain follow their targets with a one-pole
    smoother (20 ms time constant) so knob moves do not click; reset() jumps them to the target.
    Rendering is sample-accurate and independent of how the caller splits it into blocks.
*/
class Engine
{
public:
    static constexpr int kDefaultMaxVoices = 16;
    static constexpr double kSmoothingTimeMs = 20.0;

    /** Allocates `maxVoices` (>= 1) voices. Not real-time safe. */
    explicit Engine (int maxVoices = kDefaultMaxVoices);

    /** Sets the host sample rate and the longest block render() will usually get (longer ones are
        processed in pieces). Allocates, resets all voices. Not real-time safe. */
    void prepare (double hostSampleRateHz, int maxBlockSize);

    /** Silences all voices and jumps the smoothers to their targets. Real-time safe, does not allocate. */
    void reset() noexcept;

    //==============================================================================
    // Grid thread.

    /** Queues `grid` (nullptr = no grid, silence) for the audio thread to take at its next beginBlock().
        Returns false, leaving `grid` with the caller, when the queue is full (the audio thread has not
        run for many publishes); call collectGarbage() and retry later. Lock-free; does not allocate. */
    bool publishGrid (std::shared_ptr<const Grid>& grid) noexcept;

    /** Releases grids the audio thread has retired. May free memory: never call it on the audio thread. */
    void collectGarbage();

    //==============================================================================
    // Audio thread. All real-time safe: no allocation, locks or exceptions.

    /** Takes the most recently published grid, if any, retiring the one it replaces.
        Held voices keep their position and continue on the new grid (or stop if it is empty). */
    void beginBlock() noexcept;

    /** Starts a voice (stealing the oldest when all are busy). Velocity 1..127; 0 means note-off.
        Ignored when there is no grid. */
    void noteOn (int note, int velocity) noexcept;

    /** Releases every held voice playing `note`. */
    void noteOff (int note) noexcept;

    /** Releases every held voice. */
    void allNotesOff() noexcept;

    /** Writes `numSamples` mono samples to `out` (overwriting it) and advances time. */
    void render (float* out, int numSamples) noexcept;

    void setMorph (float morph) noexcept;                  ///< 0..1, clamped
    void setGainDb (float gainDb) noexcept;                ///< output gain in dB
    void setAttackMs (float attackMs) noexcept;            ///< >= 0
    void setDecayMs (float decayMs) noexcept;              ///< >= 0
    void setSustain (float sustainLevel) noexcept;         ///< 0..1 linear, clamped
    void setReleaseMs (float releaseMs) noexcept;          ///< >= 0 (at least one sample)
    void setRootNote (int rootNote) noexcept;              ///< MIDI note that plays the grid at its own pitch

    float morph() const noexcept { return morphTarget_; }
    float gainDb() const noexcept { return gainDb_; }
    float attackMs() const noexcept { return attackMs_; }
    float decayMs() const noexcept { return decayMs_; }
    float sustain() const noexcept { return sustainLevel_; }
    float releaseMs() const noexcept { return releaseMs_; }
    int rootNote() const noexcept { return rootNote_; }

    int activeVoiceCount() const noexcept;
    int maxVoices() const noexcept { return static_cast<int> (voices_.size()); }
    bool hasGrid() const noexcept { return grid_ != nullptr; }

private:
    struct Voice
    {
        bool active = false;
        int note = 0;
        float velocityGain = 0.0f;
        std::uint64_t startOrder = 0;   ///< for stealing the oldest voice
        double positionSamples = 0.0;   ///< read position in grid samples
        Adsr envelope;
    };

    /** One-pole lowpass towards a target: y += coefficient * (target - y), once per sample. */
    struct Smoother
    {
        float current = 0.0f;
        float target = 0.0f;
        float coefficient = 1.0f;

        float next() noexcept { return current += coefficient * (target - current); }
    };

    void updateEnvelopeShape() noexcept;
    void renderVoice (Voice& voice, float* out, const float* morphPositions, int numSamples) noexcept;

    std::vector<Voice> voices_;
    std::vector<float> morphScratch_;   ///< per-sample smoothed morph position in steps, pos = morph * (K - 1)
    std::vector<float> gainScratch_;    ///< per-sample smoothed linear output gain
    std::uint64_t nextStartOrder_ = 0;

    double hostSampleRateHz_ = 44100.0;
    float morphTarget_ = 0.0f, gainDb_ = 0.0f;
    float attackMs_ = 2.0f, decayMs_ = 200.0f, sustainLevel_ = 1.0f, releaseMs_ = 200.0f;
    int rootNote_ = 60;
    Adsr::Shape envelopeShape_;
    Smoother morphSmoother_, gainSmoother_;

    std::shared_ptr<const Grid> grid_;   // owned by the audio thread
    static constexpr std::size_t kQueueCapacity = 16;
    SpscQueue<std::shared_ptr<const Grid>, kQueueCapacity> published_;   // grid thread -> audio thread
    SpscQueue<std::shared_ptr<const Grid>, kQueueCapacity> retired_;     // audio thread -> grid thread
};

} // namespace latentmorph

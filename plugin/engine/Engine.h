#pragma once

#include "engine/Adsr.h"
#include "engine/Grid.h"
#include "engine/SpscQueue.h"

#include <algorithm>
#include <cstdint>
#include <memory>
#include <vector>

namespace latentmorph {

/** The polyphonic voice engine: plays a morph Grid across the keyboard.

    Threads. The engine has two sides:
    - the *audio thread* calls the real-time safe methods (beginBlock, the note, pedal and MIDI
      methods, the parameter setters, render, reset); they never allocate, lock, log or throw;
    - one *grid thread* (a single non-audio thread at a time) calls publishGrid and collectGarbage.
    prepare() and the constructor/destructor must not run concurrently with either.

    Grid handover. publishGrid pushes a grid onto a lock-free SPSC queue; the audio thread takes the
    newest one in beginBlock and pushes the grid it replaces onto a second SPSC queue; collectGarbage
    empties that queue on the grid thread, so a grid's memory is never released on the audio thread.

    Grid crossfade. A new grid taken while voices sound (the coarse 3 x 3 pad replaced by the full
    9 x 9 one, a reopened project's cached grid replaced by the backend's, a slot changed while notes
    ring) does not jump: each voice then sounding fades linearly from the old grid to the new one over
    kGridCrossfadeMs (15 ms = round(0.015 * 44100) = 662 samples at 44100 Hz): its k-th sample after
    the swap (k = 0 .. n - 1) is (1 - g) * old + g * new with g = (k + 1) / n, so the n-th is the new
    grid's alone, sample for sample. Equal gain, not equal power: the grids that replace each other
    are mostly renders of the same sound (coarse and full pad, cached and fresh), correlated content
    whose level a linear fade keeps while an equal-power fade would bump it by up to 3 dB; for
    unrelated content (a new sample) the linear fade dips by at most 3 dB for 15 ms, and it ends
    bit-exact on the new grid. The voice reads the old grid on from where it was, without looping,
    at the same pitch (old-grid position += increment * oldRate / newRate), and the new grid at the
    same time in the sample (its position rescaled to the new rate); past either grid's end it reads
    silence, and it ends when it has passed both ends. Voices started after the swap play the new
    grid alone. The old grid is kept until the fade ends and only then retired (at the next
    beginBlock), so nothing is freed on the audio thread. Grids arriving faster than fades finish:
    beginBlock keeps draining the queue into one pending grid (latest wins; a superseded pending grid
    is retired unplayed) and takes it when the current fade has ended, so a voice only ever fades
    between two grids, never steps, and ends on the latest grid (at most one fade and one block
    later). A grid taken with no voice sounding, a re-published identical grid and nullptr (silence:
    voices stop at once, as before) do not fade; reset() ends a fade. Cost: a fading voice reads two
    grids, about twice a voice's cost, for 15 ms.

    Sound. A voice reads the grid at pitch ratio 2^((note + bend - root(m)) / 12) * grid_sr / host_sr
    with 4-point cubic Hermite (Catmull-Rom) interpolation, from start_ms into the sample. Its output is
    the crossfade of the two renders nearest its morph m: pos = m * (K - 1), i = floor(pos) (at most
    K - 2), frac = pos - i, out = (1 - frac) * r_i + frac * r_{i+1}. Level = (velocity / 127)^curve * ADSR,
    summed over voices, times the smoothed output gain 10^(gain_db / 20). Rendering is sample-accurate
    and independent of how the caller splits it into blocks.

    XY pad. A grid with padSize() N > 0 holds an N x N lattice of four corners A (0, 0), B (1, 0),
    C (0, 1), D (1, 1) (Grid); a voice at (m, my) plays the bilinear blend of the four lattice points
    around it: the 1-D crossfade above along x in the row below my and in the row above, crossfaded by
    my's fraction. On a line grid (two slots) morph_y is ignored, so two slots play as before, sample
    for sample. morph_y is smoothed as the morph, its target clamp(morph_y + aftertouch_morph_y *
    pressure / 127, 0, 1) (channel pressure 0xDn, 2 bytes).

    Morph. The smoothed morph is clamp(morph + mod_wheel_morph * cc1 / 127, 0, 1), following its target
    with a one-pole smoother (20 ms time constant, as the gain) so knob and wheel moves do not click;
    reset() jumps both to their targets. A voice adds its velocity offset, velocity_morph * velocity / 127,
    fixed at its note-on: m = clamp(smoothed + offset, 0, 1).

    Tuning. Slot A (row 0) plays at its own pitch on root_note + fine_tune_a_cents / 100 and slot B
    (row K - 1) on root_note_b + fine_tune_b_cents / 100; a voice at morph m uses the root interpolated
    linearly in semitones, root(m) = (1 - m) * rootA + m * rootB, so both ends play in tune across the
    keyboard; on a pad the four corners' roots (C: root_note_c, D: root_note_d) are interpolated
    bilinearly in semitones at (m, my). Pitch bend (0xEn, 14 bits centred on 8192) adds bend = range * (value - 8192) / 8191 (above
    the centre; / 8192 below) semitones, so +8191 is exactly +range; it applies from its MIDI event on.

    One-shots. A voice plays its sample once, to its end, however long the key is held: a note an
    octave above the root reads the grid twice as fast and so ends after half the sample's length
    (a 1.5 s bell on C5 with root C4 is silent after 0.75 s). Nothing else ends a held voice.
    Sustain loop (loop_mode 1): the voice repeats the grid's loop [loopStart, loopEnd) (Grid,
    findSustainLoop) until its release ends; over the last loop_crossfade_ms (at most half the loop)
    before loopEnd it fades linearly into the same place one loop length earlier, so the jump back
    to loopStart is seamless. setLoopPointsMs sets the user's loop instead (when end > start).

    Voice modes. Poly (default) as above. Mono and legato play one voice, with last-note priority over
    the keys held: a key pressed while another is held takes over, and releasing it returns to the most
    recent key still held. Mono starts a new voice each time (the old one fades out in kStealFadeMs);
    legato keeps the sounding voice (its envelope and its place in the sample) and only moves its pitch.
    With glide_ms > 0 the pitch moves linearly in semitones from the previous note's over glide_ms.

    Controllers. Pitch bend, mod wheel and the pedal keep their values until reset() (or CC 121, reset
    all controllers) puts them back to centre, 0 and up.

    Sustain pedal (MIDI CC 64). While the pedal is down a note-off does not release the note's held
    voices; it marks them sustained, and lifting the pedal releases every sustained voice (normal
    release_ms from its current level). A sustained note struck again starts a new voice as usual;
    the old one keeps sounding until the pedal goes up. allNotesOff() (CC 123) releases every voice at
    once, sustained or not, and leaves the pedal as it is; allSoundOff() (CC 120) fades every voice to 0 in
    kStealFadeMs (3 ms) instead of its release; reset() lifts the pedal.

    Polyphony. At most polyphony() voices (1 .. kMaxPolyphony, default 16; the plugin's `polyphony`
    parameter) play at once. A note-on when all of them are busy steals the oldest (by note-on order,
    held or releasing): the stolen voice fades linearly to exactly 0 in kStealFadeMs (3 ms =
    round(0.003 * 44100) = 132 samples at 44100 Hz) from its current level, instead of stopping with
    a click, while the new note starts at once, sample-accurately, on a free slot. Lowering the
    polyphony while more voices play steals the oldest ones the same way. The slots are allocated once,
    2 * kMaxPolyphony of them: the playing voices never take more than kMaxPolyphony, so the others
    always have room for fading voices, even when a full chord steals every voice at once (e.g. over a
    pedal-held chord). Only when more than kMaxPolyphony steals fall within 3 ms does a note-on cut the
    quietest fading voice outright. Cost: up to 2 * polyphony() voices render for the 3 ms after steals.

    Gain staging and output limiter. Voices are not scaled by the polyphony: a voice alone plays its
    sample at full scale, sample for sample. The mix (after the output gain) goes through a peak
    limiter with its ceiling at exactly 1.0 (0 dBFS) and no lookahead (no latency): its gain drops at
    once to ceiling / |x| on a sample that would go over, and recovers exponentially to exactly 1
    (time constant kLimiterReleaseMs = 50 ms); the result is clamped to [-1, 1] against rounding.
    While the gain is 1 the limiter is the identity, bit for bit: a mix that never goes over 1.0 in
    magnitude, such as a single voice of a sample peaking at 1.0, is untouched.
*/
class Engine
{
public:
    static constexpr int kDefaultPolyphony = 16;
    static constexpr int kMaxPolyphony = 64;
    static constexpr double kSmoothingTimeMs = 20.0;
    static constexpr double kStealFadeMs = 3.0;       ///< fade-out of a stolen voice, see "Polyphony"
    static constexpr float kLimiterCeiling = 1.0f;    ///< output peak limit (0 dBFS), see "Gain staging"
    static constexpr double kLimiterReleaseMs = 50.0; ///< limiter release time constant
    static constexpr double kGridCrossfadeMs = 15.0;  ///< held voices' fade to a new grid, see "Grid crossfade"

    /** Allocates all 2 * kMaxPolyphony voice slots and sets the polyphony. Not real-time safe. */
    explicit Engine (int polyphony = kDefaultPolyphony);

    /** Sets the host sample rate and the longest block render() will usually get (longer ones are
        processed in pieces). Allocates, resets all voices. Not real-time safe. */
    void prepare (double hostSampleRateHz, int maxBlockSize);

    /** Silences all voices, lifts the sustain pedal, jumps the smoothers to their targets and the
        limiter to unity gain. Real-time safe, does not allocate. */
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

    /** Takes the most recently published grid, if any, retiring the one it replaces (after the crossfade
        of the voices sounding, see "Grid crossfade"; a nullptr grid stops them at once). */
    void beginBlock() noexcept;

    /** Starts a voice at once (when all polyphony() voices are busy, the oldest fades out in kStealFadeMs).
        Velocity 1..127; 0 means note-off. Ignored when there is no grid. */
    void noteOn (int note, int velocity) noexcept;

    /** Releases every held voice playing `note`, or marks it sustained while the pedal is down. */
    void noteOff (int note) noexcept;

    /** Releases every voice now, sustained ones included; the pedal state is kept. */
    void allNotesOff() noexcept;

    /** Fades every voice out in kStealFadeMs (a short fade, not the release). */
    void allSoundOff() noexcept;

    /** Sustain pedal down or up (MIDI CC 64, value >= 64 = down). Up releases the sustained voices. */
    void setSustainPedal (bool down) noexcept;

    /** Applies one raw MIDI message, any channel: note-on 0x9n (velocity 0 = note-off), note-off 0x8n,
        pitch bend 0xEn, channel pressure 0xDn (2 bytes), control change 0xBn 1 (mod wheel), 64 (sustain pedal), 120 (all sound off ->
        allSoundOff()), 121 (reset all controllers, pressure included) and 123 (all notes off -> allNotesOff()). Everything
        else, and anything else shorter than 3 bytes, is ignored. The plugin and the Python bindings both
        route MIDI through here. */
    void handleMidiMessage (const std::uint8_t* bytes, int numBytes) noexcept;

    /** Writes `numSamples` mono samples, limited to [-1, 1], to `out` (overwriting it) and advances time. */
    void render (float* out, int numSamples) noexcept;

    void setMorph (float morph) noexcept;                                   ///< 0..1, clamped
    void setMorphY (float morphY) noexcept;                                 ///< XY pad's y, 0..1, clamped
    void setAftertouchMorphY (float amount) noexcept;                       ///< added to morph_y at pressure 127, -1..1
    void setChannelPressure (int value7) noexcept;                          ///< 0..127 (MIDI channel aftertouch)
    void setGainDb (float gainDb) noexcept;                                 ///< output gain in dB
    void setAttackMs (float attackMs) noexcept;                             ///< >= 0
    void setDecayMs (float decayMs) noexcept;                               ///< >= 0
    void setSustain (float sustainLevel) noexcept;                          ///< 0..1 linear, clamped
    void setReleaseMs (float releaseMs) noexcept;                           ///< >= 0 (at least one sample)
    void setRootNote (int rootNote) noexcept;                               ///< MIDI note that plays the grid at its own pitch
    void setPolyphony (int polyphony) noexcept;                             ///< 1..kMaxPolyphony, clamped; excess voices are stolen
    void setBendRange (float semitones) noexcept;                           ///< pitch bend at +8191, >= 0
    void setModWheelMorph (float amount) noexcept;                          ///< added to morph at CC 1 = 127, -1..1
    void setVelocityCurve (float exponent) noexcept;                        ///< level = (velocity / 127)^exponent, >= 0
    void setVelocityMorph (float amount) noexcept;                          ///< added to a note's morph at velocity 127, -1..1
    void setRootNoteB (int rootNote) noexcept;                              ///< MIDI note that plays slot B (the last row) at its pitch
    void setRootNoteC (int rootNote) noexcept;                              ///< MIDI note that plays corner C at its pitch (a pad)
    void setRootNoteD (int rootNote) noexcept;                              ///< MIDI note that plays corner D at its pitch (a pad)
    void setFineTune (int slot, float cents) noexcept;                      ///< slot 0..3 (A..D): cents added to its root note
    void setStartMs (float startMs) noexcept;                               ///< where in the sample notes start, ms, >= 0
    void setVoiceMode (int mode) noexcept;                                  ///< 0 poly, 1 mono, 2 legato (clamped)
    void setLoopMode (int mode) noexcept { loopMode_ = mode == 1 ? 1 : 0; } ///< 0 one-shot, 1 sustain loop
    void setLoopCrossfadeMs (float ms) noexcept { loopCrossfadeMs_ = std::max (0.0f, ms); }

    /** The user's loop in ms of the sample; used when endMs > startMs (cut at the sample's end), else
        the grid's own loop. */
    void setLoopPointsMs (float startMs, float endMs) noexcept
    {
        loopStartMs_ = std::max (0.0f, startMs);
        loopEndMs_ = std::max (0.0f, endMs);
    }
    void setGlideMs (float glideMs) noexcept; ///< >= 0
    void setPitchBend (int value14) noexcept; ///< 0..16383, 8192 = centre (as in MIDI)
    void setModWheel (int value7) noexcept;   ///< 0..127

    float morph() const noexcept { return morphTarget_; }
    float morphY() const noexcept { return morphYTarget_; }
    float aftertouchMorphY() const noexcept { return aftertouchMorphY_; }
    int rootNoteC() const noexcept { return rootNoteC_; }
    int rootNoteD() const noexcept { return rootNoteD_; }
    float gainDb() const noexcept { return gainDb_; }
    float attackMs() const noexcept { return attackMs_; }
    float decayMs() const noexcept { return decayMs_; }
    float sustain() const noexcept { return sustainLevel_; }
    float releaseMs() const noexcept { return releaseMs_; }
    int rootNote() const noexcept { return rootNote_; }
    int polyphony() const noexcept { return polyphony_; }
    float bendRange() const noexcept { return bendRange_; }
    float modWheelMorph() const noexcept { return modWheelMorph_; }
    float velocityCurve() const noexcept { return velocityCurve_; }
    float velocityMorph() const noexcept { return velocityMorph_; }
    int rootNoteB() const noexcept { return rootNoteB_; }
    float fineTune (int slot) const noexcept { return fineTuneCents_[std::clamp (slot, 0, 3)]; }
    float startMs() const noexcept { return startMs_; }
    int voiceMode() const noexcept { return voiceMode_; }
    int loopMode() const noexcept { return loopMode_; }
    float loopCrossfadeMs() const noexcept { return loopCrossfadeMs_; }
    float glideMs() const noexcept { return glideMs_; }
    float pitchBendSemitones() const noexcept { return bendSemitones_; }
    bool sustainPedal() const noexcept { return sustainPedalDown_; }

    /** Sounding voices, fading stolen ones included: 0 .. 2 * kMaxPolyphony. */
    int activeVoiceCount() const noexcept;
    bool hasGrid() const noexcept { return grid_ != nullptr; }
    /** Whether voices are fading from an old grid to the current one now (see "Grid crossfade"). */
    bool crossfadingGrids() const noexcept { return fadeFrom_ != nullptr && gridFadeDone_ < gridFadeSamples_; }

    /** The sustain loop voices use, in grid samples: the user's (setLoopPointsMs) or the grid's own
        (Grid::loopStart, loopEnd); {0, 0} without a grid or loop. */
    std::pair<std::size_t, std::size_t> gridLoop() const noexcept;

private:
    struct Voice
    {
        bool active = false;
        bool sustained = false; ///< note-off came while the pedal was down; released on pedal up
        bool stolen = false;    ///< fading out after a steal; no longer counts towards polyphony()
        int note = 0;
        float velocityGain = 0.0f;
        float morphOffset = 0.0f;     ///< velocity_morph * velocity / 127, fixed at note-on
        std::uint64_t startOrder = 0; ///< for stealing the oldest voice
        double positionSamples = 0.0; ///< read position in grid samples
        double fadePosition = 0.0;    ///< read position in the old grid's samples while crossfading to a new grid
        bool gridFading = false;      ///< sounded when the grid was swapped: reads fadeFrom_ too until the fade ends
        double pitch = 0.0;           ///< the note it sounds now, semitones (between notes while gliding)
        double glideStep = 0.0;       ///< added to pitch per sample while glideLeft > 0
        long glideLeft = 0;           ///< samples of glide left; pitch is `note` when it ends
        Adsr envelope;
    };

    /** One-pole lowpass towards a target: y += coefficient * (target - y), once per sample. Where a float
        step no longer moves y (within ~5e-5 of the target at 20 ms), y takes the target, so a settled
        morph plays exactly what the same morph set directly plays. */
    struct Smoother
    {
        float current = 0.0f;
        float target = 0.0f;
        float coefficient = 1.0f;

        float next() noexcept
        {
            const auto stepped = current + coefficient * (target - current);
            return current = (stepped == current ? target : stepped);
        }
    };

    void updateEnvelopeShape() noexcept;
    void stealOldestVoices (int keep) noexcept;
    float limit (float sample) noexcept;
    void updateMorphTarget() noexcept;
    template <typename Value>
    void setMorphInput (Value& field, Value value, Value lowest, Value highest) noexcept; ///< clamps, then updates the targets
    void startVoice (int note, int velocity, double fromPitch) noexcept;
    void glideTo (Voice& voice, int note) noexcept;
    Voice* monoVoice() noexcept;
    int lastHeldKey() const noexcept;
    void renderVoice (Voice& voice, float* out, const float* morphs, const float* morphYs, int numSamples) noexcept;
    void takeGrid() noexcept; ///< swaps pending_ in (beginBlock), starting a crossfade when voices sound

    std::vector<Voice> voices_; ///< 2 * kMaxPolyphony slots, see "Polyphony"
    int polyphony_ = kDefaultPolyphony;
    long stealFadeSamples_ = 1; ///< kStealFadeMs at the host sample rate, >= 1
    bool sustainPedalDown_ = false;
    std::vector<float> morphScratch_;  ///< per-sample smoothed morph, 0..1 (before a voice's velocity offset)
    std::vector<float> morphYScratch_; ///< per-sample smoothed morph_y, 0..1
    std::vector<float> gainScratch_;   ///< per-sample smoothed linear output gain
    std::uint64_t nextStartOrder_ = 0;
    float limiterReduction_ = 0.0f;     ///< 1 - the limiter's gain; 0 = unity, the identity
    float limiterReleaseFactor_ = 0.0f; ///< per-sample decay of limiterReduction_: exp(-1 / (50 ms * sr))

    double hostSampleRateHz_ = 44100.0;
    float morphTarget_ = 0.0f, gainDb_ = 0.0f;
    float attackMs_ = 2.0f, decayMs_ = 200.0f, sustainLevel_ = 1.0f, releaseMs_ = 200.0f;
    int rootNote_ = 60, rootNoteB_ = 60, rootNoteC_ = 60, rootNoteD_ = 60;
    float fineTuneCents_[4] = { 0.0f, 0.0f, 0.0f, 0.0f };
    float morphYTarget_ = 0.0f, aftertouchMorphY_ = 0.0f;
    int pressure_ = 0; ///< the last channel pressure (MIDI)
    float bendRange_ = 2.0f, modWheelMorph_ = 0.0f, velocityCurve_ = 1.0f, velocityMorph_ = 0.0f, startMs_ = 0.0f;
    int pitchBend_ = 8192, modWheel_ = 0; ///< the last controller values (MIDI)
    int voiceMode_ = 0, loopMode_ = 0;
    float loopCrossfadeMs_ = 30.0f, loopStartMs_ = 0.0f, loopEndMs_ = 0.0f;
    float glideMs_ = 0.0f;
    std::uint64_t keyOrder_ = 0;
    std::uint64_t heldKeys_[128] = {}; ///< mono/legato: when each key went down (0 = up), for last-note priority
    int keyVelocity_[128] = {};
    double bendSemitones_ = 0.0;
    Adsr::Shape envelopeShape_;
    Smoother morphSmoother_, morphYSmoother_, gainSmoother_;

    std::shared_ptr<const Grid> grid_;     // owned by the audio thread
    std::shared_ptr<const Grid> fadeFrom_; // the grid voices fade out of; retired once gridFadeDone_ reaches gridFadeSamples_
    std::shared_ptr<const Grid> pending_;  // the newest published grid waiting for a fade to end (hasPending_)
    bool hasPending_ = false;
    long gridFadeSamples_ = 1;   ///< kGridCrossfadeMs at the host sample rate, >= 1
    long gridFadeDone_ = 0;      ///< samples rendered since the swap; the fade is over at gridFadeSamples_
    double fadeRateRatio_ = 1.0; ///< fadeFrom_'s sample rate / grid_'s
    static constexpr std::size_t kQueueCapacity = 16;
    SpscQueue<std::shared_ptr<const Grid>, kQueueCapacity> published_; // grid thread -> audio thread
    SpscQueue<std::shared_ptr<const Grid>, kQueueCapacity> retired_;   // audio thread -> grid thread
};

} // namespace latentmorph

#include "engine/Engine.h"

#include "engine/ParameterTable.h"

#include <algorithm>
#include <cmath>
#include <utility>

namespace latentmorph {

static_assert (parameterSpec (ParameterIndex::polyphony).maxValue == Engine::kMaxPolyphony,
               "the polyphony parameter must not exceed the engine's preallocated voices");

namespace {

/** 4-point cubic Hermite (Catmull-Rom) interpolation between y0 and y1 at 0 <= frac < 1.
    At frac = 0 it returns y0 exactly, so a voice at the root note reproduces the render bit for bit. */
inline float hermite (float yMinus1, float y0, float y1, float y2, float frac) noexcept
{
    const auto c1 = 0.5f * (y1 - yMinus1);
    const auto c2 = yMinus1 - 2.5f * y0 + 2.0f * y1 - 0.5f * y2;
    const auto c3 = 0.5f * (y2 - yMinus1) + 1.5f * (y0 - y1);
    return ((c3 * frac + c2) * frac + c1) * frac + y0;
}

/** Reads render `r` (length n) around index i with zeros outside, interpolated at frac. */
inline float readInterpolated (const float* r, std::size_t n, std::size_t i, float frac) noexcept
{
    if (i >= 1 && i + 2 < n)
        return hermite (r[i - 1], r[i], r[i + 1], r[i + 2], frac);

    const auto at = [r, n] (std::size_t k, bool before)
    { return (before || k >= n) ? 0.0f : r[k]; };
    return hermite (at (i - 1, i == 0), r[i], at (i + 1, false), at (i + 2, false), frac);
}

/** One-pole with time constant tau: coefficient = 1 - exp(-1 / (tau * sr)); 20 ms at 44100 Hz = 882 samples. */
float onePoleCoefficient (double timeConstantMs, double sampleRateHz) noexcept
{
    return static_cast<float> (1.0 - std::exp (-1.0 / (timeConstantMs * 0.001 * sampleRateHz)));
}

float decibelsToGain (float gainDb) noexcept { return std::pow (10.0f, gainDb / 20.0f); }

/** The blend at `position` of `grid`'s steps, each read interpolated at index + frac (index < numSamples). */
inline float readGrid (const Grid& grid, const GridPosition& position, std::size_t index, float frac) noexcept
{
    return grid.blend (position, [&] (int step)
                       { return readInterpolated (grid.step (step), grid.numSamples(), index, frac); });
}

} // namespace

Engine::Engine (int polyphony)
    : voices_ (2 * static_cast<std::size_t> (kMaxPolyphony)), polyphony_ (std::clamp (polyphony, 1, kMaxPolyphony))
{
    setMorph (morphTarget_);
    setGainDb (gainDb_);
    prepare (hostSampleRateHz_, 512);
}

void Engine::prepare (double hostSampleRateHz, int maxBlockSize)
{
    hostSampleRateHz_ = hostSampleRateHz > 0.0 ? hostSampleRateHz : 44100.0;
    morphScratch_.assign (static_cast<std::size_t> (std::max (1, maxBlockSize)), 0.0f);
    morphYScratch_.assign (morphScratch_.size(), 0.0f);
    gainScratch_.assign (morphScratch_.size(), 0.0f);
    morphSmoother_.coefficient = morphYSmoother_.coefficient = gainSmoother_.coefficient = onePoleCoefficient (kSmoothingTimeMs, hostSampleRateHz_);
    limiterReleaseFactor_ = 1.0f - onePoleCoefficient (kLimiterReleaseMs, hostSampleRateHz_);
    stealFadeSamples_ = std::max (1L, std::lround (kStealFadeMs * 0.001 * hostSampleRateHz_));    // 3 ms at 44100 Hz = 132
    gridFadeSamples_ = std::max (1L, std::lround (kGridCrossfadeMs * 0.001 * hostSampleRateHz_)); // 15 ms at 44100 Hz = 662
    updateEnvelopeShape();
    reset();
}

void Engine::reset() noexcept
{
    for (auto& voice : voices_)
        voice.active = false;

    gridFadeDone_ = gridFadeSamples_; // no voice left to fade: the old grid is retired at the next beginBlock
    sustainPedalDown_ = false;
    std::fill (std::begin (heldKeys_), std::end (heldKeys_), 0);
    setPitchBend (8192);
    setModWheel (0);
    setChannelPressure (0);
    morphSmoother_.current = morphSmoother_.target;
    morphYSmoother_.current = morphYSmoother_.target;
    gainSmoother_.current = gainSmoother_.target;
    limiterReduction_ = 0.0f;
}

bool Engine::publishGrid (std::shared_ptr<const Grid>& grid) noexcept
{
    return published_.push (std::move (grid));
}

void Engine::collectGarbage()
{
    std::shared_ptr<const Grid> retired;

    while (retired_.pop (retired))
        retired.reset();
}

void Engine::beginBlock() noexcept
{
    // A grid is only let go of by a push onto retired_ when it has room, so the audio thread never drops
    // the last reference to a grid (which would free it here). Every push below follows an isFull() check.
    if (fadeFrom_ != nullptr && gridFadeDone_ >= gridFadeSamples_ && ! retired_.isFull())
        retired_.push (std::move (fadeFrom_)); // the crossfade has ended

    // Latest wins: the queue drains into pending_, whose grid, if superseded, is retired unplayed.
    while (! retired_.isFull())
    {
        std::shared_ptr<const Grid> incoming;

        if (! published_.pop (incoming))
            break;

        if (pending_ != nullptr)
            retired_.push (std::move (pending_));

        pending_ = std::move (incoming);
        hasPending_ = true;
    }

    // One fade at a time: a grid waits while voices still fade out of an older one.
    if (hasPending_ && fadeFrom_ == nullptr && ! retired_.isFull())
        takeGrid();
}

void Engine::takeGrid() noexcept
{
    hasPending_ = false;
    auto incoming = std::move (pending_);

    if (incoming == grid_)
        return; // the same grid again (not the last reference: grid_ holds it)

    const auto sounding = std::any_of (voices_.begin(), voices_.end(), [] (const Voice& v)
                                       { return v.active; });

    if (sounding && grid_ != nullptr && incoming != nullptr)
    {
        // Same time in the sample on the new grid; the old grid read on from where it was.
        const auto toNewRate = incoming->sampleRateHz() / grid_->sampleRateHz();
        fadeRateRatio_ = 1.0 / toNewRate;

        for (auto& voice : voices_)
        {
            voice.gridFading = voice.active;
            voice.fadePosition = voice.positionSamples;
            voice.positionSamples *= toNewRate;
        }

        gridFadeDone_ = 0;
        fadeFrom_ = std::exchange (grid_, std::move (incoming));
        return;
    }

    if (grid_ != nullptr)
        retired_.push (std::move (grid_)); // room checked by beginBlock

    grid_ = std::move (incoming);

    if (grid_ == nullptr)
        for (auto& voice : voices_)
            voice.active = false;
}

void Engine::noteOn (int note, int velocity) noexcept
{
    if (velocity <= 0)
        return noteOff (note);

    if (grid_ == nullptr)
        return;

    if (voiceMode_ == 0)
        return startVoice (note, velocity, note);

    const auto key = static_cast<std::size_t> (note & 127);
    heldKeys_[key] = ++keyOrder_;
    keyVelocity_[key] = velocity;
    auto* current = monoVoice();

    if (voiceMode_ == 2 && current != nullptr && current->envelope.isHeld())
    {
        current->note = note; // legato: same voice, new pitch
        current->sustained = false;
        return glideTo (*current, note);
    }

    startVoice (note, velocity, current != nullptr ? current->pitch : note);
}

void Engine::startVoice (int note, int velocity, double fromPitch) noexcept
{
    stealOldestVoices (voiceMode_ == 0 ? polyphony_ - 1 : 0);

    // With 2 * kMaxPolyphony slots and at most kMaxPolyphony - 1 playing now, a slot is free unless more
    // than kMaxPolyphony stolen voices are still fading; then the quietest of them is cut.
    const auto level = [] (const Voice& v)
    { return v.velocityGain * v.envelope.level(); };
    Voice* voice = nullptr;

    for (auto& candidate : voices_)
    {
        if (! candidate.active)
        {
            voice = &candidate;
            break;
        }
        if (candidate.stolen && (voice == nullptr || level (candidate) < level (*voice)))
            voice = &candidate;
    }

    voice->active = true;
    voice->sustained = false;
    voice->stolen = false;
    voice->note = note;
    const auto velocity01 = static_cast<float> (std::min (velocity, 127)) / 127.0f;
    voice->velocityGain = velocityCurve_ == 1.0f ? velocity01 : std::pow (velocity01, velocityCurve_);
    voice->morphOffset = velocityMorph_ * velocity01;
    voice->startOrder = nextStartOrder_++;
    voice->positionSamples = static_cast<double> (startMs_) * 0.001 * grid_->sampleRateHz();
    voice->gridFading = false; // a voice started after a swap plays the new grid alone
    voice->envelope.noteOn (envelopeShape_);
    voice->pitch = fromPitch;
    glideTo (*voice, note);
}

void Engine::glideTo (Voice& voice, int note) noexcept
{
    const auto samples = std::lround (glideMs_ * 0.001 * hostSampleRateHz_);

    if (samples < 1 || voice.pitch == note)
    {
        voice.pitch = note;
        voice.glideLeft = 0;
        return;
    }

    voice.glideStep = (note - voice.pitch) / static_cast<double> (samples);
    voice.glideLeft = samples;
}

Engine::Voice* Engine::monoVoice() noexcept
{
    Voice* newest = nullptr;

    for (auto& voice : voices_)
        if (voice.active && ! voice.stolen && (newest == nullptr || voice.startOrder > newest->startOrder))
            newest = &voice;

    return newest;
}

int Engine::lastHeldKey() const noexcept
{
    int key = -1;

    for (int k = 0; k < 128; ++k)
        if (heldKeys_[k] != 0 && (key < 0 || heldKeys_[k] > heldKeys_[key]))
            key = k;

    return key;
}

void Engine::stealOldestVoices (int keep) noexcept
{
    // Polyphony counts playing voices only: a stolen voice fading out has given its place up.
    for (;;)
    {
        Voice* oldest = nullptr;
        int playing = 0;

        for (auto& candidate : voices_)
        {
            if (candidate.active && ! candidate.stolen)
            {
                ++playing;
                if (oldest == nullptr || candidate.startOrder < oldest->startOrder)
                    oldest = &candidate;
            }
        }

        if (playing <= keep)
            return;

        oldest->stolen = true;
        oldest->sustained = false;
        oldest->envelope.fadeOut (stealFadeSamples_);
    }
}

void Engine::noteOff (int note) noexcept
{
    if (voiceMode_ != 0 && heldKeys_[note & 127] != 0)
    {
        heldKeys_[note & 127] = 0;
        auto* current = monoVoice();

        // Last-note priority: releasing the sounding key returns to the most recent key still held.
        if (const auto back = lastHeldKey(); back >= 0 && current != nullptr && current->note == note && current->envelope.isHeld())
        {
            if (voiceMode_ == 2)
            {
                current->note = back;
                return glideTo (*current, back);
            }

            return startVoice (back, keyVelocity_[back], current->pitch);
        }
    }

    for (auto& voice : voices_)
    {
        if (! voice.active || voice.note != note || ! voice.envelope.isHeld())
            continue;

        if (sustainPedalDown_)
            voice.sustained = true;
        else
            voice.envelope.noteOff (envelopeShape_);
    }
}

void Engine::allNotesOff() noexcept
{
    std::fill (std::begin (heldKeys_), std::end (heldKeys_), 0);

    for (auto& voice : voices_)
    {
        voice.sustained = false;

        if (voice.active)
            voice.envelope.noteOff (envelopeShape_);
    }
}

void Engine::allSoundOff() noexcept
{
    std::fill (std::begin (heldKeys_), std::end (heldKeys_), 0);

    for (auto& voice : voices_)
    {
        voice.sustained = false;

        if (voice.active)
        {
            voice.stolen = true; // fading: no longer counts towards the polyphony
            voice.envelope.fadeOut (stealFadeSamples_);
        }
    }
}

void Engine::setSustainPedal (bool down) noexcept
{
    sustainPedalDown_ = down;

    if (down)
        return;

    for (auto& voice : voices_)
    {
        if (voice.active && voice.sustained)
            voice.envelope.noteOff (envelopeShape_);

        voice.sustained = false;
    }
}

void Engine::handleMidiMessage (const std::uint8_t* bytes, int numBytes) noexcept
{
    if (bytes != nullptr && numBytes == 2 && (bytes[0] & 0xf0) == 0xd0)
        setChannelPressure (bytes[1] & 0x7f);

    if (bytes == nullptr || numBytes < 3)
        return;

    const auto kind = bytes[0] & 0xf0;
    const auto data1 = static_cast<int> (bytes[1]);
    const auto data2 = static_cast<int> (bytes[2]);

    if (kind == 0x90)
        noteOn (data1, data2); // velocity 0 is a note-off
    else if (kind == 0x80)
        noteOff (data1);
    else if (kind == 0xe0)
        setPitchBend (data1 | (data2 << 7)); // LSB, MSB
    else if (kind != 0xb0)
        return;
    else if (data1 == 1)
        setModWheel (data2);
    else if (data1 == 64)
        setSustainPedal (data2 >= 64);
    else if (data1 == 120)
        allSoundOff();
    else if (data1 == 121) // reset all controllers
    {
        setPitchBend (8192);
        setModWheel (0);
        setChannelPressure (0);
        setSustainPedal (false);
    }
    else if (data1 == 123)
        allNotesOff();
}

void Engine::render (float* out, int numSamples) noexcept
{
    const auto chunkCapacity = static_cast<int> (morphScratch_.size());

    for (int start = 0; start < numSamples; start += chunkCapacity)
    {
        const auto chunk = std::min (chunkCapacity, numSamples - start);
        auto* chunkOut = out + start;
        std::fill (chunkOut, chunkOut + chunk, 0.0f);

        // Smoothers advance with or without a grid, so the sound never depends on block boundaries.
        for (int s = 0; s < chunk; ++s)
        {
            morphScratch_[static_cast<std::size_t> (s)] = morphSmoother_.next();
            morphYScratch_[static_cast<std::size_t> (s)] = morphYSmoother_.next();
            gainScratch_[static_cast<std::size_t> (s)] = gainSmoother_.next();
        }

        if (grid_ != nullptr)
            for (auto& voice : voices_)
                if (voice.active)
                    renderVoice (voice, chunkOut, morphScratch_.data(), morphYScratch_.data(), chunk);

        gridFadeDone_ = std::min (gridFadeSamples_, gridFadeDone_ + chunk);

        for (int s = 0; s < chunk; ++s)
            chunkOut[s] = limit (chunkOut[s] * gainScratch_[static_cast<std::size_t> (s)]);
    }
}

float Engine::limit (float sample) noexcept
{
    // Release: the gain reduction (1 - gain) decays exponentially. Kept as the reduction, not the gain,
    // a float does not stall just below unity; below 1e-8 it is set to 0, where 1 - reduction already
    // rounds to exactly 1 (and no denormals follow), so the limiter is the identity once more.
    limiterReduction_ *= limiterReleaseFactor_;

    if (limiterReduction_ < 1.0e-8f)
        limiterReduction_ = 0.0f;

    // Instant attack: a sample that would go over sets the gain that puts it exactly on the ceiling.
    auto gain = 1.0f - limiterReduction_;
    const auto magnitude = std::abs (sample);

    if (magnitude * gain > kLimiterCeiling)
    {
        gain = kLimiterCeiling / magnitude;
        limiterReduction_ = 1.0f - gain;
    }

    return std::clamp (sample * gain, -kLimiterCeiling, kLimiterCeiling);
}

void Engine::renderVoice (Voice& voice, float* out, const float* morphs, const float* morphYs, int numSamples) noexcept
{
    const auto& grid = *grid_;
    const auto numGridSamples = grid.numSamples();
    const auto pad = grid.padSize(); // 0: a line of steps A .. B
    const auto rateRatio = grid.sampleRateHz() / hostSampleRateHz_;

    // Semitones above slot A's root (root(x, y) = rootA + x * rootSpan + y * spanC + x * y * spanXY, the
    // corners' roots interpolated bilinearly; y = 0 on a line), constant within one render call (bend
    // changes at MIDI events, which split the calls); with equal roots the pitch is constant.
    const auto rootA = rootNote_ + fineTuneCents_[0] / 100.0;
    const auto rootSpan = rootNoteB_ + fineTuneCents_[1] / 100.0 - rootA;
    const auto spanC = pad > 0 ? rootNoteC_ + fineTuneCents_[2] / 100.0 - rootA : 0.0;
    const auto spanXY = pad > 0 ? rootNoteD_ + fineTuneCents_[3] / 100.0 - rootA - rootSpan - spanC : 0.0;
    const auto tuned = rootSpan != 0.0 || spanC != 0.0 || spanXY != 0.0;
    auto pitchMorphY = -1.0f;
    const auto offset = bendSemitones_ - rootA;
    auto increment = std::exp2 ((voice.pitch + offset) / 12.0) * rateRatio;
    auto pitchMorph = -1.0f; // the morph `increment` was computed for when rootSpan != 0

    const auto [loopFirst, loopLast] = gridLoop();
    const auto loops = loopMode_ == 1 && loopLast > loopFirst;
    const auto loopEnd = static_cast<double> (loopLast);
    const auto loopLength = loopEnd - static_cast<double> (loopFirst);
    // at most half the loop, and no longer than the loop's start (the fade reads one loop earlier)
    const auto crossfade = std::clamp (loopCrossfadeMs_ * 0.001 * grid.sampleRateHz(), 1.0,
                                       std::max (1.0, std::min (0.5 * loopLength, static_cast<double> (loopFirst))));
    const auto* fadeFrom = voice.gridFading ? fadeFrom_.get() : nullptr; // the old grid of a crossfade

    for (int s = 0; s < numSamples; ++s)
    {
        if (loops && voice.positionSamples >= loopEnd)
            voice.positionSamples -= loopLength;

        const auto index = static_cast<std::size_t> (voice.positionSamples);
        const auto fadeDone = gridFadeDone_ + s; // samples since the grid swap

        if (fadeFrom != nullptr && fadeDone >= gridFadeSamples_)
        {
            fadeFrom = nullptr; // the crossfade has ended: the new grid alone from here
            voice.gridFading = false;
        }

        const auto fadeIndex = static_cast<std::size_t> (voice.fadePosition);
        const auto fadeSounds = fadeFrom != nullptr && fadeIndex < fadeFrom->numSamples();

        if (index >= numGridSamples && ! fadeSounds)
        {
            voice.active = false; // the sample has ended
            return;
        }

        const auto frac = static_cast<float> (voice.positionSamples - static_cast<double> (index));
        const auto morph = std::clamp (morphs[s] + voice.morphOffset, 0.0f, 1.0f);

        auto retune = voice.glideLeft > 0;

        if (retune)
            voice.pitch = --voice.glideLeft == 0 ? static_cast<double> (voice.note) : voice.pitch + voice.glideStep;

        const auto morphY = pad > 0 ? morphYs[s] : 0.0f;

        if (tuned && (morph != pitchMorph || morphY != pitchMorphY))
        {
            pitchMorph = morph;
            pitchMorphY = morphY;
            retune = true;
        }

        if (retune)
            increment = std::exp2 ((voice.pitch + offset - (morph * rootSpan + morphY * (spanC + morph * spanXY))) / 12.0) * rateRatio;
        const auto position = grid.positionAt (morph, morphY);
        const auto read = [&] (std::size_t at, float atFrac)
        { return readGrid (grid, position, at, atFrac); };

        auto value = index < numGridSamples ? read (index, frac) : 0.0f; // past the new grid's end while fading

        if (loops && voice.positionSamples > loopEnd - crossfade && voice.positionSamples >= loopLength)
        {
            // Fade into one loop earlier: at loopEnd the voice plays what it plays after the jump back.
            const auto back = voice.positionSamples - loopLength;
            const auto backIndex = static_cast<std::size_t> (back);
            const auto fade = static_cast<float> ((voice.positionSamples - (loopEnd - crossfade)) / crossfade);
            value = (1.0f - fade) * value + fade * read (backIndex, static_cast<float> (back - static_cast<double> (backIndex)));
        }

        if (fadeFrom != nullptr)
        {
            // Equal gain, see "Grid crossfade": the new grid's weight reaches 1 on the fade's last sample.
            const auto weight = static_cast<float> (fadeDone + 1) / static_cast<float> (gridFadeSamples_);
            const auto fadeFrac = static_cast<float> (voice.fadePosition - static_cast<double> (fadeIndex));
            const auto old = fadeSounds ? readGrid (*fadeFrom, fadeFrom->positionAt (morph, morphYs[s]), fadeIndex, fadeFrac) : 0.0f;
            value = weight * value + (1.0f - weight) * old;
            voice.fadePosition += increment * fadeRateRatio_;
        }

        out[s] += value * voice.velocityGain * voice.envelope.next (envelopeShape_);

        if (! voice.envelope.isActive())
        {
            voice.active = false; // the release has finished
            return;
        }

        voice.positionSamples += increment;
    }
}

std::pair<std::size_t, std::size_t> Engine::gridLoop() const noexcept
{
    if (grid_ == nullptr)
        return {};

    const auto toSamples = [this] (float ms)
    { return std::min (grid_->numSamples(), static_cast<std::size_t> (std::lround (ms * 0.001 * grid_->sampleRateHz()))); };
    const auto start = toSamples (loopStartMs_), end = toSamples (loopEndMs_);
    return end > start + 1 ? std::pair<std::size_t, std::size_t> { start, end }
                           : std::pair<std::size_t, std::size_t> { grid_->loopStart(), grid_->loopEnd() };
}

void Engine::updateEnvelopeShape() noexcept
{
    envelopeShape_ = Adsr::Shape::fromMilliseconds (attackMs_, decayMs_, sustainLevel_, releaseMs_, hostSampleRateHz_);
}

void Engine::setMorph (float morph) noexcept
{
    morphTarget_ = std::clamp (morph, 0.0f, 1.0f);
    updateMorphTarget();
}

void Engine::updateMorphTarget() noexcept
{
    const auto wheel = modWheelMorph_ == 0.0f ? 0.0f : modWheelMorph_ * static_cast<float> (modWheel_) / 127.0f;
    morphSmoother_.target = std::clamp (morphTarget_ + wheel, 0.0f, 1.0f);
    const auto pressure = aftertouchMorphY_ == 0.0f ? 0.0f : aftertouchMorphY_ * static_cast<float> (pressure_) / 127.0f;
    morphYSmoother_.target = std::clamp (morphYTarget_ + pressure, 0.0f, 1.0f);
}

template <typename Value>
void Engine::setMorphInput (Value& field, Value value, Value lowest, Value highest) noexcept
{
    field = std::clamp (value, lowest, highest);
    updateMorphTarget();
}

void Engine::setMorphY (float morphY) noexcept { setMorphInput (morphYTarget_, morphY, 0.0f, 1.0f); }
void Engine::setAftertouchMorphY (float amount) noexcept { setMorphInput (aftertouchMorphY_, amount, -1.0f, 1.0f); }
void Engine::setChannelPressure (int value7) noexcept { setMorphInput (pressure_, value7, 0, 127); }
void Engine::setModWheelMorph (float amount) noexcept { setMorphInput (modWheelMorph_, amount, -1.0f, 1.0f); }
void Engine::setModWheel (int value7) noexcept { setMorphInput (modWheel_, value7, 0, 127); }

void Engine::setBendRange (float semitones) noexcept
{
    bendRange_ = std::max (0.0f, semitones);
    setPitchBend (pitchBend_);
}

void Engine::setPitchBend (int value14) noexcept
{
    pitchBend_ = std::clamp (value14, 0, 16383);
    const auto offset = pitchBend_ - 8192;
    bendSemitones_ = bendRange_ * offset / (offset > 0 ? 8191.0 : 8192.0);
}

void Engine::setVelocityCurve (float exponent) noexcept { velocityCurve_ = std::max (0.0f, exponent); }
void Engine::setVelocityMorph (float amount) noexcept { velocityMorph_ = std::clamp (amount, -1.0f, 1.0f); }
void Engine::setRootNoteB (int rootNote) noexcept { rootNoteB_ = rootNote; }
void Engine::setRootNoteC (int rootNote) noexcept { rootNoteC_ = rootNote; }
void Engine::setRootNoteD (int rootNote) noexcept { rootNoteD_ = rootNote; }
void Engine::setFineTune (int slot, float cents) noexcept { fineTuneCents_[std::clamp (slot, 0, 3)] = cents; }
void Engine::setStartMs (float startMs) noexcept { startMs_ = std::max (0.0f, startMs); }
void Engine::setGlideMs (float glideMs) noexcept { glideMs_ = std::max (0.0f, glideMs); }

void Engine::setVoiceMode (int mode) noexcept
{
    mode = std::clamp (mode, 0, 2);

    if (mode == voiceMode_)
        return;

    voiceMode_ = mode;
    std::fill (std::begin (heldKeys_), std::end (heldKeys_), 0);
    stealOldestVoices (mode == 0 ? polyphony_ : 1);
}

void Engine::setGainDb (float gainDb) noexcept
{
    gainDb_ = gainDb;
    gainSmoother_.target = decibelsToGain (gainDb);
}

void Engine::setAttackMs (float attackMs) noexcept
{
    attackMs_ = std::max (0.0f, attackMs);
    updateEnvelopeShape();
}
void Engine::setDecayMs (float decayMs) noexcept
{
    decayMs_ = std::max (0.0f, decayMs);
    updateEnvelopeShape();
}
void Engine::setSustain (float sustainLevel) noexcept
{
    sustainLevel_ = std::clamp (sustainLevel, 0.0f, 1.0f);
    updateEnvelopeShape();
}
void Engine::setReleaseMs (float releaseMs) noexcept
{
    releaseMs_ = std::max (0.0f, releaseMs);
    updateEnvelopeShape();
}
void Engine::setRootNote (int rootNote) noexcept { rootNote_ = rootNote; }

void Engine::setPolyphony (int polyphony) noexcept
{
    polyphony_ = std::clamp (polyphony, 1, kMaxPolyphony);
    stealOldestVoices (polyphony_);
}

int Engine::activeVoiceCount() const noexcept
{
    return static_cast<int> (std::count_if (voices_.begin(), voices_.end(), [] (const Voice& v)
                                            { return v.active; }));
}

} // namespace latentmorph

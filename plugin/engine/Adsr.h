#pragma once

#include <algorithm>
#include <cmath>

namespace latentmorph {

/** Per-sample linear ADSR envelope of one voice.

    Levels are linear amplitude in 0..1. Attack rises from 0 to 1 in attack_ms (0 ms starts at 1),
    decay falls from 1 to sustain in decay_ms, release falls from the level at note-off to exactly 0
    in release_ms and then the envelope is idle. All methods are real-time safe and do not allocate.
*/
class Adsr
{
public:
    /** Per-sample increments derived from the millisecond settings at one sample rate. */
    struct Shape
    {
        float attackStep = 1.0f; ///< level added per sample during attack; >= 1 means instant
        float decayStep = 0.0f;  ///< level removed per sample during decay
        float sustainLevel = 1.0f;
        long releaseSamples = 1; ///< length of the release in samples, >= 1

        /** Converts milliseconds to samples: e.g. 200 ms at 48000 Hz = 0.2 * 48000 = 9600 samples. */
        static Shape fromMilliseconds (double attackMs, double decayMs, double sustainLevel, double releaseMs, double sampleRateHz) noexcept
        {
            const auto toSamples = [sampleRateHz] (double ms)
            { return std::max (0.0, ms) * 0.001 * sampleRateHz; };
            Shape shape;
            shape.sustainLevel = static_cast<float> (std::clamp (sustainLevel, 0.0, 1.0));
            shape.attackStep = static_cast<float> (1.0 / std::max (1.0, toSamples (attackMs)));
            shape.decayStep = static_cast<float> ((1.0 - shape.sustainLevel) / std::max (1.0, toSamples (decayMs)));
            shape.releaseSamples = static_cast<long> (std::max (1.0, std::round (toSamples (releaseMs))));
            return shape;
        }
    };

    void noteOn (const Shape& shape) noexcept
    {
        const bool instantAttack = shape.attackStep >= 1.0f;
        stage_ = instantAttack ? Stage::decay : Stage::attack;
        level_ = instantAttack ? 1.0f : 0.0f;
    }

    /** Starts the release (release_ms of the shape) from the current level; no effect once released. */
    void noteOff (const Shape& shape) noexcept
    {
        if (isHeld())
            startRelease (shape.releaseSamples);
    }

    /** Fades linearly from the current level to exactly 0 in `samples` (>= 1) samples, held or
        released: the click-free end of a stolen voice. A release that ends sooner is kept. */
    void fadeOut (long samples) noexcept
    {
        samples = std::max (1L, samples);

        if (isHeld() || (stage_ == Stage::release && releaseLeft_ > samples))
            startRelease (samples);
    }

    /** Returns the level for the current sample, then advances by one sample. */
    float next (const Shape& shape) noexcept
    {
        const auto out = level_;

        switch (stage_)
        {
            case Stage::attack:
                level_ += shape.attackStep;
                if (level_ >= 1.0f)
                {
                    level_ = 1.0f;
                    stage_ = Stage::decay;
                }
                break;

            case Stage::decay:
                level_ -= shape.decayStep;
                if (level_ <= shape.sustainLevel)
                {
                    level_ = shape.sustainLevel;
                    stage_ = Stage::sustain;
                }
                break;

            case Stage::sustain:
                level_ = shape.sustainLevel; // follows the sustain knob while held
                break;

            case Stage::release:
                // Counted, not accumulated, so the level is exactly 0 after release_ms whatever the rounding.
                --releaseLeft_;
                level_ = releaseStartLevel_ * static_cast<float> (releaseLeft_) / static_cast<float> (releaseLength_);
                if (releaseLeft_ <= 0)
                {
                    level_ = 0.0f;
                    stage_ = Stage::idle;
                }
                break;

            case Stage::idle:
                break;
        }

        return out;
    }

    bool isActive() const noexcept { return stage_ != Stage::idle; }

    /** True between noteOn and noteOff/fadeOut (attack, decay or sustain). */
    bool isHeld() const noexcept { return stage_ == Stage::attack || stage_ == Stage::decay || stage_ == Stage::sustain; }

    /** The level next() returns next, linear 0..1. */
    float level() const noexcept { return level_; }

private:
    enum class Stage
    {
        idle,
        attack,
        decay,
        sustain,
        release
    };

    void startRelease (long samples) noexcept
    {
        stage_ = Stage::release;
        releaseStartLevel_ = level_;
        releaseLength_ = samples;
        releaseLeft_ = samples;
    }

    Stage stage_ = Stage::idle;
    float level_ = 0.0f;
    float releaseStartLevel_ = 0.0f;
    long releaseLength_ = 1;
    long releaseLeft_ = 0;
};

} // namespace latentmorph

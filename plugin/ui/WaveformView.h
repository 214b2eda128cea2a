#pragma once

#include <juce_gui_basics/juce_gui_basics.h>

#include <cstddef>
#include <utility>
#include <vector>

namespace latentmorph {

/** A mono sound drawn as its waveform: per pixel column the minimum and maximum of the samples it
    covers (from kColumns peak pairs computed once in setSamples), scaled so the loudest sample reaches
    the edge, around a centre line. Draws only the background and `hint` while it holds no sound.
    Message thread. */
class WaveformView final : public juce::Component
{
public:
    static constexpr int kColumns = 1024;

    explicit WaveformView (juce::String hint = {});

    /** Takes `numSamples` samples (copied into min/max peaks; nothing kept of `samples`) and repaints;
        numSamples 0 clears the view. */
    void setSamples (const float* samples, std::size_t numSamples);

    bool hasSound() const noexcept { return ! peaks_.empty(); }

    void paint (juce::Graphics& g) override;

private:
    juce::String hint_;
    std::vector<std::pair<float, float>> peaks_; ///< (min, max) per column, scaled to the loudest sample
};

} // namespace latentmorph

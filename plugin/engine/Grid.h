#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

namespace latentmorph {

/** K mono renders of one sample pair at morph positions t = i / (K - 1), i = 0 .. K-1.

    Immutable once built, shared between engines (and the plugin's process-wide cache) through
    std::shared_ptr<const Grid>. Never constructed or destroyed on the audio thread.
*/
class Grid
{
public:
    /** Takes step-major PCM: step 0's `numSamples` samples, then step 1's, and so on.
        Throws std::invalid_argument unless steps >= 2, numSamples >= 1,
        renders.size() == steps * numSamples, 1000 <= sampleRateHz <= 768000 and every sample is finite. */
    Grid (std::vector<float> renders, int steps, std::size_t numSamples, double sampleRateHz);

    int steps() const noexcept { return steps_; }
    std::size_t numSamples() const noexcept { return numSamples_; }
    double sampleRateHz() const noexcept { return sampleRateHz_; }

    /** The render of morph step `index` (0 .. steps-1): numSamples() floats. */
    const float* step (int index) const noexcept { return renders_.data() + static_cast<std::size_t> (index) * numSamples_; }

private:
    std::vector<float> renders_;
    int steps_;
    std::size_t numSamples_;
    double sampleRateHz_;
};

/** Reads a `.lmgrid` file (docs/protocol.md): a 24-byte little-endian header
    (magic "LMGRID1\0", uint32 steps, uint32 num_samples, uint32 sample_rate, uint32 reserved)
    followed by float32[steps * num_samples], step-major.
    Throws std::runtime_error naming the path and the reason when the file cannot be read, the magic
    is wrong, the size is not exactly 24 + 4 * steps * num_samples, or the content is invalid (see Grid).
    Blocking file I/O: never call it on the audio thread. */
std::shared_ptr<const Grid> readGridFile (const std::string& path);

} // namespace latentmorph

#pragma once

#include <algorithm>
#include <cstddef>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace latentmorph {

/** Where a morph position falls in a Grid (Grid::positionAt): the step at or left of morph and the
    weight of the next one; on a pad also the lattice row at or above morph_y and the weight of the
    next row (row 0, weightY 0 on a line). */
struct GridPosition
{
    int step = 0;
    float weight = 0.0f;
    int row = 0;
    float weightY = 0.0f;
};

/** K mono renders of one sample pair at morph positions t = i / (K - 1), i = 0 .. K-1, or (an XY
    pad, padSize() = N > 0) of four corner samples on an N x N lattice: K = N * N rows, y-major,
    row y * N + x at (x / (N - 1), y / (N - 1)), corners A (0, 0), B (1, 0), C (0, 1), D (1, 1).

    Immutable once built, shared between engines (and the plugin's process-wide cache) through
    std::shared_ptr<const Grid>. Never constructed or destroyed on the audio thread.
*/
class Grid
{
public:
    /** Takes step-major PCM: step 0's `numSamples` samples, then step 1's, and so on.
        Throws std::invalid_argument unless steps >= 2, numSamples >= 1,
        renders.size() == steps * numSamples, 1000 <= sampleRateHz <= 768000 and every sample is finite,
        and, for a pad (padSize > 0), unless padSize >= 2 and steps == padSize * padSize. */
    Grid (std::vector<float> renders, int steps, std::size_t numSamples, double sampleRateHz, int padSize = 0);

    int steps() const noexcept { return steps_; }
    std::size_t numSamples() const noexcept { return numSamples_; }
    double sampleRateHz() const noexcept { return sampleRateHz_; }

    /** N of an N x N XY pad; 0 for a line of steps (two slots). */
    int padSize() const noexcept { return padSize_; }

    /** The sustain loop found in the renders (see findSustainLoop): samples [loopStart, loopEnd) of
        every step; loopEnd() == 0 when the renders are too short for one (under 0.1 s). */
    std::size_t loopStart() const noexcept { return loopStart_; }
    std::size_t loopEnd() const noexcept { return loopEnd_; }

    /** The render of morph step `index` (0 .. steps-1): numSamples() floats. */
    const float* step (int index) const noexcept { return renders_.data() + static_cast<std::size_t> (index) * numSamples_; }

    /** Where (morph, morphY), each already clamped to 0..1, falls: on a line of K steps, pos = morph * (K - 1)
        (morphY ignored); on an N x N pad, morph * (N - 1) along a row and morphY * (N - 1) across rows.
        Real-time safe. */
    GridPosition positionAt (float morph, float morphY) const noexcept
    {
        const auto points = padSize_ > 0 ? padSize_ : steps_;
        const auto lastStep = static_cast<float> (points - 1);
        const auto morphPosition = morph * lastStep;
        GridPosition position;
        position.step = std::min (static_cast<int> (morphPosition), points - 2);
        position.weight = morphPosition - static_cast<float> (position.step);

        if (padSize_ > 0)
        {
            const auto morphYPosition = morphY * lastStep;
            position.row = std::min (static_cast<int> (morphYPosition), points - 2);
            position.weightY = morphYPosition - static_cast<float> (position.row);
        }

        return position;
    }

    /** The blend at `position` of `readStep (k)`, a value of step k: on a line the two steps around
        it, (1 - w) * a + w * b; on a pad the four lattice points around it, bilinearly (two rows so
        blended, then across). Steps of weight 0 to the right or below are not read. The engine reads
        each step interpolated at a voice's position; morphPoint reads one sample. Real-time safe when
        readStep is. */
    template <typename ReadStep>
    float blend (const GridPosition& position, ReadStep&& readStep) const noexcept
    {
        const auto readRow = [&] (int first)
        {
            auto sum = (1.0f - position.weight) * readStep (first + position.step);

            if (position.weight > 0.0f)
                sum += position.weight * readStep (first + position.step + 1);

            return sum;
        };

        if (padSize_ == 0)
            return readRow (0);

        auto sum = (1.0f - position.weightY) * readRow (position.row * padSize_);

        if (position.weightY > 0.0f)
            sum += position.weightY * readRow ((position.row + 1) * padSize_);

        return sum;
    }

private:
    std::vector<float> renders_;
    int steps_;
    std::size_t numSamples_;
    double sampleRateHz_;
    int padSize_;
    std::size_t loopStart_ = 0, loopEnd_ = 0;
};

/** A loop in the sustained part of `renders` (steps x numSamples, step-major), common to all steps
    (voices crossfade steps at one position): over 10 ms frames of the energy summed over the steps,
    the end is the last frame within 40 dB of the loudest, the start a third of the way from the
    loudest frame to that end (past the attack), at least 50 ms before the end; the end then moves
    (up to 10 ms earlier) to where the sum of the steps best matches, by normalised correlation over
    5 ms, the start's waveform. Returns {start, end} in samples, {0, 0} under 0.1 s. */
std::pair<std::size_t, std::size_t> findSustainLoop (const std::vector<float>& renders, int steps, std::size_t numSamples,
                                                     double sampleRateHz);

/** The sound of `grid` at (morph, morphY) (each clamped to 0..1): numSamples() floats at the grid's
    sample rate, sample i the blend (Grid::blend) of the steps' samples i. A voice at the root note
    (no bend, no envelope, no start offset) plays exactly this. Allocates: never on the audio thread. */
std::vector<float> morphPoint (const Grid& grid, float morph, float morphY);

/** The rows of a `.lmgrid` file as stored: `steps` (>= 0) renders of `numSamples` floats, step-major. */
struct GridFileContent
{
    std::vector<float> renders;
    int steps = 0;
    std::size_t numSamples = 0;
    double sampleRateHz = 0.0;
};

/** Reads a `.lmgrid` file's header and rows without the checks of a playable Grid (e.g. the one-row
    answer of render_new). Throws std::runtime_error naming the path and the reason when the file
    cannot be read, the magic is wrong or the size is not exactly 24 + 4 * steps * num_samples.
    Blocking file I/O: never call it on the audio thread. */
GridFileContent readGridFileContent (const std::string& path);

/** Reads a `.lmgrid` file (docs/protocol.md): a 24-byte little-endian header
    (magic "LMGRID1\0", uint32 steps, uint32 num_samples, uint32 sample_rate, uint32 reserved)
    followed by float32[steps * num_samples], step-major.
    Throws std::runtime_error naming the path and the reason when the file cannot be read, the magic
    is wrong, the size is not exactly 24 + 4 * steps * num_samples, or the content is invalid (see Grid).
    A line of steps; the plugin reads its grids, pads included, through GridFiles (plugin/state/GridCache.h).
    Blocking file I/O: never call it on the audio thread. */
std::shared_ptr<const Grid> readGridFile (const std::string& path);

} // namespace latentmorph

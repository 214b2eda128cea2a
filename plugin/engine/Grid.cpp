#include "engine/Grid.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <tuple>

namespace latentmorph {

Grid::Grid (std::vector<float> renders, int steps, std::size_t numSamples, double sampleRateHz, int padSize)
    : renders_ (std::move (renders)), steps_ (steps), numSamples_ (numSamples), sampleRateHz_ (sampleRateHz), padSize_ (padSize)
{
    if (padSize != 0 && (padSize < 2 || steps != padSize * padSize))
        throw std::invalid_argument ("an XY pad of " + std::to_string (padSize) + " x " + std::to_string (padSize) + " needs that many rows, got "
                                     + std::to_string (steps));

    if (steps < 2)
        throw std::invalid_argument ("a grid needs at least 2 steps, got " + std::to_string (steps));

    if (numSamples < 1)
        throw std::invalid_argument ("a grid needs at least 1 sample per step");

    if (renders_.size() != static_cast<std::size_t> (steps) * numSamples)
        throw std::invalid_argument ("grid holds " + std::to_string (renders_.size()) + " samples, expected steps * num_samples = "
                                     + std::to_string (static_cast<std::size_t> (steps) * numSamples));

    if (! (sampleRateHz >= 1000.0 && sampleRateHz <= 768000.0))
        throw std::invalid_argument ("grid sample rate " + std::to_string (sampleRateHz) + " Hz is outside 1000 .. 768000 Hz");

    for (const auto x : renders_)
        if (! std::isfinite (x))
            throw std::invalid_argument ("grid contains a non-finite sample");

    std::tie (loopStart_, loopEnd_) = findSustainLoop (renders_, steps_, numSamples_, sampleRateHz_);
}

std::pair<std::size_t, std::size_t> findSustainLoop (const std::vector<float>& renders, int steps, std::size_t numSamples,
                                                     double sampleRateHz)
{
    const auto samples = [sampleRateHz] (double seconds)
    { return static_cast<std::size_t> (std::max (1.0, std::round (seconds * sampleRateHz))); };
    const auto hop = samples (0.010), minimumLength = samples (0.050), window = samples (0.005), search = samples (0.010);

    if (numSamples < samples (0.100))
        return { 0, 0 };

    std::vector<float> mix (numSamples, 0.0f);

    for (int k = 0; k < steps; ++k)
        for (std::size_t i = 0; i < numSamples; ++i)
            mix[i] += renders[static_cast<std::size_t> (k) * numSamples + i];

    std::vector<double> energy (numSamples / hop, 0.0);

    for (int k = 0; k < steps; ++k)
        for (std::size_t i = 0; i < energy.size() * hop; ++i)
        {
            const double x = renders[static_cast<std::size_t> (k) * numSamples + i];
            energy[i / hop] += x * x;
        }

    const auto peak = static_cast<std::size_t> (std::max_element (energy.begin(), energy.end()) - energy.begin());
    auto last = peak;

    for (std::size_t f = peak; f < energy.size(); ++f)
        if (energy[f] >= energy[peak] * 1.0e-4) // 40 dB
            last = f;

    auto end = std::min (numSamples - window, (last + 1) * hop);
    auto start = peak * hop + (end - std::min (end, peak * hop)) / 3;
    start = std::min (start, end > minimumLength ? end - minimumLength : 0);

    const auto correlation = [&mix, window] (std::size_t a, std::size_t b)
    {
        double ab = 0.0, aa = 0.0, bb = 0.0;

        for (std::size_t i = 0; i < window; ++i)
        {
            ab += static_cast<double> (mix[a + i]) * mix[b + i];
            aa += static_cast<double> (mix[a + i]) * mix[a + i];
            bb += static_cast<double> (mix[b + i]) * mix[b + i];
        }

        return aa > 0.0 && bb > 0.0 ? ab / std::sqrt (aa * bb) : 0.0;
    };

    auto best = end;
    auto bestScore = correlation (start, end);

    for (auto candidate = end; candidate + search > end && candidate > start + minimumLength; --candidate)
        if (const auto score = correlation (start, candidate); score > bestScore)
        {
            best = candidate;
            bestScore = score;
        }

    return { start, best };
}

std::vector<float> morphPoint (const Grid& grid, float morph, float morphY)
{
    const auto position = grid.positionAt (std::clamp (morph, 0.0f, 1.0f), std::clamp (morphY, 0.0f, 1.0f));
    std::vector<float> sound (grid.numSamples());

    for (std::size_t i = 0; i < sound.size(); ++i)
        sound[i] = grid.blend (position, [&grid, i] (int step)
                               { return grid.step (step)[i]; });

    return sound;
}

namespace {

constexpr char kGridMagic[8] = { 'L', 'M', 'G', 'R', 'I', 'D', '1', '\0' };
constexpr std::size_t kGridHeaderBytes = 24;

std::uint32_t readUint32LittleEndian (const unsigned char* bytes) noexcept
{
    return static_cast<std::uint32_t> (bytes[0]) | (static_cast<std::uint32_t> (bytes[1]) << 8)
           | (static_cast<std::uint32_t> (bytes[2]) << 16) | (static_cast<std::uint32_t> (bytes[3]) << 24);
}

float readFloat32LittleEndian (const unsigned char* bytes) noexcept
{
    const auto bits = readUint32LittleEndian (bytes);
    float value;
    std::memcpy (&value, &bits, sizeof (value));
    return value;
}

} // namespace

GridFileContent readGridFileContent (const std::string& path)
{
    const auto fail = [&path] (const std::string& reason)
    { return std::runtime_error ("grid file " + path + ": " + reason); };

    std::ifstream file (path, std::ios::binary | std::ios::ate);

    if (! file)
        throw fail ("cannot open");

    const auto fileBytes = static_cast<std::uint64_t> (file.tellg());
    file.seekg (0);

    unsigned char header[kGridHeaderBytes];

    if (fileBytes < kGridHeaderBytes || ! file.read (reinterpret_cast<char*> (header), kGridHeaderBytes))
        throw fail ("shorter than the 24-byte header");

    if (std::memcmp (header, kGridMagic, sizeof (kGridMagic)) != 0)
        throw fail ("bad magic (not an LMGRID1 file)");

    const auto steps = readUint32LittleEndian (header + 8);
    const auto numSamples = readUint32LittleEndian (header + 12);
    const auto sampleRateHz = readUint32LittleEndian (header + 16);

    // 64-bit arithmetic: steps * num_samples * 4 overflows 32 bits for long grids.
    const auto expectedBytes = kGridHeaderBytes + std::uint64_t { 4 } * steps * numSamples;

    if (fileBytes != expectedBytes)
        throw fail ("size is " + std::to_string (fileBytes) + " bytes, expected 24 + 4 * " + std::to_string (steps) + " * "
                    + std::to_string (numSamples) + " = " + std::to_string (expectedBytes));

    std::vector<unsigned char> pcmBytes (expectedBytes - kGridHeaderBytes);

    if (! file.read (reinterpret_cast<char*> (pcmBytes.data()), static_cast<std::streamsize> (pcmBytes.size())))
        throw fail ("read error");

    GridFileContent content { std::vector<float> (pcmBytes.size() / 4), static_cast<int> (steps), numSamples, static_cast<double> (sampleRateHz) };

    for (std::size_t i = 0; i < content.renders.size(); ++i)
        content.renders[i] = readFloat32LittleEndian (pcmBytes.data() + 4 * i);

    return content;
}

std::shared_ptr<const Grid> readGridFile (const std::string& path)
{
    auto content = readGridFileContent (path);

    try
    {
        return std::make_shared<const Grid> (std::move (content.renders), content.steps, content.numSamples, content.sampleRateHz);
    }
    catch (const std::invalid_argument& e)
    {
        throw std::runtime_error ("grid file " + path + ": " + e.what());
    }
}

} // namespace latentmorph

#include "engine/WavFile.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <vector>

namespace latentmorph {

namespace {

void putUint (std::vector<unsigned char>& bytes, std::uint32_t value, int numBytes)
{
    for (int i = 0; i < numBytes; ++i)
        bytes.push_back (static_cast<unsigned char> ((value >> (8 * i)) & 0xff)); // little-endian
}

void putTag (std::vector<unsigned char>& bytes, const char (&tag)[5]) { bytes.insert (bytes.end(), tag, tag + 4); }

} // namespace

void writeWavFile (const std::string& path, const float* samples, std::size_t numSamples, double sampleRateHz)
{
    if (! (sampleRateHz >= 1000.0 && sampleRateHz <= 768000.0))
        throw std::invalid_argument ("WAV sample rate " + std::to_string (sampleRateHz) + " Hz is outside 1000 .. 768000 Hz");

    if (numSamples > (std::size_t { 1 } << 30))
        throw std::invalid_argument ("a WAV file holds at most 2^30 float samples, got " + std::to_string (numSamples));

    constexpr std::uint32_t kBytesPerSample = 4, kFormatIeeeFloat = 3, kHeaderBytes = 44;
    const auto rate = static_cast<std::uint32_t> (std::lround (sampleRateHz));
    const auto dataBytes = static_cast<std::uint32_t> (numSamples * kBytesPerSample);

    std::vector<unsigned char> bytes;
    bytes.reserve (kHeaderBytes + dataBytes);
    putTag (bytes, "RIFF");
    putUint (bytes, kHeaderBytes - 8 + dataBytes, 4); // the RIFF chunk: everything after these 8 bytes
    putTag (bytes, "WAVE");
    putTag (bytes, "fmt ");
    putUint (bytes, 16, 4);                     // fmt chunk size
    putUint (bytes, kFormatIeeeFloat, 2);       // format tag
    putUint (bytes, 1, 2);                      // channels
    putUint (bytes, rate, 4);                   // frames per second
    putUint (bytes, rate * kBytesPerSample, 4); // bytes per second
    putUint (bytes, kBytesPerSample, 2);        // block align
    putUint (bytes, 8 * kBytesPerSample, 2);    // bits per sample
    putTag (bytes, "data");
    putUint (bytes, dataBytes, 4);

    for (std::size_t i = 0; i < numSamples; ++i)
    {
        std::uint32_t bits;
        std::memcpy (&bits, samples + i, sizeof (bits));
        putUint (bytes, bits, 4);
    }

    std::ofstream file (path, std::ios::binary | std::ios::trunc);

    if (! file || ! file.write (reinterpret_cast<const char*> (bytes.data()), static_cast<std::streamsize> (bytes.size())) || ! file.flush())
        throw std::runtime_error ("cannot write WAV file " + path);
}

} // namespace latentmorph

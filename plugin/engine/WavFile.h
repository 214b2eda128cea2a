#pragma once

#include <cstddef>
#include <string>

namespace latentmorph {

/** Writes `numSamples` mono float samples to `path` as a WAV file: RIFF/WAVE, one channel of 32-bit
    IEEE float (format tag 3) at `sampleRateHz` (rounded to whole Hz), so the samples come back bit for
    bit. Replaces an existing file. Throws std::invalid_argument for a sample rate outside
    1000 .. 768000 Hz or a sound over 2^30 samples (the 4 GB RIFF limit), std::runtime_error naming
    the path when it cannot be written. Blocking file I/O: never call it on the audio thread. */
void writeWavFile (const std::string& path, const float* samples, std::size_t numSamples, double sampleRateHz);

} // namespace latentmorph

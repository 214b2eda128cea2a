#pragma once

#include "backend/BackendClient.h"

#include <juce_core/juce_core.h>

#include <optional>
#include <vector>

namespace latentmorph {

/** The plugin's typed calls to its backend (docs/protocol.md): builds each command's request, checks
    its answer and returns it as a struct. The only code that knows the commands' field names; the
    slot loader and the editor's widgets call this, never BackendClient.

    Every call blocks until the answer (up to the client's request timeout; the backend serves one
    request at a time for all instances of the host), so call it from a worker thread, never the
    audio or message thread. `shouldAbandon` is polled while waiting: returning true gives up at once
    (Error::abandoned()), and a late answer is discarded.
*/
class BackendApi
{
public:
    using AbandonCheck = BackendClient::AbandonCheck;

    /** Why a call failed: the protocol's error code (e.g. "audio_load_error", "no_library"), the
        client's ("backend_died", "backend_timeout", …, see BackendClient::Reply) or "bad_answer" for an
        answer without the command's fields; `message` is a sentence for the user. */
    struct Error
    {
        juce::String code;
        juce::String message;

        /** The caller gave up (its AbandonCheck returned true): nothing to report. */
        bool abandoned() const { return code == BackendClient::kAbandoned; }
    };

    /** The value of a call that succeeded, else its error. */
    template <typename Value>
    struct Result
    {
        std::optional<Value> value;
        Error error; ///< empty code and message on success

        bool ok() const noexcept { return value.has_value(); }
    };

    /** A grid file the backend rendered (the answer to render_grid, render_blend, render_new and render_variation). */
    struct GridReply
    {
        juce::String gridPath;      ///< the .lmgrid file in the backend's cache
        int steps = 0;              ///< rows of the grid
        juce::int64 numSamples = 0; ///< samples per row
        double sampleRateHz = 0.0;
        juce::String modelId;
        std::vector<juce::String> sourceSha256; ///< hex SHA-256 of each source file, in source order
        juce::String warning;                   ///< a sentence for the status when the grid is not quite what was asked, else empty
    };

    /** One library sound near the query (an item of similar's `hits`). */
    struct Hit
    {
        juce::String path;        ///< absolute path of the audio file
        double startS = 0.0;      ///< the sound's start within the file, seconds (0 for a whole file)
        double endS = 0.0;        ///< its end, seconds
        double distance = 0.0;    ///< embedding distance to the query, 0..2 (smaller is more similar)
        juce::String tag;         ///< category tag, empty when the library has none for it
        juce::String segmentPath; ///< a segment's span written as its own WAV by the backend (empty for a whole file)

        /** The file a slot loads for this hit: the segment's own WAV, else the file itself. */
        juce::String fileToLoad() const { return segmentPath.isNotEmpty() ? segmentPath : path; }
    };

    /** Where a sample sits on the keyboard (the answer to root_note). */
    struct RootNote
    {
        int midiNote = 60;          ///< 0..127; 60 when the sound has no steady pitch
        double fineTuneCents = 0.0; ///< -50..50, added to midiNote to reach the sample's f0 (0 when unpitched)
        double f0Hz = 0.0;          ///< median f0 of the voiced frames, 0 when none
        bool pitched = false;       ///< a steady pitch was found
        juce::String message;       ///< one line for the status, e.g. "no steady pitch (...): root note C4"
    };

    /** The morph between `sources` (the first is row 0, the last row steps - 1) in `steps` rows
        (2..65), with each source's residual reaching in by `detail` (0..1). The answer names one
        SHA-256 per source. */
    static Result<GridReply> renderGrid (const std::vector<juce::File>& sources, int steps, float detail,
                                         const AbandonCheck& shouldAbandon);

    /** The morph of 2..4 `sources` at barycentric `weights`: one grid row per row of weights (1..81 rows,
        one weight >= 0 per source, each row summing to 1; a one-hot row is that source itself), each
        source's residual reaching in by `detail` (0..1). The answer names one SHA-256 per source. */
    static Result<GridReply> renderBlend (const std::vector<juce::File>& sources, const std::vector<std::vector<float>>& weights,
                                          float detail, const AbandonCheck& shouldAbandon);

    /** One new sound of `seconds` (0.01..2) sampled from the model's latent prior at `temperature`
        (0..4; 0: the mean sound) with `seed` (0..2^32-1; equal seeds give equal sounds): a grid of one
        row (render_new with count 1; no source_sha256). A model without a prior is a "model_error". */
    static Result<GridReply> renderNew (double seconds, juce::int64 seed, double temperature, const AbandonCheck& shouldAbandon);

    /** One variation of `source`: its latent plus smooth noise of `amount` (0..1) times the latent's
        standard deviation, drawn with `seed` (0..2^32-1): a grid of one row at the source's level
        (render_variation with count 1) and the source's SHA-256. */
    static Result<GridReply> renderVariation (const juce::File& source, double amount, juce::int64 seed, const AbandonCheck& shouldAbandon);

    /** The `k` (1..100) sounds of the backend's default library nearest to `query`, nearest first. */
    static Result<std::vector<Hit>> similar (const juce::File& query, int k, const AbandonCheck& shouldAbandon);

    /** The root note of `file` (pyin over its first seconds; C4 with a message when it has no steady pitch). */
    static Result<RootNote> rootNote (const juce::File& file, const AbandonCheck& shouldAbandon);
};

} // namespace latentmorph

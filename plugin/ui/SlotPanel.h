#pragma once

#include "engine/Grid.h"
#include "state/SlotLoader.h"
#include "ui/BackendTask.h"
#include "ui/WaveformView.h"

#include <juce_audio_processors/juce_audio_processors.h>

#include <memory>

namespace latentmorph {

/** A sample slot that accepts one dropped audio file (an extension the backend's loader reads,
    shared::kAudioExtensions, in any case). It shows the sample's waveform (the grid's corner for this
    slot: the ends of a grid are the samples themselves), its root note ("D4 +3 c", from the slot's
    root-note and fine-tune parameters, which it also shows as two bar sliders) and file name. Buttons:
    "Find similar" lists the library sounds nearest to the slot's sample in a menu, and choosing one
    loads it; "New" fills the slot with a sound sampled from the model's latent prior, "Variation" with
    a variation of the slot's sound (as `latentmorph new` / `latentmorph variation`), written as a WAV
    to the `generated` folder of the backend's grid cache; "x" empties the slot. Every way in loads a
    file exactly as a drop does. Backend errors show in the slot's message line. Message thread. */
class SlotPanel final : public juce::Component, public juce::FileDragAndDropTarget
{
public:
    SlotPanel (SlotLoader& slots, juce::AudioProcessorValueTreeState& parameters, int index);

    /** Shows `path` (its file name; the full path as tooltip) and the root note; an empty path clears
        the waveform, and so does a path other than the one the waveform was drawn for. */
    void showPath (const juce::String& path);

    /** Draws the waveform of `grid`'s corner row for this slot (its ends are the samples), made for
        `path`; nullptr or a grid without this slot's corner (slot C or D of a line) draws none. */
    void showWaveform (const Grid* grid, const juce::String& path);

    /** What "New" (variation false) and "Variation" (of `source`) do off the message thread: asks the
        backend for one sound (render_new: 1.5 s at temperature 1; render_variation: amount 0.3) drawn
        with `seed` (0..2^32-1) and writes it as a mono float WAV, new_<seed>.wav or
        variation_<name>_<seed>.wav, in the `generated` folder beside the backend's grid cache. Returns
        the file, or the backend's error, or "file_error" when it cannot be written. Blocks. */
    static BackendApi::Result<juce::File> generateFile (bool variation, const juce::File& source, juce::int64 seed,
                                                        const BackendApi::AbandonCheck& shouldAbandon);

    /** The waveform's bounds in this panel (tests look at its pixels). */
    juce::Rectangle<int> getWaveformBounds() const { return waveform_.getBounds(); }

    /** The grid row that holds this slot's sample, or -1 when `grid` has none (C and D of a line). */
    static int cornerRow (const Grid& grid, int slot) noexcept;

    bool isInterestedInFileDrag (const juce::StringArray& files) override;
    void fileDragEnter (const juce::StringArray&, int, int) override;
    void fileDragExit (const juce::StringArray&) override;
    void filesDropped (const juce::StringArray& files, int, int) override;
    void paint (juce::Graphics& g) override;
    void resized() override;

private:
    using Attachment = juce::AudioProcessorValueTreeState::SliderAttachment;

    void loadFile (const juce::File& file); // the one way a file gets into the slot: drop, menu, New, Variation
    bool resolveSlotFile (juce::File& file, const juce::String& forWhat);
    void findSimilar();
    void generate (bool variation);
    void showSimilar (const BackendApi::Result<std::vector<BackendApi::Hit>>& result, const juce::String& queryName);
    void showMessage (const juce::String& message, bool isError);

    SlotLoader& slots_;
    const int index_;
    juce::RangedAudioParameter *rootNote_, *fineTune_;
    bool dragOver_ = false;
    juce::String waveformPath_; ///< the slot path the waveform shows
    juce::Label title_, rootNoteText_, fileName_, message_;
    WaveformView waveform_ { "drop an audio file here" };
    juce::Slider rootSlider_ { juce::Slider::LinearBar, juce::Slider::TextBoxLeft }, fineSlider_ { juce::Slider::LinearBar, juce::Slider::TextBoxLeft };
    std::unique_ptr<Attachment> rootAttachment_, fineAttachment_;
    juce::TextButton newSound_ { "New" }, variation_ { "Variation" }, findSimilar_ { "Find similar" };
    juce::TextButton clear_ { "x" }; ///< shown while the slot holds a sample: empties it
    BackendTask task_;
};

} // namespace latentmorph

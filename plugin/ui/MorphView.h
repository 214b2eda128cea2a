#pragma once

#include "engine/Grid.h"
#include "state/SlotLoader.h"
#include "ui/WaveformView.h"

#include <juce_audio_processors/juce_audio_processors.h>

#include <memory>

namespace latentmorph {

/** The sound at the current morph position: the waveform of the grid's point at (morph, morph_y)
    (morphPoint, the engine's own blend), redrawn when the grid or either parameter changes,
    automation included (refresh() from the editor's timer); and "Export", which writes that sound as
    a WAV to a folder the user picks. Message thread. */
class MorphView final : public juce::Component
{
public:
    MorphView (SlotLoader& slots, juce::AudioProcessorValueTreeState& parameters);

    /** Reads the published grid, morph and morph_y; redraws when any changed. */
    void refresh();

    /** Writes the sound of `grid` at (morph, morphY) (morphPoint: one note at the root, mono float at
        the grid's sample rate, 32-bit float WAV) into `folder` as latentmorph_x<morph>_y<morphY>.wav
        (a numbered name when that exists) and sets `written`. Fails with the reason when the folder
        or file cannot be written. Blocking file I/O (milliseconds for a few seconds of sound). */
    static juce::Result exportSound (const Grid& grid, float morph, float morphY, const juce::File& folder, juce::File& written);

    /** The waveform's bounds in this view (tests look at its pixels). */
    juce::Rectangle<int> getWaveformBounds() const { return waveform_.getBounds(); }

    void paint (juce::Graphics& g) override;
    void resized() override;

private:
    void chooseExportFolder();

    SlotLoader& slots_;
    juce::RangedAudioParameter *morph_, *morphY_;
    std::shared_ptr<const Grid> grid_;
    float shownMorph_ = -1.0f, shownMorphY_ = -1.0f;
    juce::Label title_, message_;
    WaveformView waveform_ { "no sound yet: drop samples into slots A and B" };
    juce::TextButton export_ { "Export" };
    std::unique_ptr<juce::FileChooser> chooser_;
};

} // namespace latentmorph

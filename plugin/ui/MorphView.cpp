#include "ui/MorphView.h"

#include "engine/ParameterTable.h"
#include "engine/WavFile.h"
#include "ui/Colours.h"

namespace latentmorph {

using namespace colours;

MorphView::MorphView (SlotLoader& slots, juce::AudioProcessorValueTreeState& parameters)
    : slots_ (slots),
      morph_ (parameters.getParameter (parameterSpec (ParameterIndex::morph).id)),
      morphY_ (parameters.getParameter (parameterSpec (ParameterIndex::morphY).id))
{
    title_.setFont (juce::Font (14.0f, juce::Font::bold));
    message_.setFont (juce::Font (13.0f));
    message_.setMinimumHorizontalScale (0.6f);
    message_.setJustificationType (juce::Justification::centredRight);
    addAndMakeVisible (title_);
    addAndMakeVisible (message_);
    addAndMakeVisible (waveform_);
    export_.setTooltip ("Write the sound at the current morph position (one note at the root) as a WAV file to a folder you pick");
    export_.onClick = [this]
    { chooseExportFolder(); };
    addAndMakeVisible (export_);
    refresh();
}

void MorphView::refresh()
{
    const auto grid = slots_.getGrid();
    const auto morph = morph_->convertFrom0to1 (morph_->getValue()), morphY = morphY_->convertFrom0to1 (morphY_->getValue());

    if (grid == grid_ && morph == shownMorph_ && morphY == shownMorphY_)
        return;

    grid_ = grid;
    shownMorph_ = morph;
    shownMorphY_ = morphY;
    const auto pad = grid_ != nullptr && grid_->padSize() > 0;
    title_.setText ("Sound at morph " + juce::String (morph, 2) + (pad ? ", morph Y " + juce::String (morphY, 2) : juce::String()),
                    juce::dontSendNotification);
    export_.setEnabled (grid_ != nullptr);

    if (grid_ == nullptr)
        return waveform_.setSamples (nullptr, 0);

    const auto sound = morphPoint (*grid_, morph, morphY);
    waveform_.setSamples (sound.data(), sound.size());
}

juce::Result MorphView::exportSound (const Grid& grid, float morph, float morphY, const juce::File& folder, juce::File& written)
{
    if (const auto created = folder.createDirectory(); created.failed())
        return juce::Result::fail ("cannot create " + folder.getFullPathName() + ": " + created.getErrorMessage());

    written = folder.getNonexistentChildFile ("latentmorph_x" + juce::String (morph, 3) + "_y" + juce::String (morphY, 3), ".wav", false);
    const auto sound = morphPoint (grid, morph, morphY);

    try
    {
        writeWavFile (written.getFullPathName().toStdString(), sound.data(), sound.size(), grid.sampleRateHz());
    }
    catch (const std::exception& e)
    {
        return juce::Result::fail (e.what());
    }

    return juce::Result::ok();
}

void MorphView::chooseExportFolder()
{
    if (grid_ == nullptr)
        return;

    chooser_ = std::make_unique<juce::FileChooser> ("Export the morph sound to a folder",
                                                    juce::File::getSpecialLocation (juce::File::userMusicDirectory));
    chooser_->launchAsync (juce::FileBrowserComponent::openMode | juce::FileBrowserComponent::canSelectDirectories,
                           [safeThis = juce::Component::SafePointer<MorphView> (this), grid = grid_, morph = shownMorph_,
                            morphY = shownMorphY_] (const juce::FileChooser& chooser)
                           {
                               const auto folder = chooser.getResult();

                               if (safeThis == nullptr || folder == juce::File())
                                   return; // closed, or the dialog was cancelled

                               juce::File written;
                               const auto result = exportSound (*grid, morph, morphY, folder, written);
                               safeThis->message_.setColour (juce::Label::textColourId, result.wasOk() ? juce::Colours::lightgrey : kError);
                               safeThis->message_.setText (result.wasOk() ? "exported " + written.getFullPathName() : result.getErrorMessage(),
                                                           juce::dontSendNotification);
                           });
}

void MorphView::paint (juce::Graphics& g)
{
    drawPanel (g, getLocalBounds());
}

void MorphView::resized()
{
    // a header row (title, export message, Export) over the waveform
    const auto area = getLocalBounds().reduced (8);
    waveform_.setBounds (area.withTrimmedTop (26));
    export_.setBounds (area.getRight() - 80, area.getY(), 80, 22);
    title_.setBounds (area.getX(), area.getY(), 260, 22);
    message_.setBounds (area.getX() + 260, area.getY(), area.getWidth() - 346, 22);
}

} // namespace latentmorph

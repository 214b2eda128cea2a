#include "ui/SlotPanel.h"

#include "SharedConstants.h"
#include "engine/WavFile.h"
#include "state/SlotPaths.h"
#include "ui/Colours.h"

namespace latentmorph {

using namespace colours;

namespace {

constexpr ParameterIndex kRootNotes[] = { ParameterIndex::rootNote, ParameterIndex::rootNoteB, ParameterIndex::rootNoteC, ParameterIndex::rootNoteD };
constexpr ParameterIndex kFineTunes[] = { ParameterIndex::fineTuneACents, ParameterIndex::fineTuneBCents, ParameterIndex::fineTuneCCents,
                                          ParameterIndex::fineTuneDCents };

constexpr int kNumHits = 12;             // how many sounds "Find similar" asks for
constexpr double kNewSoundSeconds = 1.5; // `latentmorph new`'s default length
constexpr double kNewTemperature = 1.0;  // its default spread around the mean sound
constexpr double kVariationAmount = 0.3; // `latentmorph variation`'s default

/** Worker thread: reads the one-row grid of a render_new / render_variation answer and writes it as
    `name` in the `generated` folder beside the backend's grid cache (per user; the cache's eviction
    removes only .lmgrid files). Returns the WAV, or the error. */
BackendApi::Result<juce::File> writeGenerated (const BackendApi::Result<BackendApi::GridReply>& reply, const juce::String& name)
{
    if (! reply.ok())
        return { std::nullopt, reply.error };

    const auto folder = juce::File (reply.value->gridPath).getParentDirectory().getChildFile ("generated");
    const auto wav = folder.getChildFile (name);

    try
    {
        if (const auto created = folder.createDirectory(); created.failed())
            throw std::runtime_error ("cannot create " + folder.getFullPathName().toStdString() + ": " + created.getErrorMessage().toStdString());

        const auto grid = readGridFileContent (reply.value->gridPath.toStdString());

        if (grid.steps < 1)
            throw std::runtime_error ("grid file " + reply.value->gridPath.toStdString() + " holds no sound");

        writeWavFile (wav.getFullPathName().toStdString(), grid.renders.data(), grid.numSamples, grid.sampleRateHz);
    }
    catch (const std::exception& e)
    {
        return { std::nullopt, { "file_error", e.what() } };
    }

    return { wav, {} };
}

} // namespace

SlotPanel::SlotPanel (SlotLoader& slots, juce::AudioProcessorValueTreeState& parameters, int index)
    : slots_ (slots),
      index_ (index),
      rootNote_ (parameters.getParameter (parameterSpec (kRootNotes[index]).id)),
      fineTune_ (parameters.getParameter (parameterSpec (kFineTunes[index]).id))
{
    title_.setText (juce::String ("Slot ") + juce::String::charToString (static_cast<juce::juce_wchar> ('A' + index)), juce::dontSendNotification);
    title_.setFont (juce::Font (16.0f, juce::Font::bold));
    rootNoteText_.setFont (juce::Font (15.0f, juce::Font::bold));
    rootNoteText_.setColour (juce::Label::textColourId, kAccent);
    rootNoteText_.setTooltip ("The slot's root note and fine tune (detected when a file is dropped)");
    fileName_.setJustificationType (juce::Justification::centredLeft);
    fileName_.setMinimumHorizontalScale (0.6f);
    message_.setFont (juce::Font (13.0f));
    message_.setMinimumHorizontalScale (0.6f);

    addAndMakeVisible (waveform_);

    for (auto* label : { &title_, &rootNoteText_, &fileName_, &message_ })
    {
        label->setInterceptsMouseClicks (false, false);
        addAndMakeVisible (*label);
    }

    for (auto* slider : { &rootSlider_, &fineSlider_ })
    {
        slider->setColour (juce::Slider::trackColourId, kAccent.withAlpha (0.45f));
        addAndMakeVisible (*slider);
    }

    rootSlider_.setTextValueSuffix (""); // the attachment shows the note name ("C4")
    fineSlider_.setTextValueSuffix (" cents");
    rootSlider_.setTooltip ("Root note: the key that plays this slot at its own pitch");
    fineSlider_.setTooltip ("Fine tune of this slot, cents");
    rootAttachment_ = std::make_unique<Attachment> (parameters, parameterSpec (kRootNotes[index]).id, rootSlider_);
    fineAttachment_ = std::make_unique<Attachment> (parameters, parameterSpec (kFineTunes[index]).id, fineSlider_);

    newSound_.setTooltip ("Fill this slot with a new sound sampled from the model's latent prior (as `latentmorph new`)");
    newSound_.onClick = [this]
    { generate (false); };
    variation_.setTooltip ("Fill this slot with a variation of its sound (as `latentmorph variation`)");
    variation_.onClick = [this]
    { generate (true); };
    findSimilar_.setTooltip ("List the sounds of the indexed library (latentmorph index DIR) nearest to this slot's sample");
    findSimilar_.onClick = [this]
    { findSimilar(); };

    for (auto* button : { &newSound_, &variation_, &findSimilar_ })
        addAndMakeVisible (*button);

    clear_.setTooltip ("Empty this slot (with C and D empty, A and B morph on a line again)");
    clear_.onClick = [this]
    { slots_.setSlotPath (index_, {}); };
    addChildComponent (clear_);
    showPath ({});
}

void SlotPanel::showPath (const juce::String& path)
{
    const auto name = path.isEmpty() ? juce::String() : path.fromLastOccurrenceOf ("/", false, false).fromLastOccurrenceOf (":", false, false);

    if (fileName_.getText() != name)
    {
        fileName_.setText (name, juce::dontSendNotification);
        fileName_.setTooltip (path);
    }

    if (path != waveformPath_ && waveform_.hasSound())
        showWaveform (nullptr, {});

    // "D4 +3 c": the root note's name and the fine tune, rounded to whole cents
    const auto cents = juce::roundToInt (fineTune_->convertFrom0to1 (fineTune_->getValue()));
    auto note = rootNote_->getCurrentValueAsText();

    if (cents != 0)
        note << (cents > 0 ? " +" : " ") << cents << " c";

    rootNoteText_.setText (path.isEmpty() ? juce::String() : note, juce::dontSendNotification);
    clear_.setVisible (path.isNotEmpty());
    variation_.setEnabled (path.isNotEmpty());
    findSimilar_.setEnabled (path.isNotEmpty());
}

int SlotPanel::cornerRow (const Grid& grid, int slot) noexcept
{
    const auto pad = grid.padSize();

    if (pad == 0)
        return slot == 0 ? 0 : slot == 1 ? grid.steps() - 1
                                         : -1;

    const int corners[] = { 0, pad - 1, pad * (pad - 1), pad * pad - 1 };
    return corners[slot];
}

void SlotPanel::showWaveform (const Grid* grid, const juce::String& path)
{
    const auto row = grid != nullptr && path.isNotEmpty() ? cornerRow (*grid, index_) : -1;
    waveformPath_ = row >= 0 ? path : juce::String();
    waveform_.setSamples (row >= 0 ? grid->step (row) : nullptr, row >= 0 ? grid->numSamples() : 0);
}

bool SlotPanel::isInterestedInFileDrag (const juce::StringArray& files)
{
    return files.size() == 1 && juce::File (files[0]).hasFileExtension (shared::kAudioExtensions);
}

void SlotPanel::fileDragEnter (const juce::StringArray&, int, int)
{
    dragOver_ = true;
    repaint();
}

void SlotPanel::fileDragExit (const juce::StringArray&)
{
    dragOver_ = false;
    repaint();
}

void SlotPanel::filesDropped (const juce::StringArray& files, int, int)
{
    dragOver_ = false;
    repaint();

    if (isInterestedInFileDrag (files))
        loadFile (juce::File (files[0]));
}

void SlotPanel::loadFile (const juce::File& file)
{
    showMessage ({}, false);
    slots_.setSlotPath (index_, slot_paths::fromFile (file));
}

bool SlotPanel::resolveSlotFile (juce::File& file, const juce::String& forWhat)
{
    const auto slotPath = slots_.getSlots()[static_cast<std::size_t> (index_)].path;

    if (slotPath.isEmpty())
    {
        showMessage ("drop a sample here first: " + forWhat, true);
        return false;
    }

    if (const auto resolved = slot_paths::resolve (slotPath, file); resolved.failed())
    {
        showMessage (resolved.getErrorMessage(), true);
        return false;
    }

    return true;
}

void SlotPanel::findSimilar()
{
    juce::File query;

    if (! resolveSlotFile (query, "similar sounds are found for the slot's sample"))
        return;

    showMessage ("searching the library...", false);
    task_.start<std::vector<BackendApi::Hit>> ([query] (const BackendApi::AbandonCheck& abandon)
                                               { return BackendApi::similar (query, kNumHits, abandon); },
                                               [safeThis = juce::Component::SafePointer<SlotPanel> (this), name = query.getFileName()] (const auto& result)
                                               {
                                                   if (safeThis != nullptr)
                                                       safeThis->showSimilar (result, name);
                                               });
}

void SlotPanel::generate (bool variation)
{
    juce::File source;

    if (variation && ! resolveSlotFile (source, "a variation varies the slot's sound"))
        return;

    const auto seed = juce::Random::getSystemRandom().nextInt64() & 0xffffffffLL; // render_new's seeds are uint32
    showMessage (variation ? "rendering a variation..." : "rendering a new sound...", false);
    task_.start<juce::File> ([variation, source, seed] (const BackendApi::AbandonCheck& abandon)
                             { return generateFile (variation, source, seed, abandon); },
                             [safeThis = juce::Component::SafePointer<SlotPanel> (this)] (const BackendApi::Result<juce::File>& result)
                             {
                                 if (safeThis == nullptr)
                                     return;

                                 if (result.ok())
                                     safeThis->loadFile (*result.value);
                                 else
                                     safeThis->showMessage (result.error.message, true);
                             });
}

BackendApi::Result<juce::File> SlotPanel::generateFile (bool variation, const juce::File& source, juce::int64 seed,
                                                        const BackendApi::AbandonCheck& shouldAbandon)
{
    if (variation)
        return writeGenerated (BackendApi::renderVariation (source, kVariationAmount, seed, shouldAbandon),
                               "variation_" + source.getFileNameWithoutExtension() + "_" + juce::String (seed) + ".wav");

    return writeGenerated (BackendApi::renderNew (kNewSoundSeconds, seed, kNewTemperature, shouldAbandon), "new_" + juce::String (seed) + ".wav");
}

void SlotPanel::showSimilar (const BackendApi::Result<std::vector<BackendApi::Hit>>& result, const juce::String& queryName)
{
    if (! result.ok())
        return showMessage (result.error.message, true);

    const auto& hits = *result.value;

    if (hits.empty())
        return showMessage ("the library has no sounds to compare with", true);

    showMessage ({}, false);
    juce::PopupMenu menu;
    menu.addSectionHeader ("Similar to " + queryName);

    for (std::size_t i = 0; i < hits.size(); ++i)
    {
        const auto& hit = hits[i];
        auto text = juce::File (hit.path).getFileName();

        if (hit.segmentPath.isNotEmpty()) // a sound inside a longer file: the slot loads just that span
            text << " @ " << juce::String (hit.startS, 2) << "-" << juce::String (hit.endS, 2) << " s";

        text << "   " << (hit.tag.isNotEmpty() ? hit.tag : juce::String ("untagged")) << "   d " << juce::String (hit.distance, 3);
        menu.addItem (static_cast<int> (i) + 1, text); // item ids start at 1: 0 means dismissed
    }

    menu.showMenuAsync (juce::PopupMenu::Options().withTargetComponent (&findSimilar_),
                        [safeThis = juce::Component::SafePointer<SlotPanel> (this), hits] (int chosen)
                        {
                            if (safeThis != nullptr && chosen > 0 && chosen <= static_cast<int> (hits.size()))
                                safeThis->loadFile (juce::File (hits[static_cast<std::size_t> (chosen - 1)].fileToLoad()));
                        });
}

void SlotPanel::showMessage (const juce::String& message, bool isError)
{
    message_.setText (message, juce::dontSendNotification);
    message_.setTooltip (message);
    message_.setColour (juce::Label::textColourId, isError ? kError : juce::Colours::lightgrey);
}

void SlotPanel::paint (juce::Graphics& g)
{
    drawPanel (g, getLocalBounds(), dragOver_);
}

void SlotPanel::resized()
{
    auto area = getLocalBounds().reduced (8);
    auto titleRow = area.removeFromTop (22);
    clear_.setBounds (titleRow.removeFromRight (22));
    title_.setBounds (titleRow.removeFromLeft (64));
    rootNoteText_.setBounds (titleRow.removeFromLeft (90));
    fileName_.setBounds (titleRow);

    auto buttons = area.removeFromBottom (24);
    const auto buttonWidth = buttons.getWidth() / 3;
    newSound_.setBounds (buttons.removeFromLeft (buttonWidth).reduced (2, 0));
    variation_.setBounds (buttons.removeFromLeft (buttonWidth).reduced (2, 0));
    findSimilar_.setBounds (buttons.reduced (2, 0));

    area.removeFromBottom (2);
    auto tuning = area.removeFromBottom (20);
    rootSlider_.setBounds (tuning.removeFromLeft (tuning.getWidth() / 2).reduced (2, 0));
    fineSlider_.setBounds (tuning.reduced (2, 0));
    area.removeFromTop (3);
    waveform_.setBounds (area);
    message_.setBounds (area.removeFromBottom (18)); // over the waveform's foot: errors are rare and short-lived
}

} // namespace latentmorph

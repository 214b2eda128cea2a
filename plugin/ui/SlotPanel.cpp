#include "ui/SlotPanel.h"

#include "SharedConstants.h"
#include "state/SlotPaths.h"
#include "ui/Colours.h"

namespace latentmorph {

using namespace colours;

SlotPanel::SlotPanel (SlotLoader& slots, int index) : slots_ (slots), index_ (index)
{
    title_.setText (juce::String ("Slot ") + juce::String::charToString (static_cast<juce::juce_wchar> ('A' + index)), juce::dontSendNotification);
    title_.setFont (juce::Font (16.0f, juce::Font::bold));
    fileName_.setJustificationType (juce::Justification::centred);
    fileName_.setInterceptsMouseClicks (false, false);
    title_.setInterceptsMouseClicks (false, false);
    addAndMakeVisible (title_);
    addAndMakeVisible (fileName_);
    searchMessage_.setFont (juce::Font (13.0f));
    searchMessage_.setMinimumHorizontalScale (0.6f);
    addAndMakeVisible (searchMessage_);
    findSimilar_.setTooltip ("List the sounds of the indexed library (latentmorph index DIR) nearest to this slot's sample");
    findSimilar_.onClick = [this]
    { findSimilar(); };
    addAndMakeVisible (findSimilar_);
    clear_.setTooltip ("Empty this slot (with C and D empty, A and B morph on a line again)");
    clear_.onClick = [this]
    { slots_.setSlotPath (index_, {}); };
    addChildComponent (clear_);
    showPath ({});
}

void SlotPanel::showPath (const juce::String& path)
{
    const auto name = path.isEmpty() ? juce::String ("drop an audio file here")
                                     : path.fromLastOccurrenceOf ("/", false, false).fromLastOccurrenceOf (":", false, false);

    if (fileName_.getText() != name)
    {
        fileName_.setText (name, juce::dontSendNotification);
        fileName_.setTooltip (path);
    }

    clear_.setVisible (path.isNotEmpty());
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
    slots_.setSlotPath (index_, slot_paths::fromFile (file));
}

void SlotPanel::findSimilar()
{
    const auto slotPath = slots_.getSlots()[static_cast<std::size_t> (index_)].path;

    if (slotPath.isEmpty())
        return showSearchMessage ("drop a sample here first: similar sounds are found for the slot's sample", true);

    juce::File query;

    if (const auto resolved = slot_paths::resolve (slotPath, query); resolved.failed())
        return showSearchMessage (resolved.getErrorMessage(), true);

    showSearchMessage ("searching the library...", false);
    search_.start (query, [safeThis = juce::Component::SafePointer<SlotPanel> (this), name = query.getFileName()] (const SimilarSearch::Result& result)
                   {
        if (safeThis != nullptr)
            safeThis->showSimilar (result, name); });
}

void SlotPanel::showSimilar (const SimilarSearch::Result& result, const juce::String& queryName)
{
    if (! result.ok())
        return showSearchMessage (result.error.message, true);

    const auto& hits = *result.value;

    if (hits.empty())
        return showSearchMessage ("the library has no sounds to compare with", true);

    showSearchMessage ({}, false);
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

void SlotPanel::showSearchMessage (const juce::String& message, bool isError)
{
    searchMessage_.setText (message, juce::dontSendNotification);
    searchMessage_.setTooltip (message);
    searchMessage_.setColour (juce::Label::textColourId, isError ? kError : juce::Colours::lightgrey);
}

void SlotPanel::paint (juce::Graphics& g)
{
    const auto bounds = getLocalBounds().toFloat().reduced (1.0f);
    g.setColour (kPanel);
    g.fillRoundedRectangle (bounds, 8.0f);
    g.setColour (dragOver_ ? kAccent : kAccent.withAlpha (0.35f));
    g.drawRoundedRectangle (bounds, 8.0f, dragOver_ ? 3.0f : 1.5f);
}

void SlotPanel::resized()
{
    auto area = getLocalBounds().reduced (10);
    auto titleRow = area.removeFromTop (24);
    clear_.setBounds (titleRow.removeFromRight (24));
    title_.setBounds (titleRow);
    auto searchRow = area.removeFromBottom (26);
    findSimilar_.setBounds (searchRow.removeFromRight (110));
    searchMessage_.setBounds (searchRow.withTrimmedRight (6));
    fileName_.setBounds (area);
}

} // namespace latentmorph

#pragma once

#include "state/SlotLoader.h"
#include "ui/SimilarSearch.h"

#include <juce_gui_basics/juce_gui_basics.h>

namespace latentmorph {

/** A sample slot that accepts one dropped audio file (an extension the backend's loader reads,
    shared::kAudioExtensions, in any case), with a "Find similar" button: the backend lists the library
    sounds nearest to the slot's sample in a menu, and choosing one loads it into the slot exactly as
    dropping that file would; an "x" button empties the slot. */
class SlotPanel final : public juce::Component, public juce::FileDragAndDropTarget
{
public:
    SlotPanel (SlotLoader& slots, int index);

    /** Message thread: shows `path` (its file name; the full path as tooltip). */
    void showPath (const juce::String& path);

    bool isInterestedInFileDrag (const juce::StringArray& files) override;
    void fileDragEnter (const juce::StringArray&, int, int) override;
    void fileDragExit (const juce::StringArray&) override;
    void filesDropped (const juce::StringArray& files, int, int) override;
    void paint (juce::Graphics& g) override;
    void resized() override;

private:
    void loadFile (const juce::File& file); // the one way a file gets into the slot: drop or menu
    void findSimilar();
    void showSimilar (const SimilarSearch::Result& result, const juce::String& queryName);
    void showSearchMessage (const juce::String& message, bool isError);

    SlotLoader& slots_;
    const int index_;
    bool dragOver_ = false;
    juce::Label title_, fileName_, searchMessage_;
    juce::TextButton findSimilar_ { "Find similar" };
    juce::TextButton clear_ { "x" }; ///< shown while the slot holds a sample: empties it
    SimilarSearch search_;
};

} // namespace latentmorph

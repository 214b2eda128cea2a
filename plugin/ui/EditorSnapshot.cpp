// LatentMorphEditorSnapshot: renders the plugin's editor off-screen into a PNG, without a host or a display.
//
//   LatentMorphEditorSnapshot OUT.png [STATE.xml] [--drop A|B|C|D FILE]... [--state-out STATE_OUT.xml]
//                             [--new A|B|C|D SEED] [--variation A|B|C|D SEED]
//                             [--size WxH] [--reopen] [--layout LAYOUT.json] [--export DIR]
//
// The processor and editor are the plugin's own classes (the same sources as the VST3). With a
// PluginState XML (the format of getStateInformation) the slots are set from it first; each --drop
// then puts FILE into a slot as a file dropped on it would (root-note detection included), and the
// snapshot waits up to 60 s for the backend so the status line shows the outcome. --new and
// --variation fill a slot as its "New" and "Variation" buttons do (SlotPanel::generateFile, with SEED),
// in order with the drops. --state-out
// writes the processor's state afterwards (tests/test_expressive.py reads the detected root notes).
// --size resizes the editor (as a user dragging its corner, within its limits; default 1000x800);
// --reopen then closes it and opens a new one, which should come back at that size. --layout writes
// LatentMorphEditor::describeLayout() as JSON; --export writes the morph view's sound into DIR with
// the code its Export button runs (MorphView::exportSound) and prints the file's path.
// Exit status 0 when the PNG was written, 1 otherwise (the reason on stderr).

#include "PluginProcessor.h"
#include "state/SlotPaths.h"
#include "ui/PluginEditor.h"

#include <juce_gui_basics/juce_gui_basics.h>

#include <iostream>
#include <utility>
#include <vector>

namespace {

/** A slot filled as the editor fills it: a dropped FILE, or the "New" / "Variation" button with a seed. */
struct SlotAction
{
    enum Kind
    {
        drop,
        newSound,
        variation
    } kind;
    int slot;
    juce::File file;
    juce::int64 seed;
};

juce::Result apply (const SlotAction& action, latentmorph::SlotLoader& slots)
{
    using latentmorph::SlotPanel;

    if (action.kind == SlotAction::drop)
    {
        slots.setSlotPath (action.slot, action.file.getFullPathName());
        return juce::Result::ok();
    }

    juce::File source;

    if (action.kind == SlotAction::variation)
        if (const auto resolved = latentmorph::slot_paths::resolve (slots.getSlots()[static_cast<std::size_t> (action.slot)].path, source);
            resolved.failed())
            return resolved;

    const auto generated = SlotPanel::generateFile (action.kind == SlotAction::variation, source, action.seed, []
                                                    { return false; });

    if (! generated.ok())
        return juce::Result::fail (generated.error.code + ": " + generated.error.message);

    slots.setSlotPath (action.slot, latentmorph::slot_paths::fromFile (*generated.value));
    return juce::Result::ok();
}

} // namespace

int main (int argc, char* argv[])
{
    const auto cwd = juce::File::getCurrentWorkingDirectory();
    juce::StringArray positional;
    std::vector<SlotAction> actions;
    juce::File stateOut, layoutOut, exportDir;
    juce::Point<int> size;
    auto reopen = false;
    auto usable = argc >= 2;

    for (int i = 1; i < argc && usable; ++i)
    {
        const juce::String argument (argv[i]);

        if ((argument == "--drop" || argument == "--new" || argument == "--variation") && i + 2 < argc
            && juce::String (argv[i + 1]).length() == 1 && juce::String ("ABCD").contains (argv[i + 1]))
        {
            const auto kind = argument == "--drop" ? SlotAction::drop : argument == "--new" ? SlotAction::newSound
                                                                                            : SlotAction::variation;
            actions.push_back ({ kind, argv[i + 1][0] - 'A', cwd.getChildFile (argv[i + 2]), juce::String (argv[i + 2]).getLargeIntValue() });
            i += 2;
        }
        else if (argument == "--state-out" && i + 1 < argc)
            stateOut = cwd.getChildFile (argv[++i]);
        else if (argument == "--layout" && i + 1 < argc)
            layoutOut = cwd.getChildFile (argv[++i]);
        else if (argument == "--export" && i + 1 < argc)
            exportDir = cwd.getChildFile (argv[++i]);
        else if (argument == "--size" && i + 1 < argc)
        {
            const juce::String text (argv[++i]);
            size = { text.upToFirstOccurrenceOf ("x", false, false).getIntValue(), text.fromFirstOccurrenceOf ("x", false, false).getIntValue() };
            usable = size.x > 0 && size.y > 0;
        }
        else if (argument == "--reopen")
            reopen = true;
        else if (! argument.startsWith ("--"))
            positional.add (argument);
        else
            usable = false;
    }

    if (! usable || positional.isEmpty() || positional.size() > 2)
    {
        std::cerr << "usage: " << argv[0]
                  << " OUT.png [STATE.xml] [--drop|--new|--variation A|B|C|D FILE|SEED]... [--state-out STATE_OUT.xml]"
                     " [--size WxH] [--reopen]"
                     " [--layout LAYOUT.json] [--export DIR]\n";
        return 1;
    }

    const juce::ScopedJuceInitialiser_GUI gui;
    latentmorph::LatentMorphProcessor processor;

    if (positional.size() == 2 || ! actions.empty())
    {
        if (positional.size() == 2)
        {
            const auto state = cwd.getChildFile (positional[1]).loadFileAsString();
            processor.setStateInformation (state.toRawUTF8(), static_cast<int> (state.getNumBytesAsUTF8()));
        }

        for (const auto& action : actions)
            if (const auto result = apply (action, processor.getSlotLoader()); result.failed())
            {
                std::cerr << result.getErrorMessage() << "\n";
                return 1;
            }

        processor.setNonRealtime (true);
        processor.prepareToPlay (44100.0, 512);
        juce::AudioBuffer<float> buffer (2, 512);
        juce::MidiBuffer midi;
        processor.processBlock (buffer, midi); // offline: waits for the pending grid
    }

    if (stateOut != juce::File())
    {
        juce::MemoryBlock state;
        processor.getStateInformation (state);

        if (! stateOut.replaceWithData (state.getData(), state.getSize()))
        {
            std::cerr << "cannot write " << stateOut.getFullPathName() << "\n";
            return 1;
        }
    }

    std::unique_ptr<latentmorph::LatentMorphEditor> editor (static_cast<latentmorph::LatentMorphEditor*> (processor.createEditor()));

    if (size.x > 0) // through the editor's constrainer, as a host's or the user's resize
        editor->setBoundsConstrained (editor->getBounds().withSize (size.x, size.y));

    if (reopen)
        editor.reset (static_cast<latentmorph::LatentMorphEditor*> (processor.createEditor()));

    if (exportDir != juce::File())
    {
        const auto grid = processor.getSlotLoader().getGrid();
        const auto value = [&processor] (const char* id)
        { return processor.getParameterState().getRawParameterValue (id)->load(); };
        juce::File written;
        const auto result = grid == nullptr ? juce::Result::fail ("no grid to export: the slots have no sound")
                                            : latentmorph::MorphView::exportSound (*grid, value ("morph"), value ("morph_y"), exportDir, written);

        if (result.failed())
        {
            std::cerr << "export: " << result.getErrorMessage() << "\n";
            return 1;
        }

        std::cout << "exported " << written.getFullPathName() << "\n";
    }

    // Let the editor's timer copy the processor's status into its labels.
    for (int i = 0; i < 5; ++i)
        juce::MessageManager::getInstance()->runDispatchLoopUntil (60);

    if (layoutOut != juce::File() && ! layoutOut.replaceWithText (juce::JSON::toString (editor->describeLayout())))
    {
        std::cerr << "cannot write " << layoutOut.getFullPathName() << "\n";
        return 1;
    }

    const auto image = editor->createComponentSnapshot (editor->getLocalBounds(), true, 1.0f);
    juce::File out (cwd.getChildFile (positional[0]));
    out.deleteFile();
    juce::FileOutputStream stream (out);

    if (! stream.openedOk() || ! juce::PNGImageFormat().writeImageToStream (image, stream))
    {
        std::cerr << "cannot write " << out.getFullPathName() << "\n";
        return 1;
    }

    std::cout << out.getFullPathName() << " " << image.getWidth() << "x" << image.getHeight() << "\n";
    editor.reset();
    return 0;
}

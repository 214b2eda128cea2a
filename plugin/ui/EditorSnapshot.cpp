// LatentMorphEditorSnapshot: renders the plugin's editor off-screen into a PNG, without a host or a display.
//
//   LatentMorphEditorSnapshot OUT.png [STATE.xml] [--drop A|B FILE]... [--state-out STATE_OUT.xml]
//
// The processor and editor are the plugin's own classes (the same sources as the VST3). With a
// PluginState XML (the format of getStateInformation) the slots are set from it first; each --drop
// then puts FILE into a slot as a file dropped on it would (root-note detection included), and the
// snapshot waits up to 60 s for the backend so the status line shows the outcome. --state-out
// writes the processor's state afterwards (tests/test_expressive.py reads the detected root notes).
// Exit status 0 when the PNG was written, 1 otherwise (the reason on stderr).

#include "PluginProcessor.h"
#include "ui/PluginEditor.h"

#include <juce_gui_basics/juce_gui_basics.h>

#include <iostream>
#include <utility>
#include <vector>

int main (int argc, char* argv[])
{
    const auto cwd = juce::File::getCurrentWorkingDirectory();
    juce::StringArray positional;
    std::vector<std::pair<int, juce::File>> drops;
    juce::File stateOut;
    auto usable = argc >= 2;

    for (int i = 1; i < argc && usable; ++i)
    {
        const juce::String argument (argv[i]);

        if (argument == "--drop" && i + 2 < argc && (juce::String (argv[i + 1]) == "A" || juce::String (argv[i + 1]) == "B"))
        {
            drops.emplace_back (juce::String (argv[i + 1]) == "A" ? 0 : 1, cwd.getChildFile (argv[i + 2]));
            i += 2;
        }
        else if (argument == "--state-out" && i + 1 < argc)
            stateOut = cwd.getChildFile (argv[++i]);
        else if (! argument.startsWith ("--"))
            positional.add (argument);
        else
            usable = false;
    }

    if (! usable || positional.isEmpty() || positional.size() > 2)
    {
        std::cerr << "usage: " << argv[0] << " OUT.png [STATE.xml] [--drop A|B FILE]... [--state-out STATE_OUT.xml]\n";
        return 1;
    }

    const juce::ScopedJuceInitialiser_GUI gui;
    latentmorph::LatentMorphProcessor processor;

    if (positional.size() == 2 || ! drops.empty())
    {
        if (positional.size() == 2)
        {
            const auto state = cwd.getChildFile (positional[1]).loadFileAsString();
            processor.setStateInformation (state.toRawUTF8(), static_cast<int> (state.getNumBytesAsUTF8()));
        }

        for (const auto& [slot, file] : drops)
            processor.getSlotLoader().setSlotPath (slot, file.getFullPathName());

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

    std::unique_ptr<juce::AudioProcessorEditor> editor (processor.createEditor());

    // Let the editor's timer copy the processor's status into its labels.
    for (int i = 0; i < 5; ++i)
        juce::MessageManager::getInstance()->runDispatchLoopUntil (60);

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

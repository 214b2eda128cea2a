// LatentMorphEditorSnapshot: renders the plugin's editor off-screen into a PNG, without a host or a display.
//
//   LatentMorphEditorSnapshot OUT.png [STATE.xml]
//
// The processor and editor are the plugin's own classes (the same sources as the VST3). With a
// PluginState XML (the format of getStateInformation) the slots are set from it first, and the
// snapshot waits up to 60 s for the backend's grid so the status line shows the ready state.
// Exit status 0 when the PNG was written, 1 otherwise (the reason on stderr).

#include "PluginProcessor.h"
#include "ui/PluginEditor.h"

#include <juce_gui_basics/juce_gui_basics.h>

#include <iostream>

int main (int argc, char* argv[])
{
    if (argc < 2 || argc > 3)
    {
        std::cerr << "usage: " << argv[0] << " OUT.png [STATE.xml]\n";
        return 1;
    }

    const juce::ScopedJuceInitialiser_GUI gui;
    latentmorph::LatentMorphProcessor processor;

    if (argc == 3)
    {
        const auto state = juce::File::getCurrentWorkingDirectory().getChildFile (argv[2]).loadFileAsString();
        processor.setStateInformation (state.toRawUTF8(), static_cast<int> (state.getNumBytesAsUTF8()));
        processor.setNonRealtime (true);
        processor.prepareToPlay (44100.0, 512);
        juce::AudioBuffer<float> buffer (2, 512);
        juce::MidiBuffer midi;
        processor.processBlock (buffer, midi); // offline: waits for the pending grid
    }

    std::unique_ptr<juce::AudioProcessorEditor> editor (processor.createEditor());

    // Let the editor's timer copy the processor's status into its labels.
    for (int i = 0; i < 5; ++i)
        juce::MessageManager::getInstance()->runDispatchLoopUntil (60);

    const auto image = editor->createComponentSnapshot (editor->getLocalBounds(), true, 1.0f);
    juce::File out (juce::File::getCurrentWorkingDirectory().getChildFile (argv[1]));
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

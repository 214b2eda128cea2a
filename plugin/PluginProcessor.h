#pragma once

#include "engine/Engine.h"
#include "state/Parameters.h"
#include "state/SlotLoader.h"

#include <juce_audio_processors/juce_audio_processors.h>

namespace latentmorph {

/** The LatentMorph instrument: parameters, state and sample slots around the voice engine.
    Thin glue: the engine does the DSP, SlotLoader talks to the backend off the audio thread. */
class LatentMorphProcessor final : public juce::AudioProcessor
{
public:
    /** Cheap: no backend, no file access, no threads (hosts re-create instances often). */
    LatentMorphProcessor();
    ~LatentMorphProcessor() override;

    void prepareToPlay (double sampleRate, int maximumExpectedSamplesPerBlock) override;
    void releaseResources() override {}
    void reset() override;
    bool isBusesLayoutSupported (const BusesLayout& layouts) const override;

    /** Real time: reads the cached parameters, takes a newly published grid, renders the engine
        sample-accurately between MIDI events and copies the mono voice mix to every output channel.
        Offline (isNonRealtime()) it first waits, at most kOfflineGridWait, for a pending grid request
        so offline renders are deterministic; in real time it never waits. */
    void processBlock (juce::AudioBuffer<float>& buffer, juce::MidiBuffer& midiMessages) override;
    using AudioProcessor::processBlock;

    juce::AudioProcessorEditor* createEditor() override;
    bool hasEditor() const override { return true; }

    const juce::String getName() const override { return JucePlugin_Name; }
    bool acceptsMidi() const override { return true; }
    bool producesMidi() const override { return false; }
    bool isMidiEffect() const override { return false; }
    double getTailLengthSeconds() const override { return 0.0; }

    int getNumPrograms() override { return 1; }
    int getCurrentProgram() override { return 0; }
    void setCurrentProgram (int) override {}
    const juce::String getProgramName (int) override { return {}; }
    void changeProgramName (int, const juce::String&) override {}

    /** Writes the PluginState XML (UTF-8, no header). */
    void getStateInformation (juce::MemoryBlock& destData) override;

    /** Validates and applies a PluginState; an invalid one is rejected whole (current state kept,
        status error with the reason). Starts a grid request when the slots change: a state naming the
        grid files it played plays them as soon as the worker has checked them, before the backend
        answers (SlotLoader). */
    void setStateInformation (const void* data, int sizeInBytes) override;

    juce::AudioProcessorValueTreeState& getParameterState() noexcept { return parameterState_; }
    SlotLoader& getSlotLoader() noexcept { return slotLoader_; }

    /** Message thread: the editor's size when it was last resized (0 x 0 before), so that a reopened
        editor keeps it. Not part of the saved state. */
    juce::Point<int> lastEditorSize;

    static constexpr std::chrono::milliseconds kOfflineGridWait { 60000 };

private:
    void updateEngineParameters() noexcept;

    juce::AudioProcessorValueTreeState parameterState_;
    ParameterValues parameterValues_;
    Engine engine_;
    SlotLoader slotLoader_; // after engine_: its worker uses the engine until it is joined

    JUCE_DECLARE_NON_COPYABLE_WITH_LEAK_DETECTOR (LatentMorphProcessor)
};

} // namespace latentmorph

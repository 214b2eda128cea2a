#include "PluginProcessor.h"

#include "state/PluginState.h"
#include "ui/PluginEditor.h"

namespace latentmorph {

LatentMorphProcessor::LatentMorphProcessor()
    : AudioProcessor (BusesProperties().withOutput ("Output", juce::AudioChannelSet::stereo(), true)),
      parameterState_ (*this, nullptr, "Parameters", createParameterLayout()),
      parameterValues_ (parameterState_),
      slotLoader_ (engine_)
{
    setLatencySamples (0);

    // A dropped file's detected root note becomes its slot's root-note and fine-tune parameters (the
    // worker thread calls this; hosts take parameter changes from any thread).
    slotLoader_.setRootNoteListener ([this] (int slot, int midiNote, float fineTuneCents)
                                     {
        const auto set = [this] (ParameterIndex index, float value)
        {
            auto* parameter = parameterState_.getParameter (parameterSpec (index).id);
            parameter->setValueNotifyingHost (parameter->convertTo0to1 (value));
        };
        constexpr ParameterIndex kRoots[] = { ParameterIndex::rootNote, ParameterIndex::rootNoteB, ParameterIndex::rootNoteC, ParameterIndex::rootNoteD };
        constexpr ParameterIndex kFineTunes[] = { ParameterIndex::fineTuneACents, ParameterIndex::fineTuneBCents, ParameterIndex::fineTuneCCents,
                                                  ParameterIndex::fineTuneDCents };
        const auto index = static_cast<std::size_t> (juce::jlimit (0, 3, slot));
        set (kRoots[index], static_cast<float> (midiNote));
        set (kFineTunes[index], fineTuneCents); });
}

LatentMorphProcessor::~LatentMorphProcessor() = default;

void LatentMorphProcessor::prepareToPlay (double sampleRate, int maximumExpectedSamplesPerBlock)
{
    updateEngineParameters();
    engine_.prepare (sampleRate, maximumExpectedSamplesPerBlock);
}

void LatentMorphProcessor::reset()
{
    engine_.reset();
}

bool LatentMorphProcessor::isBusesLayoutSupported (const BusesLayout& layouts) const
{
    return layouts.inputBuses.isEmpty() && layouts.getMainOutputChannelSet() == juce::AudioChannelSet::stereo();
}

void LatentMorphProcessor::updateEngineParameters() noexcept
{
    engine_.setMorph (parameterValues_.get (ParameterIndex::morph));
    engine_.setGainDb (parameterValues_.get (ParameterIndex::gainDb));
    engine_.setAttackMs (parameterValues_.get (ParameterIndex::attackMs));
    engine_.setDecayMs (parameterValues_.get (ParameterIndex::decayMs));
    engine_.setSustain (parameterValues_.get (ParameterIndex::sustain));
    engine_.setReleaseMs (parameterValues_.get (ParameterIndex::releaseMs));
    engine_.setRootNote (juce::roundToInt (parameterValues_.get (ParameterIndex::rootNote)));
    engine_.setPolyphony (juce::roundToInt (parameterValues_.get (ParameterIndex::polyphony)));
    engine_.setBendRange (parameterValues_.get (ParameterIndex::bendRangeSemitones));
    engine_.setModWheelMorph (parameterValues_.get (ParameterIndex::modWheelMorph));
    engine_.setVelocityCurve (parameterValues_.get (ParameterIndex::velocityCurve));
    engine_.setVelocityMorph (parameterValues_.get (ParameterIndex::velocityMorph));
    engine_.setRootNoteB (juce::roundToInt (parameterValues_.get (ParameterIndex::rootNoteB)));
    engine_.setFineTune (0, parameterValues_.get (ParameterIndex::fineTuneACents));
    engine_.setFineTune (1, parameterValues_.get (ParameterIndex::fineTuneBCents));
    engine_.setMorphY (parameterValues_.get (ParameterIndex::morphY));
    engine_.setAftertouchMorphY (parameterValues_.get (ParameterIndex::aftertouchMorphY));
    engine_.setRootNoteC (juce::roundToInt (parameterValues_.get (ParameterIndex::rootNoteC)));
    engine_.setRootNoteD (juce::roundToInt (parameterValues_.get (ParameterIndex::rootNoteD)));
    engine_.setFineTune (2, parameterValues_.get (ParameterIndex::fineTuneCCents));
    engine_.setFineTune (3, parameterValues_.get (ParameterIndex::fineTuneDCents));
    engine_.setStartMs (parameterValues_.get (ParameterIndex::startMs));
    engine_.setVoiceMode (juce::roundToInt (parameterValues_.get (ParameterIndex::voiceMode)));
    engine_.setGlideMs (parameterValues_.get (ParameterIndex::glideMs));
    engine_.setLoopMode (juce::roundToInt (parameterValues_.get (ParameterIndex::loopMode)));
    engine_.setLoopCrossfadeMs (parameterValues_.get (ParameterIndex::loopCrossfadeMs));
    engine_.setLoopPointsMs (parameterValues_.get (ParameterIndex::loopStartMs), parameterValues_.get (ParameterIndex::loopEndMs));
}

void LatentMorphProcessor::processBlock (juce::AudioBuffer<float>& buffer, juce::MidiBuffer& midiMessages)
{
    const juce::ScopedNoDenormals noDenormals;

    slotLoader_.setDetail (parameterValues_.get (ParameterIndex::detail));

    if (isNonRealtime() && slotLoader_.isBusy())
        slotLoader_.waitUntilDone (kOfflineGridWait, [this]
                                   { engine_.beginBlock(); });

    updateEngineParameters();
    engine_.beginBlock();

    const auto numSamples = buffer.getNumSamples();

    if (buffer.getNumChannels() == 0)
        return;

    auto* out = buffer.getWritePointer (0);
    int position = 0;

    // Raw MIDI bytes rather than MidiMessage objects: a long SysEx would make MidiMessage allocate.
    for (const auto metadata : midiMessages)
    {
        const auto offset = juce::jlimit (position, numSamples, metadata.samplePosition);
        engine_.render (out + position, offset - position);
        position = offset;
        engine_.handleMidiMessage (metadata.data, metadata.numBytes); // notes, bend, controllers
    }

    engine_.render (out + position, numSamples - position);

    for (int channel = 1; channel < buffer.getNumChannels(); ++channel)
        buffer.copyFrom (channel, 0, buffer, 0, 0, numSamples);
}

juce::AudioProcessorEditor* LatentMorphProcessor::createEditor()
{
    return new LatentMorphEditor (*this);
}

void LatentMorphProcessor::getStateInformation (juce::MemoryBlock& destData)
{
    const auto xml = PluginState::write (parameterState_.copyState(), slotLoader_.getSlots(), slotLoader_.getModelId(),
                                         slotLoader_.getStatus(), slotLoader_.getGridFiles());
    destData.replaceAll (xml.toRawUTF8(), xml.getNumBytesAsUTF8());
}

void LatentMorphProcessor::setStateInformation (const void* data, int sizeInBytes)
{
    PluginState state;

    if (const auto result = PluginState::parse (data, static_cast<std::size_t> (juce::jmax (0, sizeInBytes)), state); result.failed())
    {
        slotLoader_.reportError ("state rejected: " + result.getErrorMessage());
        return;
    }

    for (std::size_t i = 0; i < kParameterTable.size(); ++i)
    {
        auto* parameter = parameterState_.getParameter (kParameterTable[i].id);
        parameter->setValueNotifyingHost (parameter->convertTo0to1 (state.parameters[i]));
    }

    // the parameter's value, as processBlock passes it (a saved value between its steps is snapped): the
    // grid asked for now is the one played, not re-rendered at the first block
    slotLoader_.setDetail (parameterValues_.get (ParameterIndex::detail));
    slotLoader_.setSlots (state.slots, state.modelId, state.grid); // plays state.grid's files at once if they still fit
}

} // namespace latentmorph

juce::AudioProcessor* JUCE_CALLTYPE createPluginFilter()
{
    return new latentmorph::LatentMorphProcessor();
}

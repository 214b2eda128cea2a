#include "ui/PluginEditor.h"

#include "ui/Colours.h"

namespace latentmorph {

using namespace colours;

namespace {

using P = ParameterIndex;

/** The knob sections, two to a row; the slots' root notes and fine tunes are in the slot panels. */
struct SectionSpec
{
    const char* title;
    std::vector<P> parameters;
};

const std::array<SectionSpec, 4> kSections { {
    { "Morph", { P::morph, P::morphY, P::detail, P::modWheelMorph, P::velocityMorph, P::aftertouchMorphY } },
    { "Amp envelope", { P::gainDb, P::attackMs, P::decayMs, P::sustain, P::releaseMs, P::velocityCurve } },
    { "Pitch & MIDI", { P::bendRangeSemitones, P::polyphony, P::voiceMode, P::glideMs } },
    { "Playback", { P::startMs, P::loopMode, P::loopCrossfadeMs, P::loopStartMs, P::loopEndMs } },
} };

constexpr float kKnobLabelFontHeight = 13.0f;

/** Lines of `text` wrapped at spaces to `width` pixels in `font`; 0 when a word alone is wider. */
int wrappedLines (const juce::String& text, const juce::Font& font, float width)
{
    int lines = 0;
    juce::String line;

    for (const auto& word : juce::StringArray::fromTokens (text, " ", {}))
    {
        if (font.getStringWidthFloat (word) > width)
            return 0;

        const auto candidate = line.isEmpty() ? word : line + " " + word;

        if (line.isNotEmpty() && font.getStringWidthFloat (candidate) > width)
        {
            ++lines;
            line = word;
        }
        else
            line = candidate;
    }

    return lines + (line.isNotEmpty() ? 1 : 0);
}

juce::var toVar (juce::Rectangle<int> r) { return juce::Array<juce::var> { r.getX(), r.getY(), r.getWidth(), r.getHeight() }; }

} // namespace

LatentMorphEditor::LatentMorphEditor (LatentMorphProcessor& owner)
    : AudioProcessorEditor (owner),
      processor_ (owner),
      pad_ (owner.getParameterState()),
      morphView_ (owner.getSlotLoader(), owner.getParameterState())
{
    addAndMakeVisible (pad_);
    addAndMakeVisible (morphView_);

    for (std::size_t i = 0; i < slots_.size(); ++i)
    {
        slots_[i] = std::make_unique<SlotPanel> (owner.getSlotLoader(), owner.getParameterState(), static_cast<int> (i));
        addAndMakeVisible (*slots_[i]);
    }

    addAndMakeVisible (status_);

    for (const auto& sectionSpec : kSections)
    {
        Section section { sectionSpec.title, {}, {} };

        for (const auto index : sectionSpec.parameters)
        {
            const auto& spec = parameterSpec (index);
            auto knob = std::make_unique<Knob>();
            knob->spec = &spec;
            knob->slider.setColour (juce::Slider::rotarySliderFillColourId, kAccent);
            knob->slider.setColour (juce::Slider::rotarySliderOutlineColourId, kTrack); // the knob's whole range, under the value arc
            knob->slider.setColour (juce::Slider::thumbColourId, kAccent.brighter (0.4f));
            knob->label.setText (spec.name, juce::dontSendNotification);
            knob->label.setFont (juce::Font (kKnobLabelFontHeight));
            knob->label.setJustificationType (juce::Justification::centred);
            knob->label.setMinimumHorizontalScale (1.0f); // wrap a long name onto its second line, never squeeze it

            if (*spec.unit != '\0') // before the attachment, which sets the text from the parameter
                knob->slider.setTextValueSuffix (juce::String (" ") + spec.unit);

            knob->attachment = std::make_unique<juce::AudioProcessorValueTreeState::SliderAttachment> (owner.getParameterState(), spec.id, knob->slider);
            addAndMakeVisible (knob->slider);
            addAndMakeVisible (knob->label);
            section.knobs.push_back (knob.get());
            knobs_.push_back (std::move (knob));
        }

        sections_.push_back (std::move (section));
    }

    // read first: setResizeLimits already resizes (and resized() records) the empty editor
    const auto size = owner.lastEditorSize.x > 0 ? owner.lastEditorSize : kDefaultSize;
    setResizable (true, true);
    setResizeLimits (kMinSize.x, kMinSize.y, kMaxSize.x, kMaxSize.y);
    setSize (size.x, size.y);
    timerCallback();
    startTimerHz (10);
}

LatentMorphEditor::~LatentMorphEditor()
{
    stopTimer();
}

void LatentMorphEditor::timerCallback()
{
    auto& slots = processor_.getSlotLoader();
    const auto paths = slots.getSlots();
    const auto grid = slots.getGrid();
    std::array<juce::String, SlotLoader::kNumSlots> names;

    for (std::size_t i = 0; i < slots_.size(); ++i)
    {
        slots_[i]->showPath (paths[i].path);
        names[i] = paths[i].path.fromLastOccurrenceOf ("/", false, false).fromLastOccurrenceOf (":", false, false);

        // A new grid is the one of the current slots: their corners are their samples.
        if (grid != shownGrid_)
            slots_[i]->showWaveform (grid.get(), paths[i].path);
    }

    shownGrid_ = grid;
    pad_.setCornerNames (names);
    pad_.refresh();
    morphView_.refresh();

    const auto status = slots.getStatus();
    const auto text = juce::String (SlotLoader::toString (status.state)) + ": " + status.message;

    if (status_.getText() != text)
    {
        status_.setText (text, juce::dontSendNotification);
        status_.setTooltip (text);
        status_.setColour (juce::Label::textColourId, status.state == SlotLoader::State::error ? kError : juce::Colours::white);
    }
}

void LatentMorphEditor::paint (juce::Graphics& g)
{
    g.fillAll (kBackground);
    g.setColour (juce::Colours::white);
    g.setFont (juce::Font (20.0f, juce::Font::bold));
    g.drawText ("LatentMorph", getLocalBounds().removeFromTop (40).reduced (12, 0), juce::Justification::centredLeft);

    for (const auto& section : sections_)
    {
        g.setColour (kPanel);
        g.fillRoundedRectangle (section.bounds.toFloat(), 8.0f);
        g.setColour (kAccent);
        g.setFont (juce::Font (14.0f, juce::Font::bold));
        g.drawText (section.title, section.bounds.reduced (10, 4).removeFromTop (18), juce::Justification::centredLeft);
    }
}

void LatentMorphEditor::resized()
{
    processor_.lastEditorSize = { getWidth(), getHeight() };

    auto area = getLocalBounds().reduced (12);
    area.removeFromTop (32);
    status_.setBounds (area.removeFromBottom (24));

    // Two rows of knob sections (Morph | Amp envelope, Pitch & MIDI | Playback), the morph view, and
    // on top the slots around the pad.
    const auto knobRowHeight = juce::jlimit (112, 180, area.getHeight() * 21 / 100);
    auto knobRows = area.removeFromBottom (2 * knobRowHeight);
    area.removeFromBottom (6);
    morphView_.setBounds (area.removeFromBottom (juce::jlimit (70, 220, area.getHeight() / 4)));
    area.removeFromBottom (6);

    const auto padSide = juce::jmin (area.getHeight(), area.getWidth() * 34 / 100);
    const auto slotWidth = (area.getWidth() - padSide) / 2;
    auto left = area.removeFromLeft (slotWidth), right = area.removeFromRight (slotWidth);
    pad_.setBounds (area.withSizeKeepingCentre (padSide, area.getHeight()).reduced (4));
    slots_[0]->setBounds (left.removeFromTop (left.getHeight() / 2).reduced (4));
    slots_[2]->setBounds (left.reduced (4));
    slots_[1]->setBounds (right.removeFromTop (right.getHeight() / 2).reduced (4));
    slots_[3]->setBounds (right.reduced (4));

    for (std::size_t row = 0; row < 2; ++row)
    {
        auto rowArea = knobRows.removeFromTop (knobRowHeight).reduced (4, 3);
        auto& first = sections_[2 * row];
        auto& second = sections_[2 * row + 1];
        // widths in proportion to the knob counts
        const auto total = static_cast<int> (first.knobs.size() + second.knobs.size());
        first.bounds = rowArea.removeFromLeft (rowArea.getWidth() * static_cast<int> (first.knobs.size()) / total).withTrimmedRight (4);
        second.bounds = rowArea.withTrimmedLeft (4);

        for (auto* section : { &first, &second })
        {
            auto inside = section->bounds.reduced (6, 4);
            inside.removeFromTop (20); // the section's title
            const auto count = static_cast<int> (section->knobs.size());
            const auto knobWidth = inside.getWidth() / count;

            for (int k = 0; k < count; ++k)
            {
                auto* knob = section->knobs[static_cast<std::size_t> (k)];
                auto cell = inside.withX (inside.getX() + k * knobWidth).withWidth (knobWidth).reduced (2, 0);
                knob->label.setBounds (cell.removeFromTop (2 * static_cast<int> (kKnobLabelFontHeight) + 6)); // two lines
                knob->slider.setTextBoxStyle (juce::Slider::TextBoxBelow, false, cell.getWidth(), 18);
                knob->slider.setBounds (cell);
            }
        }
    }
}

juce::var LatentMorphEditor::describeLayout() const
{
    juce::Array<juce::var> knobs, waveforms;

    for (const auto& knob : knobs_)
    {
        const auto& label = knob->label;
        const auto text = label.getBorderSize().subtractedFrom (label.getLocalBounds());
        const auto lines = wrappedLines (label.getText(), label.getFont(), static_cast<float> (text.getWidth()));
        juce::DynamicObject::Ptr item = new juce::DynamicObject();
        item->setProperty ("id", knob->spec->id);
        item->setProperty ("label", label.getText());
        item->setProperty ("slider", toVar (knob->slider.getBounds()));
        item->setProperty ("label_bounds", toVar (label.getBounds()));
        item->setProperty ("label_fits", lines > 0 && static_cast<float> (lines) * label.getFont().getHeight() <= static_cast<float> (text.getHeight()));
        knobs.add (juce::var (item.get()));
    }

    for (const auto& slot : slots_)
        waveforms.add (toVar (slot->getWaveformBounds().translated (slot->getX(), slot->getY())));

    juce::DynamicObject::Ptr layout = new juce::DynamicObject();
    layout->setProperty ("size", juce::Array<juce::var> { getWidth(), getHeight() });
    layout->setProperty ("knobs", knobs);
    layout->setProperty ("slot_waveforms", waveforms);
    layout->setProperty ("pad", toVar (pad_.getBounds()));
    layout->setProperty ("morph_view", toVar (morphView_.getWaveformBounds().translated (morphView_.getX(), morphView_.getY())));
    return juce::var (layout.get());
}

} // namespace latentmorph

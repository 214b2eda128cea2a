#include "ui/WaveformView.h"

#include "ui/Colours.h"

#include <algorithm>
#include <cmath>

namespace latentmorph {

using namespace colours;

WaveformView::WaveformView (juce::String hint) : hint_ (std::move (hint)) { setInterceptsMouseClicks (false, false); }

void WaveformView::setSamples (const float* samples, std::size_t numSamples)
{
    peaks_.clear();

    if (numSamples > 0)
    {
        const auto columns = std::min<std::size_t> (kColumns, numSamples);
        auto loudest = 0.0f;

        for (std::size_t c = 0; c < columns; ++c)
        {
            const auto [lowest, highest] = std::minmax_element (samples + c * numSamples / columns, samples + (c + 1) * numSamples / columns);
            peaks_.emplace_back (*lowest, *highest);
            loudest = std::max ({ loudest, std::abs (*lowest), std::abs (*highest) });
        }

        if (loudest > 0.0f)
            for (auto& [lowest, highest] : peaks_)
            {
                lowest /= loudest;
                highest /= loudest;
            }
    }

    repaint();
}

void WaveformView::paint (juce::Graphics& g)
{
    const auto bounds = getLocalBounds().toFloat();
    g.setColour (kBackground);
    g.fillRoundedRectangle (bounds, 4.0f);

    if (peaks_.empty())
    {
        g.setColour (juce::Colours::grey);
        g.setFont (juce::Font (12.0f));
        g.drawFittedText (hint_, getLocalBounds().reduced (4), juce::Justification::centred, 2);
        return;
    }

    const auto centre = bounds.getCentreY(), halfHeight = 0.5f * bounds.getHeight() - 2.0f;
    g.setColour (kAccent);

    for (int x = 0; x < getWidth(); ++x)
    {
        // the peaks of the columns under pixel x (at least one)
        const auto first = static_cast<std::size_t> (x) * peaks_.size() / static_cast<std::size_t> (getWidth());
        const auto last = std::max (first + 1, static_cast<std::size_t> (x + 1) * peaks_.size() / static_cast<std::size_t> (getWidth()));
        auto lowest = peaks_[first].first, highest = peaks_[first].second;

        for (auto c = first + 1; c < last; ++c)
        {
            lowest = std::min (lowest, peaks_[c].first);
            highest = std::max (highest, peaks_[c].second);
        }

        g.drawVerticalLine (x, centre - highest * halfHeight, centre - lowest * halfHeight + 1.0f);
    }
}

} // namespace latentmorph

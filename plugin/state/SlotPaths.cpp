#include "state/SlotPaths.h"

namespace latentmorph::slot_paths {

juce::File factoryDirectory()
{
    const auto fromEnvironment = juce::SystemStats::getEnvironmentVariable ("LATENTMORPH_FACTORY_DIR", {});
    return juce::File (fromEnvironment.isNotEmpty() ? fromEnvironment : juce::String (LATENTMORPH_FACTORY_DIR));
}

bool isXmlChar (juce::juce_wchar character) noexcept
{
    const auto c = static_cast<juce::uint32> (character);
    return c == '\t' || c == '\n' || c == '\r' || (c >= 0x20 && c < 0xd800) || (c >= 0xe000 && c < 0xfffe) || (c >= 0x10000 && c <= 0x10ffff);
}

bool isXmlText (const juce::String& text)
{
    for (auto cursor = text.getCharPointer(); ! cursor.isEmpty();)
        if (! isXmlChar (cursor.getAndAdvance()))
            return false;

    return true;
}

juce::Result resolve (const juce::String& slotPath, juce::File& resolved)
{
    // Checked first, and the path not quoted: the message ends up in the state's status.
    if (! isXmlText (slotPath))
        return juce::Result::fail ("the path has a character that a saved project cannot hold (a control character or a lone surrogate)");

    if (slotPath.startsWith (kFactoryPrefix))
    {
        const auto relative = slotPath.fromFirstOccurrenceOf (kFactoryPrefix, false, false);
        const auto directory = factoryDirectory();

        if (relative.isEmpty() || juce::File::isAbsolutePath (relative))
            return juce::Result::fail ("bad factory path \"" + slotPath + "\": expected factory:relative/path");

        resolved = directory.getChildFile (relative);

        if (! resolved.isAChildOf (directory))
            return juce::Result::fail ("factory path \"" + slotPath + "\" points outside the factory directory");

        return juce::Result::ok();
    }

    if (! juce::File::isAbsolutePath (slotPath))
        return juce::Result::fail ("slot path \"" + slotPath + "\" is neither absolute nor factory:relative/path");

    resolved = juce::File (slotPath);
    return juce::Result::ok();
}

juce::String fromFile (const juce::File& file)
{
    const auto directory = factoryDirectory();

    if (file.isAChildOf (directory))
        return kFactoryPrefix + file.getRelativePathFrom (directory);

    return file.getFullPathName();
}

} // namespace latentmorph::slot_paths

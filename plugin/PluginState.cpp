#include "PluginState.h"

#include "SlotPaths.h"

#include <cmath>
#include <cstring>
#include <optional>

namespace latentmorph {

namespace {

constexpr const char* kRootTag = "LatentMorphState";

/** A whole attribute parsed as a finite number (locale-independent); nullopt for anything else. */
std::optional<double> parseNumber (const juce::String& text)
{
    const auto trimmed = text.trim();
    auto cursor = trimmed.getCharPointer();
    const auto start = cursor;
    const auto value = juce::CharacterFunctions::readDoubleValue (cursor);

    if (cursor == start || ! cursor.isEmpty() || ! std::isfinite (value))
        return std::nullopt;

    return value;
}

std::optional<int> parseInteger (const juce::String& text)
{
    const auto value = parseNumber (text);

    if (! value.has_value() || *value != std::floor (*value) || std::abs (*value) > 1.0e9)
        return std::nullopt;

    return static_cast<int> (*value);
}

bool isSha256Hex (const juce::String& text)
{
    return text.length() == 64 && text.containsOnly ("0123456789abcdefABCDEF");
}

} // namespace

juce::Result PluginState::parse (const void* data, std::size_t sizeInBytes, PluginState& out)
{
    const auto* bytes = static_cast<const char*> (data);
    const auto length = bytes != nullptr ? ::strnlen (bytes, sizeInBytes) : 0;

    if (length == 0)
        return juce::Result::fail ("state is empty or not text");

    if (! juce::CharPointer_UTF8::isValidString (bytes, static_cast<int> (length)))
        return juce::Result::fail ("state is not UTF-8 text");

    juce::XmlDocument document (juce::String::fromUTF8 (bytes, static_cast<int> (length)));
    const auto root = document.getDocumentElement();

    if (root == nullptr)
        return juce::Result::fail ("state is not XML: " + (document.getLastParseError().isNotEmpty() ? document.getLastParseError()
                                                                                                      : juce::String ("no element found")));

    if (! root->hasTagName (kRootTag))
        return juce::Result::fail ("state root is <" + root->getTagName() + ">, expected <" + kRootTag + ">");

    const auto formatVersion = parseInteger (root->getStringAttribute ("format_version"));

    if (! formatVersion.has_value() || *formatVersion < 1)
        return juce::Result::fail ("state has no valid format_version");

    if (*formatVersion > kFormatVersion)
        return juce::Result::fail ("state format_version " + juce::String (*formatVersion) + " is newer than this plugin's ("
                                   + juce::String (kFormatVersion) + ")");

    PluginState state;
    state.modelId = root->getStringAttribute ("model_id");

    for (std::size_t i = 0; i < kParameterTable.size(); ++i)
        state.parameters[i] = kParameterTable[i].defaultValue;

    if (const auto* parameters = root->getChildByName ("Parameters"))
    {
        for (const auto* parameter : parameters->getChildWithTagNameIterator ("PARAM"))
        {
            const auto id = parameter->getStringAttribute ("id");
            const auto* spec = findParameterSpec (id);

            if (spec == nullptr)
                continue;   // a parameter this version does not have

            const auto value = parseNumber (parameter->getStringAttribute ("value"));

            if (! value.has_value())
                return juce::Result::fail ("parameter " + id + " has a bad value \"" + parameter->getStringAttribute ("value") + "\"");

            auto clamped = juce::jlimit (spec->minValue, spec->maxValue, static_cast<float> (*value));
            state.parameters[static_cast<std::size_t> (spec - kParameterTable.data())] = spec->isInteger ? std::round (clamped) : clamped;
        }
    }

    std::array<bool, 2> seen {};

    for (const auto* slot : root->getChildWithTagNameIterator ("Slot"))
    {
        const auto index = parseInteger (slot->getStringAttribute ("index"));

        if (! index.has_value() || *index < 0 || *index > 1 || seen[static_cast<std::size_t> (*index)])
            return juce::Result::fail ("bad or repeated slot index \"" + slot->getStringAttribute ("index") + "\"");

        seen[static_cast<std::size_t> (*index)] = true;
        const auto path = slot->getStringAttribute ("path");
        const auto sha256 = slot->getStringAttribute ("sha256");
        juce::File resolved;

        if (path.isNotEmpty())
            if (const auto result = slot_paths::resolve (path, resolved); result.failed())
                return juce::Result::fail ("slot " + juce::String (*index) + ": " + result.getErrorMessage());

        if (sha256.isNotEmpty() && ! isSha256Hex (sha256))
            return juce::Result::fail ("slot " + juce::String (*index) + " has a bad sha256 \"" + sha256 + "\"");

        state.slots[static_cast<std::size_t> (*index)] = { path, sha256.toLowerCase() };
    }

    out = std::move (state);
    return juce::Result::ok();
}

juce::String PluginState::write (const juce::ValueTree& parameters, const SlotLoader::Slots& slots, const juce::String& modelId,
                                 const SlotLoader::Status& status)
{
    juce::XmlElement root (kRootTag);
    root.setAttribute ("format_version", kFormatVersion);
    root.setAttribute ("model_id", modelId);
    root.addChildElement (parameters.createXml().release());

    for (std::size_t i = 0; i < slots.size(); ++i)
    {
        auto* slot = root.createNewChildElement ("Slot");
        slot->setAttribute ("index", static_cast<int> (i));
        slot->setAttribute ("path", slots[i].path);
        slot->setAttribute ("sha256", slots[i].sha256);
    }

    auto* statusElement = root.createNewChildElement ("Status");
    statusElement->setAttribute ("state", SlotLoader::toString (status.state));
    statusElement->setAttribute ("message", status.message);

    juce::XmlElement::TextFormat format;
    format.newLineChars = "\n";
    format.lineWrapLength = 1000;
    return root.toString (format);
}

} // namespace latentmorph

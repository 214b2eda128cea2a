#include "state/PluginState.h"

#include "state/Parameters.h"
#include "state/SlotPaths.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <optional>
#include <string_view>
#include <utility>

namespace latentmorph {

namespace {

constexpr const char* kRootTag = "LatentMorphState";
constexpr std::size_t kMaxStateBytes = std::size_t { 1 } << 20; // a real state is ~1 KB
constexpr int kMaxStateDepth = 8;                               // a real state nests 3: root, Parameters, PARAM

bool startsWith (std::string_view text, std::string_view prefix) noexcept
{
    return text.compare (0, prefix.size(), prefix) == 0;
}

/** True for well-formed UTF-8 (RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF).
    juce::CharPointer_UTF8::isValidString lets malformed sequences through, and juce::String keeps
    them as they are. */
bool isWellFormedUtf8 (std::string_view text) noexcept
{
    constexpr std::uint32_t kSmallestOfLength[] = { 0, 0, 0x80, 0x800, 0x10000 };

    for (std::size_t i = 0; i < text.size();)
    {
        const auto lead = static_cast<unsigned char> (text[i]);
        const std::size_t length = lead < 0x80 ? 1 : (lead >> 5) == 0x6 ? 2
                                                 : (lead >> 4) == 0xe   ? 3
                                                 : (lead >> 3) == 0x1e  ? 4
                                                                        : 0;

        if (length == 0 || i + length > text.size())
            return false;

        std::uint32_t code = length == 1 ? lead : lead & (0x7fu >> length);

        for (std::size_t k = 1; k < length; ++k)
        {
            const auto next = static_cast<unsigned char> (text[i + k]);

            if ((next & 0xc0) != 0x80)
                return false;

            code = (code << 6) | (next & 0x3fu);
        }

        if (code < kSmallestOfLength[length] || (code >= 0xd800 && code < 0xe000) || code > 0x10ffff)
            return false;

        i += length;
    }

    return true;
}

/** Refuses what the recursive juce::XmlDocument must not see: elements nested deeper than kMaxStateDepth
    (each level is a stack frame of the parser, so a few thousand overflow a host thread's stack) and
    declarations (<!DOCTYPE …>, whose entities JUCE expands recursively). One iterative pass over the
    text that follows the parser's rules for comments, CDATA, processing instructions and quoted
    attribute values; it only bounds the nesting, the parser checks the rest. */
juce::Result checkNesting (std::string_view xml)
{
    int depth = 0;
    std::size_t i = 0;

    const auto skipPast = [&xml, &i] (std::string_view terminator)
    {
        const auto end = xml.find (terminator, i);
        i = end == std::string_view::npos ? xml.size() : end + terminator.size();
    };

    while ((i = xml.find ('<', i)) != std::string_view::npos)
    {
        const auto rest = xml.substr (i);

        if (startsWith (rest, "<!--"))
            skipPast ("-->");
        else if (startsWith (rest, "<![CDATA["))
            skipPast ("]]>");
        else if (startsWith (rest, "<?"))
            skipPast ("?>");
        else if (startsWith (rest, "<!"))
            return juce::Result::fail ("state has a declaration (<!...>), which is not allowed");
        else if (startsWith (rest, "</"))
        {
            if (--depth < 0)
                return juce::Result::fail ("state closes an element it never opened");

            skipPast (">");
        }
        else
        {
            // a start tag: it ends at the first '>' outside a quoted attribute value
            char quote = 0;

            for (++i; i < xml.size() && (quote != 0 || xml[i] != '>'); ++i)
                if (quote == 0 && (xml[i] == '"' || xml[i] == '\''))
                    quote = xml[i];
                else if (xml[i] == quote)
                    quote = 0;

            const auto selfClosing = i < xml.size() && xml[i - 1] == '/';

            if (! selfClosing && ++depth > kMaxStateDepth)
                return juce::Result::fail ("state nests elements deeper than " + juce::String (kMaxStateDepth) + " levels");

            ++i;
        }
    }

    return juce::Result::ok();
}

using Names = std::initializer_list<const char*>;

bool isOneOf (const juce::String& name, Names names)
{
    return std::any_of (names.begin(), names.end(), [&name] (const char* candidate)
                        { return name == candidate; });
}

/** Fails unless `element` has only attributes named in `attributes`, each holding text XML can store,
    and only child elements tagged as in `children` (text counts as an unknown child). */
juce::Result checkElement (const juce::XmlElement& element, Names attributes, Names children)
{
    const auto tag = "<" + element.getTagName() + ">";

    for (int i = 0; i < element.getNumAttributes(); ++i)
    {
        const auto& name = element.getAttributeName (i);

        if (! isOneOf (name, attributes))
            return juce::Result::fail (tag + " has an unknown attribute \"" + name + "\"");

        if (! slot_paths::isXmlText (element.getAttributeValue (i)))
            return juce::Result::fail (tag + " attribute " + name + " has a character that XML cannot hold");
    }

    for (const auto* child : element.getChildIterator())
    {
        if (child->isTextElement())
            return juce::Result::fail (tag + " holds text");

        if (! isOneOf (child->getTagName(), children))
            return juce::Result::fail (tag + " holds an unknown element <" + child->getTagName() + ">");
    }

    return juce::Result::ok();
}

/** Fails unless the document holds only the elements and attributes of format_version 1 (see
    docs/state.md), <Parameters>, <Grid> and <Status> at most once: a corrupt tag or attribute name refuses the
    state instead of silently emptying a slot or resetting the parameters. */
juce::Result checkSchema (const juce::XmlElement& root)
{
    if (const auto result = checkElement (root, { "format_version", "model_id" }, { "Parameters", "Slot", "Grid", "Status" }); result.failed())
        return result;

    int parameterLists = 0, grids = 0, statuses = 0;

    for (const auto* child : root.getChildIterator())
    {
        if ((child->hasTagName ("Parameters") && ++parameterLists > 1) || (child->hasTagName ("Grid") && ++grids > 1)
            || (child->hasTagName ("Status") && ++statuses > 1))
            return juce::Result::fail ("state has more than one <" + child->getTagName() + ">");

        const auto result = child->hasTagName ("Parameters") ? checkElement (*child, {}, { "PARAM" })
                            : child->hasTagName ("Slot")     ? checkElement (*child, { "index", "path", "sha256" }, {})
                            : child->hasTagName ("Grid")
                                ? checkElement (*child, { "detail", "steps", "pad_size", "num_samples", "sample_rate" }, { "Source", "File" })
                                : checkElement (*child, { "state", "message" }, {});

        if (result.failed())
            return result;

        for (const auto* grandchild : child->getChildIterator())
        {
            const auto grandchildResult = grandchild->hasTagName ("PARAM")    ? checkElement (*grandchild, { "id", "value" }, {})
                                          : grandchild->hasTagName ("Source") ? checkElement (*grandchild, { "size", "modified_ms" }, {})
                                                                              : checkElement (*grandchild, { "path" }, {});

            if (grandchildResult.failed())
                return grandchildResult;
        }
    }

    return juce::Result::ok();
}

/** `text` with every character XML cannot hold replaced by U+FFFD, so what write() saves can be read back. */
juce::String xmlSafe (const juce::String& text)
{
    juce::String safe;

    for (auto cursor = text.getCharPointer(); ! cursor.isEmpty();)
    {
        const auto character = cursor.getAndAdvance();
        safe += slot_paths::isXmlChar (character) ? character : static_cast<juce::juce_wchar> (0xfffd);
    }

    return safe;
}

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

/** A whole attribute parsed as an integer within +-limit; nullopt for anything else. */
std::optional<juce::int64> parseWholeNumber (const juce::String& text, double limit)
{
    const auto value = parseNumber (text);

    if (! value.has_value() || *value != std::floor (*value) || std::abs (*value) > limit)
        return std::nullopt;

    return static_cast<juce::int64> (*value);
}

std::optional<int> parseInteger (const juce::String& text)
{
    const auto value = parseWholeNumber (text, 1.0e9);
    return value.has_value() ? std::optional<int> (static_cast<int> (*value)) : std::nullopt;
}

bool isSha256Hex (const juce::String& text)
{
    return text.length() == 64 && text.containsOnly ("0123456789abcdefABCDEF");
}

/** The <Grid> element (checked by checkSchema) as GridFiles for `numSources` slots with a path; fails
    on a value out of its range or a shape the slot loader never writes (docs/state.md). */
juce::Result parseGrid (const juce::XmlElement& element, std::size_t numSources, GridFiles& grid)
{
    constexpr double kMaxWhole = 9.0e15; // below 2^53: exact in a double
    const auto detail = parseNumber (element.getStringAttribute ("detail"));
    const auto steps = parseInteger (element.getStringAttribute ("steps"));
    const auto padSize = parseInteger (element.getStringAttribute ("pad_size"));
    const auto numSamples = parseInteger (element.getStringAttribute ("num_samples"));
    const auto sampleRate = parseInteger (element.getStringAttribute ("sample_rate"));
    constexpr auto kMaxSteps = SlotLoader::kPadSize * SlotLoader::kPadSize;

    if (! detail.has_value() || *detail < 0.0 || *detail > 1.0 || ! steps.has_value() || *steps < 2 || *steps > kMaxSteps
        || ! padSize.has_value() || (*padSize != 0 && (*padSize < 2 || *padSize * *padSize != *steps)) || ! numSamples.has_value()
        || *numSamples < 1 || ! sampleRate.has_value() || *sampleRate < 1000 || *sampleRate > 768000)
        return juce::Result::fail ("<Grid> has a bad detail, steps, pad_size, num_samples or sample_rate");

    grid = GridFiles { {}, *steps, *padSize, *numSamples, *sampleRate, static_cast<float> (*detail), {} };

    for (const auto* source : element.getChildWithTagNameIterator ("Source"))
    {
        const auto size = parseWholeNumber (source->getStringAttribute ("size"), kMaxWhole);
        const auto modified = parseWholeNumber (source->getStringAttribute ("modified_ms"), kMaxWhole);

        if (! size.has_value() || *size < 0 || ! modified.has_value())
            return juce::Result::fail ("<Grid> has a <Source> with a bad size or modified_ms");

        grid.sources.push_back ({ *size, *modified });
    }

    for (const auto* file : element.getChildWithTagNameIterator ("File"))
    {
        const auto path = file->getStringAttribute ("path");

        if (! juce::File::isAbsolutePath (path) || ! path.endsWith (".lmgrid"))
            return juce::Result::fail ("<Grid> has a <File> path that is not an absolute .lmgrid path");

        grid.paths.push_back (path);
    }

    const auto files = static_cast<int> (grid.paths.size());

    if (grid.sources.size() != numSources || (files != 1 && (files != *padSize || *padSize == 0)))
        return juce::Result::fail ("<Grid> does not fit the slots: " + juce::String (static_cast<int> (grid.sources.size())) + " sources for "
                                   + juce::String (static_cast<int> (numSources)) + " slots, " + juce::String (files) + " files");

    return juce::Result::ok();
}

} // namespace

juce::Result PluginState::parse (const void* data, std::size_t sizeInBytes, PluginState& out)
{
    const auto* bytes = static_cast<const char*> (data);
    const auto length = bytes != nullptr ? ::strnlen (bytes, std::min (sizeInBytes, kMaxStateBytes + 1)) : 0;

    if (length == 0)
        return juce::Result::fail ("state is empty or not text");

    if (length > kMaxStateBytes)
        return juce::Result::fail ("state is larger than " + juce::String (kMaxStateBytes >> 20) + " MiB");

    const std::string_view text (bytes, length);

    if (! isWellFormedUtf8 (text))
        return juce::Result::fail ("state is not UTF-8 text");

    if (const auto nesting = checkNesting (text); nesting.failed())
        return nesting;

    juce::XmlDocument document (juce::String::fromUTF8 (bytes, static_cast<int> (length)));
    const auto root = document.getDocumentElement();

    // JUCE carries on past some errors (an unknown entity, a bad escape) and returns a document: refused too
    if (root == nullptr || document.getLastParseError().isNotEmpty())
    {
        const auto error = document.getLastParseError();
        return juce::Result::fail ("state is not XML: " + (error.isNotEmpty() ? error : juce::String ("no element found")));
    }

    if (! root->hasTagName (kRootTag))
        return juce::Result::fail ("state root is <" + root->getTagName() + ">, expected <" + kRootTag + ">");

    const auto formatVersion = parseInteger (root->getStringAttribute ("format_version"));

    if (! formatVersion.has_value() || *formatVersion < 1)
        return juce::Result::fail ("state has no valid format_version");

    if (*formatVersion > kFormatVersion)
        return juce::Result::fail ("state format_version " + juce::String (*formatVersion) + " is newer than this plugin's ("
                                   + juce::String (kFormatVersion) + ")");

    if (const auto schema = checkSchema (*root); schema.failed())
        return schema;

    PluginState state;
    state.modelId = root->getStringAttribute ("model_id");

    for (std::size_t i = 0; i < kParameterTable.size(); ++i)
        state.parameters[i] = kParameterTable[i].defaultValue;

    if (const auto* parameters = root->getChildByName ("Parameters"))
    {
        std::array<bool, kParameterTable.size()> given {};

        for (const auto* parameter : parameters->getChildIterator())
        {
            const auto id = parameter->getStringAttribute ("id");
            const auto* spec = findParameterSpec (id);

            if (spec == nullptr)
                return juce::Result::fail ("unknown parameter \"" + id + "\"");

            if (std::exchange (given[static_cast<std::size_t> (spec - kParameterTable.data())], true))
                return juce::Result::fail ("parameter " + id + " is given twice");

            const auto value = parseNumber (parameter->getStringAttribute ("value"));

            if (! value.has_value())
                return juce::Result::fail ("parameter " + id + " has a bad value \"" + parameter->getStringAttribute ("value") + "\"");

            auto clamped = juce::jlimit (spec->minValue, spec->maxValue, static_cast<float> (*value));
            state.parameters[static_cast<std::size_t> (spec - kParameterTable.data())] = spec->isInteger ? std::round (clamped) : clamped;
        }

        // A state from before slot B had its own root note played the whole grid on root_note.
        const auto rootNoteB = static_cast<std::size_t> (ParameterIndex::rootNoteB);

        if (! given[rootNoteB])
            state.parameters[rootNoteB] = state.parameters[static_cast<std::size_t> (ParameterIndex::rootNote)];
    }

    std::array<bool, SlotLoader::kNumSlots> seen {};

    for (const auto* slot : root->getChildWithTagNameIterator ("Slot"))
    {
        const auto index = parseInteger (slot->getStringAttribute ("index"));

        if (! index.has_value() || *index < 0 || *index >= static_cast<int> (SlotLoader::kNumSlots) || seen[static_cast<std::size_t> (*index)])
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

    if (const auto* grid = root->getChildByName ("Grid"))
    {
        const auto numSources = static_cast<std::size_t> (std::count_if (state.slots.begin(), state.slots.end(), [] (const SlotLoader::Slot& slot)
                                                                         { return slot.path.isNotEmpty(); }));

        if (const auto result = parseGrid (*grid, numSources, state.grid.emplace()); result.failed())
            return result;
    }

    out = std::move (state);
    return juce::Result::ok();
}

juce::String PluginState::write (const juce::ValueTree& parameters, const SlotLoader::Slots& slots, const juce::String& modelId,
                                 const SlotLoader::Status& status, const std::optional<GridFiles>& grid)
{
    juce::XmlElement root (kRootTag);
    root.setAttribute ("format_version", kFormatVersion);
    root.setAttribute ("model_id", xmlSafe (modelId));
    root.addChildElement (parameters.createXml().release());

    for (std::size_t i = 0; i < slots.size(); ++i)
    {
        if (i >= 2 && slots[i].path.isEmpty())
            continue; // C and D only when set: a two-slot project writes what it always did

        auto* slot = root.createNewChildElement ("Slot");
        slot->setAttribute ("index", static_cast<int> (i));
        slot->setAttribute ("path", slots[i].path);
        slot->setAttribute ("sha256", slots[i].sha256);
    }

    if (grid.has_value() && std::all_of (grid->paths.begin(), grid->paths.end(), slot_paths::isXmlText))
    {
        auto* element = root.createNewChildElement ("Grid");
        element->setAttribute ("detail", GridFiles::detailText (grid->detail));
        element->setAttribute ("steps", grid->steps);
        element->setAttribute ("pad_size", grid->padSize);
        element->setAttribute ("num_samples", juce::String (grid->numSamples));
        element->setAttribute ("sample_rate", grid->sampleRateHz);

        for (const auto& source : grid->sources)
        {
            auto* sourceElement = element->createNewChildElement ("Source");
            sourceElement->setAttribute ("size", juce::String (source.sizeBytes));
            sourceElement->setAttribute ("modified_ms", juce::String (source.modifiedMs));
        }

        for (const auto& path : grid->paths)
            element->createNewChildElement ("File")->setAttribute ("path", path);
    }

    auto* statusElement = root.createNewChildElement ("Status");
    statusElement->setAttribute ("state", SlotLoader::toString (status.state));
    statusElement->setAttribute ("message", xmlSafe (status.message)); // may quote a backend's message

    juce::XmlElement::TextFormat format;
    format.newLineChars = "\n";
    format.lineWrapLength = 1000;
    return root.toString (format);
}

} // namespace latentmorph

#pragma once

#include <array>
#include <cstddef>

namespace latentmorph {

/** One row of the parameter table. Values are real (denormalised) values in `unit`. */
struct ParameterSpec
{
    const char* id;
    const char* name;
    float minValue;
    float maxValue;
    float defaultValue;
    float interval;    ///< resolution of the value (also the step count hosts see)
    float centreValue; ///< value at the knob's mid-point (skews long time ranges towards short times)
    const char* unit;
    bool isInteger;
};

/** The plugin's parameters: the only place they are defined. The plugin's state, editor, host
    parameters and engine read it, and so do the tests and the preset builder (through the Python
    module latentmorph_engine, `PARAMETERS`). Free of JUCE. */
// clang-format off
inline constexpr std::array<ParameterSpec, 29> kParameterTable { {
    // id            name         min      max       default  interval centre   unit  integer
    { "morph",      "Morph",      0.0f,    1.0f,     0.0f,    0.001f,  0.5f,    "",   false },
    { "gain_db",    "Gain",       -48.0f,  12.0f,    0.0f,    0.1f,    -18.0f,  "dB", false },
    { "attack_ms",  "Attack",     0.0f,    5000.0f,  2.0f,    1.0f,    200.0f,  "ms", false },
    { "decay_ms",   "Decay",      1.0f,    5000.0f,  200.0f,  1.0f,    300.0f,  "ms", false },
    { "sustain",    "Sustain",    0.0f,    1.0f,     1.0f,    0.001f,  0.5f,    "",   false },
    { "release_ms", "Release",    1.0f,    10000.0f, 200.0f,  1.0f,    500.0f,  "ms", false },
    { "root_note",  "Root note",  0.0f,    127.0f,   60.0f,   1.0f,    63.5f,   "",   true },
    // how far each sample's own detail (its residual against the model) reaches into the morph;
    // a change re-renders the grid, so it moves in steps of 0.05 (default: latentmorph.morph.DEFAULT_DETAIL)
    { "detail",     "Detail",     0.0f,    1.0f,     0.5f,    0.05f,   0.5f,    "",   false },
    // the most voices that sound at once; a note beyond that steals the oldest (3 ms fade). Appended
    // last, so older states keep their indices and load without it at the default
    { "polyphony",  "Polyphony",  1.0f,    64.0f,    16.0f,   1.0f,    32.5f,   "",   true },
    // Expressive MIDI and tuning (issue 13), appended: older states load them at their defaults, and a
    // state without root_note_b takes root_note's value (PluginState), so old projects sound the same.
    // pitch bend (MIDI 0xEn) of +8191 / -8192 bends by exactly +/- this many semitones
    { "bend_range_semitones", "Bend range", 0.0f, 24.0f, 2.0f, 1.0f, 12.0f, "semitones", true },
    // added to morph at mod wheel (CC 1) 127, in proportion below; signed
    { "mod_wheel_morph", "Mod wheel morph", -1.0f, 1.0f, 0.0f, 0.001f, 0.0f, "", false },
    // level = (velocity / 127) ^ curve: 0 = every note at full level, 1 = linear (as before), 2 = squared
    { "velocity_curve", "Velocity curve", 0.0f, 3.0f, 1.0f, 0.01f, 1.0f, "", false },
    // added to a note's morph at velocity 127, in proportion below (a per-note offset); signed
    { "velocity_morph", "Velocity morph", -1.0f, 1.0f, 0.0f, 0.001f, 0.0f, "", false },
    // root_note is slot A's (its id predates the slots); a drop sets both from the detected pitch
    { "root_note_b", "Root note B", 0.0f, 127.0f, 60.0f, 1.0f, 63.5f, "", true },
    { "fine_tune_a_cents", "Fine tune A", -100.0f, 100.0f, 0.0f, 0.1f, 0.0f, "cents", false },
    { "fine_tune_b_cents", "Fine tune B", -100.0f, 100.0f, 0.0f, 0.1f, 0.0f, "cents", false },
    // where in the sample a note starts (ms of the sample, whatever the note's pitch)
    { "start_ms", "Start", 0.0f, 5000.0f, 0.0f, 1.0f, 200.0f, "ms", false },
    // 0 poly, 1 mono (a new key retriggers), 2 legato (a new key while one is held changes its pitch,
    // no new attack); shown as "Poly", "Mono", "Legato"
    { "voice_mode", "Voice mode", 0.0f, 2.0f, 0.0f, 1.0f, 1.0f, "", true },
    // mono and legato: the time a note's pitch takes to glide from the previous note's
    { "glide_ms", "Glide", 0.0f, 5000.0f, 0.0f, 1.0f, 200.0f, "ms", false },
    // 0 one-shot (the sample plays to its end), 1 sustain loop (the loop found in the sustained part
    // repeats until the release ends); shown as "One-shot", "Sustain loop"
    { "loop_mode", "Loop mode", 0.0f, 1.0f, 0.0f, 1.0f, 0.5f, "", true },
    // the loop's crossfade (at most half the loop)
    { "loop_crossfade_ms", "Loop crossfade", 1.0f, 500.0f, 30.0f, 1.0f, 50.0f, "ms", false },
    // the user's loop, ms of the sample; used when loop_end_ms > loop_start_ms, else the loop found
    { "loop_start_ms", "Loop start", 0.0f, 10000.0f, 0.0f, 1.0f, 1000.0f, "ms", false },
    { "loop_end_ms", "Loop end", 0.0f, 10000.0f, 0.0f, 1.0f, 1000.0f, "ms", false },
    // The four-corner XY pad (issue 13): morph is x (A -> B), morph_y is y (A -> C, B -> D); with two
    // slots morph_y does nothing. Channel aftertouch adds aftertouch_morph_y * pressure / 127 to it
    { "morph_y", "Morph Y", 0.0f, 1.0f, 0.0f, 0.001f, 0.5f, "", false },
    { "aftertouch_morph_y", "Aftertouch morph Y", -1.0f, 1.0f, 0.0f, 0.001f, 0.0f, "", false },
    { "root_note_c", "Root note C", 0.0f, 127.0f, 60.0f, 1.0f, 63.5f, "", true },
    { "root_note_d", "Root note D", 0.0f, 127.0f, 60.0f, 1.0f, 63.5f, "", true },
    { "fine_tune_c_cents", "Fine tune C", -100.0f, 100.0f, 0.0f, 0.1f, 0.0f, "cents", false },
    { "fine_tune_d_cents", "Fine tune D", -100.0f, 100.0f, 0.0f, 0.1f, 0.0f, "cents", false },
} };
// clang-format on

/** Index of each parameter in kParameterTable. */
enum class ParameterIndex
{
    morph,
    gainDb,
    attackMs,
    decayMs,
    sustain,
    releaseMs,
    rootNote,
    detail,
    polyphony,
    bendRangeSemitones,
    modWheelMorph,
    velocityCurve,
    velocityMorph,
    rootNoteB,
    fineTuneACents,
    fineTuneBCents,
    startMs,
    voiceMode,
    glideMs,
    loopMode,
    loopCrossfadeMs,
    loopStartMs,
    loopEndMs,
    morphY,
    aftertouchMorphY,
    rootNoteC,
    rootNoteD,
    fineTuneCCents,
    fineTuneDCents
};

/** The root-note parameters, whose value text is a note name ("C4"). */
constexpr bool isNoteParameter (ParameterIndex index) noexcept
{
    return index == ParameterIndex::rootNote || index == ParameterIndex::rootNoteB || index == ParameterIndex::rootNoteC
           || index == ParameterIndex::rootNoteD;
}

/** The row of `index`. */
constexpr const ParameterSpec& parameterSpec (ParameterIndex index) noexcept
{
    return kParameterTable[static_cast<std::size_t> (index)];
}

} // namespace latentmorph

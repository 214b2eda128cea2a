"""Training-data preparation: one-shot clips from Debian sample libraries and soundfont renders.

``python -m latentmorph_train.data_prep prepare --out DATA_DIR [--max-notes N]`` builds,
idempotently and deterministically::

    DATA_DIR/debs/*.deb                      downloaded with ``apt-get download``
    DATA_DIR/packages/<package>/...          extracted with ``dpkg -x`` (never installed system-wide)
    DATA_DIR/clips/<source>/<...>.wav        mono, 44.1 kHz, PCM_16, <= 2.0 s, onset-trimmed, peak 0.9
    DATA_DIR/manifest.jsonl                  one JSON object per clip (see :func:`.manifest.prepare`)
    DATA_DIR/summary.json                    counts and seconds per source / category / split

``python -m latentmorph_train.data_prep compare OLD/manifest.jsonl NEW/manifest.jsonl [--json]``
checks that a rebuild keeps the split of every clip it shares with an older build (exit status 1 if not).

Sources (MODEL_CARD.md, Data): FluidR3_GM and MuseScore General rendered with fluidsynth
(melodic programs and drum kits), the ``hydrogen-drumkits`` kits except ``BJA_Pacific`` and
``circAfrique v4``, ``hydrogen-drumkits-effects``, the two kits of ``hydrogen-data``, the samples
of ``lmms-common`` and the UI sounds, ringtones and key clicks of ``oxygen-sounds``,
``lomiri-sounds`` and ``bucklespring-data``. Other Debian audio is reserved for evaluation and is
never read here.

The train/valid split is a hash of a *recording key* (:func:`.split.split_for_key`) so
that every clip cut from the same recording lands on the same side. For FluidR3 the key is derived from the
soundfont's sample table: programs and drum notes that play any common sample share one key.
MuseScore General, a descendant of FluidR3, follows FluidR3's keys
(:func:`.soundfont.musescore_recording_keys`).
Re-running skips downloads, extractions and clips already written by the same pipeline version;
clips whose source item is no longer selected (a smaller ``--max-notes``) stay on disk but are
left out of the manifest, which is the only index of the data set.

Modules, by source and step: :mod:`.debian` (fetching and extracting packages, their licences),
:mod:`.soundfont` (SF2 tables, recording keys, note grids, FluidSynth), :mod:`.sample_packs`
(Hydrogen kits, LMMS samples, UI sounds), :mod:`.categories`, :mod:`.split`, :mod:`.clips`
(trimming, writing, records), :mod:`.manifest` (``prepare``, ``summary.json``, ``compare``) and
:mod:`.__main__` (the command line).
"""

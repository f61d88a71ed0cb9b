"""The offline cloud's speed layer: everything that only makes it faster, on or off as a whole.

It is on by default and off with PIPELINE_OFFLINE_FAST=0, or when the installed moto is not the
pinned release (pipeline.local.moto_version says so once). The suite passes either way; with it
off, the cloud is the plain layer (pipeline.local.plain_layer) and the core. Enforcement of
permissions is in the core and runs the same with or without this layer.

Each part is named; `python -m pipeline.bench --ablate` leaves parts out one at a time and
measures what each pays, and a part stays only if it pays (docs/performance.md has the figures).
The layer itself is speed.layer.SpeedLayer; moto_version.select_layer picks it after checking
moto's version, before any of moto's internals are imported.
"""

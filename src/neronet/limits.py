"""Bounds shared by modules that must not depend on the config schema.

``nn/`` and ``ras/`` check an architecture's size with the same default cap the
config's ``training.max_parameters`` has; the constant lives here so that the
network builder never imports the settings tree (and through it every plug-in).
"""

from __future__ import annotations

MAX_PARAMETERS = 100_000_000
"""Default cap on an architecture's trainable parameters (400 MB of fp32 weights, 30x
the NSGA-Net seed): a grammar range up to 1e8 filters reached 3.6e11."""

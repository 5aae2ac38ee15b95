"""PFPO (Jiao et al., ICLR 2025): preference optimisation on pseudo feedback, iterated.

One engine (:mod:`~ponder.recipes.pfpo.engine`) runs the iterations for both tasks: math
(:mod:`~ponder.recipes.pfpo.math`: self-consistency labels, outcome and prefix pairs) and code
(:mod:`~ponder.recipes.pfpo.code`: voted pseudo tests, program and prefix pairs). The shared config fields and
the per-iteration overrides are in :mod:`~ponder.recipes.pfpo.config`.
"""

"""Machinery behind ponder.verify.math: LaTeX parsing, normalisation, values, comparison and time limits."""

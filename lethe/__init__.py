"""Lethe: privacy-preserving face check-in for hotels.

This package holds only what spans the parts: the ``lethe`` command line, the
environment-settings loader and the demo. The parts themselves are the
``protocol``, ``edge``, ``service`` and ``models`` packages.
"""

__version__ = "0.1.0"

"""The ketamine evidence synthesis built on the library: row selection, effect sizes with
provenance, model fits per analysis type, effect direction, claims, sensitivity and rendering.

The workflow scripts call :mod:`ketameta.synthesis.pipeline` (one function per stage); all
statistics come from the library modules (:func:`ketameta.rma`, :func:`ketameta.rma_mv`, ...).
"""

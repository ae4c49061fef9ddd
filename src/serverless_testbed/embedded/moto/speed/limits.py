"""Bounds shared by the speed patches."""

PARSED_KEPT = 1024  # distinct JSONPaths / update expressions kept per process

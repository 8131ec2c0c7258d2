"""Bytes <-> objects: star tables, MRC volumes, checkpoints, run records; no science here."""

"""Checks on uploaded function sources (SPEC §6), run before anything is stored."""

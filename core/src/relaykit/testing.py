"""Test helpers for connector authors (a pytest plugin, loaded through the ``pytest11`` entry point)."""

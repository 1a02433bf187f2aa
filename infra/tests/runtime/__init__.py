"""Tests of the local runtime.

A package, so that its conftest.py does not shadow infra/tests/conftest.py for `from conftest`.
"""

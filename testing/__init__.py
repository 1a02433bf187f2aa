"""Test helpers shared by backend/tests and infra/tests (not shipped)."""

"""The reference infrastructure service: build, push, scaffold and deploy (SPEC §4, §7)."""

"""The reference infrastructure service: build, push, scaffold, deploy (docs/contract.md)."""

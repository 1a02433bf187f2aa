"""The `faas` subcommands, one module per area; each command opens a Session."""

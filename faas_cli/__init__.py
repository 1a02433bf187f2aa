"""The `faas` command: a client of the control plane's public HTTP API.

It owns the command line (commands/), its configuration file and the packaging of a
function's source. It must not import the backend or touch storage: everything goes
through the HTTP API, so it works against any deployment of the backend.
"""

__version__ = "0.1.0"

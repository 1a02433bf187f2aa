"""The local deploy target: component hosts, their supervisor, the gateway and the stored state.

It runs what SpinKube would run, on this machine; it never touches the backend's storage.
"""

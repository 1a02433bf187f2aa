"""The local runtime: runs deployed Spin components on this machine (the local deploy target).

The component host (`host.py` and the modules it uses: the wasmtime linker, WASI, wasi:http,
Spin variables/key-value, outbound HTTP, limits, the compiled cache) runs one component per OS
process and serves it over HTTP; `supervisor`, `gateway`, `store` and `target` start, route and
remember those processes. The host only reads its replica config, its wasm file, the compiled
cache and the app's key-value directory; it never touches the service's storage, registry or
other apps' files, and is never imported by the HTTP API process (it is started as a child).
"""

"""Reads a pushed artifact back with skopeo (an independent client) and checks the
`spin registry push` format of SPEC §7."""

import hashlib
import json
import subprocess
from typing import Any


def skopeo_inspect(reference: str, *options: str) -> bytes:
    command = ["skopeo", "inspect", *options, "--tls-verify=false", f"docker://{reference}"]
    return subprocess.run(command, check=True, capture_output=True, timeout=60).stdout


def blob(registry: str, repository: str, digest: str) -> bytes:
    """A blob straight from the registry's HTTP API."""
    import urllib.request

    url = f"http://{registry}/v2/{repository}/blobs/{digest}"
    with urllib.request.urlopen(url, timeout=30) as response:
        data = response.read()
    assert "sha256:" + hashlib.sha256(data).hexdigest() == digest
    return data


def check_spin_artifact(
    *, image_url: str, app_name: str, wasm_sha256: str, wasm_size: int
) -> dict[str, Any]:
    """Assert the manifest, config, layers and locked-app links; return the parsed manifest."""
    registry, _, rest = image_url.partition("/")
    repository, _, digest = rest.partition("@")
    raw = skopeo_inspect(image_url, "--raw")
    assert "sha256:" + hashlib.sha256(raw).hexdigest() == digest
    manifest = json.loads(raw)
    assert manifest["schemaVersion"] == 2
    assert manifest.get("mediaType", "application/vnd.oci.image.manifest.v1+json") == (
        "application/vnd.oci.image.manifest.v1+json"
    )
    assert manifest["config"]["mediaType"] == "application/vnd.oci.image.config.v1+json"
    assert [layer["mediaType"] for layer in manifest["layers"]] == [
        "application/vnd.wasm.content.layer.v1+wasm",
        "application/vnd.fermyon.spin.application.v1+config",
    ]
    wasm_layer, locked_layer = manifest["layers"]
    assert wasm_layer["digest"] == f"sha256:{wasm_sha256}"
    assert wasm_layer["size"] == wasm_size
    annotations = manifest["annotations"]
    assert annotations["org.opencontainers.image.title"] == app_name
    assert annotations["org.opencontainers.image.version"]
    assert annotations["org.opencontainers.image.created"].endswith("Z")

    config = json.loads(skopeo_inspect(image_url, "--config", "--raw"))
    assert config == {
        "architecture": "wasm",
        "os": "wasip1",
        "config": {"Labels": {"com.fermyon.spin.lockedAppDigest": locked_layer["digest"]}},
        "rootfs": {"type": "layers", "diff_ids": []},
    }

    locked = json.loads(blob(registry, repository, locked_layer["digest"]))
    (component,) = locked["components"]
    assert component["id"] == app_name
    assert component["source"] == {
        "content_type": "application/wasm",
        "digest": wasm_layer["digest"],
    }
    assert locked["triggers"] == [
        {
            "id": f"{app_name}-http-trigger",
            "trigger_type": "http",
            "trigger_config": {"component": app_name, "route": "/..."},
        }
    ]
    assert locked["spin_lock_version"] == 0
    return manifest

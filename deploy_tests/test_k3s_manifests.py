"""The K3s manifests: valid offline, wired to each other, in step with the backend's settings."""

import copy
import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from app.config import Settings
from deploy_tests.support import (
    MANIFESTS,
    SCHEMAS,
    infra_settings_env_names,
    load_documents,
    load_template,
)

# The Kubernetes release of current K3s stable channels; validation is strict (unknown fields fail).
KUBERNETES_VERSION = "1.33.0"
CUSTOM_SCHEMAS = {
    ("core.spinkube.dev/v1alpha1", "SpinApp"): "spinapp.schema.json",
    ("core.spinkube.dev/v1alpha1", "SpinAppExecutor"): "spinappexecutor.schema.json",
}
# Settings the backend cannot run in production without (no usable default there).
REQUIRED_BACKEND_ENV = {
    "APP_ENV",
    "AWS_REGION",
    "DYNAMODB_TABLE",
    "S3_BUCKET",
    "BUILD_SERVICE_URL",
    "PUSH_SERVICE_URL",
    "SCAFFOLD_SERVICE_URL",
    "DEPLOY_SERVICE_URL",
    "INFRA_SERVICE_TOKEN",
    "ECR_REGISTRY_URL",
    "ECR_REPOSITORY",
    "DEPLOY_NAMESPACE_PREFIX",
}


def _manifest_files() -> list[Path]:
    return sorted(path for path in MANIFESTS.rglob("*.yaml") if path.name != "kustomization.yaml")


@cache
def _all_objects() -> list[dict[str, Any]]:
    return [doc for path in _manifest_files() for doc in load_documents(path)]


def _find(kind: str, name: str) -> dict[str, Any]:
    matches = [
        doc for doc in _all_objects() if doc["kind"] == kind and doc["metadata"]["name"] == name
    ]
    assert len(matches) == 1, f"expected one {kind}/{name}, found {len(matches)}"
    return matches[0]


@cache
def _custom_schema(filename: str) -> dict[str, Any]:
    return json.loads((SCHEMAS / filename).read_text())


def _validate(document: dict[str, Any]) -> None:
    custom = CUSTOM_SCHEMAS.get((document.get("apiVersion"), document.get("kind")))
    if custom:
        jsonschema.Draft202012Validator(_custom_schema(custom)).validate(document)
    else:
        kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize(
    "path", _manifest_files(), ids=lambda path: str(path.relative_to(MANIFESTS))
)
def test_manifest_validates_offline(path: Path) -> None:
    documents = load_documents(path)
    assert documents, f"{path} holds no object"
    for document in documents:
        _validate(document)


@pytest.mark.parametrize(
    ("kind", "name", "break_it"),
    [
        ("Deployment", "faas-backend", lambda doc: doc["spec"].update(replicaz=2)),
        ("SpinApp", "hello", lambda doc: doc["spec"].pop("executor")),
        ("SpinAppExecutor", "containerd-shim-spin", lambda doc: doc["spec"].update(shim=True)),
    ],
)
def test_validation_rejects_a_broken_manifest(kind: str, name: str, break_it: Any) -> None:
    broken = copy.deepcopy(_find(kind, name))
    break_it(broken)
    with pytest.raises(jsonschema.ValidationError):
        _validate(broken)


# --- kustomize layout ------------------------------------------------------------------------


def _kustomization_resources(directory: Path) -> list[Path]:
    """Every manifest file a kustomization pulls in, following directory bases."""
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    found: list[Path] = []
    for entry in kustomization.get("resources", []):
        target = (directory / entry).resolve()
        assert MANIFESTS.resolve() in target.parents, f"{entry} leaves manifests/"
        if target.is_dir():
            assert (target / "kustomization.yaml").exists(), f"{entry} has no kustomization.yaml"
            found.extend(_kustomization_resources(target))
        else:
            assert target.is_file(), f"{directory / 'kustomization.yaml'} lists missing {entry}"
            found.append(target)
    return found


def test_every_manifest_is_in_a_kustomization() -> None:
    platform = _kustomization_resources(MANIFESTS)
    examples = _kustomization_resources(MANIFESTS / "examples")
    assert len(platform) == len(set(platform)), "a resource is listed twice"
    assert set(platform) | set(examples) == {path.resolve() for path in _manifest_files()}
    assert not set(platform) & set(examples), "the example is applied with the platform"


def test_everything_namespaced_lives_in_the_platform_namespace() -> None:
    cluster_scoped = {
        "Namespace", "RuntimeClass", "ClusterRole", "ClusterRoleBinding",
        "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding",
    }  # fmt: skip
    namespace = _find("Namespace", "faas")["metadata"]["name"]
    for document in _all_objects():
        if document["kind"] not in cluster_scoped:
            assert document["metadata"].get("namespace") == namespace, document["metadata"]


# --- the backend -----------------------------------------------------------------------------


def _backend_container() -> dict[str, Any]:
    (container,) = _find("Deployment", "faas-backend")["spec"]["template"]["spec"]["containers"]
    return container


def _backend_env_names() -> set[str]:
    container = _backend_container()
    names = {variable["name"] for variable in container.get("env", [])}
    for source in container.get("envFrom", []):
        config_map = _find("ConfigMap", source["configMapRef"]["name"])
        names |= set(config_map["data"])
    return names


def _settings_env_names() -> set[str]:
    return {name.upper() for name in Settings.model_fields}


def test_backend_env_names_are_all_settings_the_backend_reads() -> None:
    unknown = _backend_env_names() - _settings_env_names()
    assert not unknown, f"not settings of backend/app/config.py: {sorted(unknown)}"


def test_backend_env_sets_every_required_setting() -> None:
    assert _settings_env_names() >= REQUIRED_BACKEND_ENV, "a required setting was renamed"
    missing = REQUIRED_BACKEND_ENV - _backend_env_names()
    assert not missing, f"the backend Deployment does not set {sorted(missing)}"


def test_backend_configmap_values_are_accepted_by_the_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # On the cluster the credentials come from the IAM role, not from the environment.
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    data = dict(_find("ConfigMap", "faas-backend")["data"])
    values = {name.lower(): value for name, value in data.items()}
    settings = Settings(_env_file=None, infra_service_token="x" * 40, **values)  # type: ignore[call-arg]
    assert settings.app_env == "production"
    template = load_template()["Parameters"]
    assert settings.dynamodb_table == template["TableName"]["Default"]
    assert settings.s3_bucket == template["BucketName"]["Default"]
    assert settings.ecr_repository == template["RepositoryName"]["Default"]


def test_the_infra_token_comes_from_a_secret_not_the_configmap() -> None:
    (token,) = [v for v in _backend_container()["env"] if v["name"] == "INFRA_SERVICE_TOKEN"]
    assert token["valueFrom"]["secretKeyRef"] == {"name": "faas-infra-token", "key": "token"}
    assert "INFRA_SERVICE_TOKEN" not in _find("ConfigMap", "faas-backend")["data"]


def test_backend_service_urls_reach_the_infra_service() -> None:
    service = _find("Service", "faas-infra-service")
    (port,) = service["spec"]["ports"]
    expected = f"http://faas-infra-service.faas.svc.cluster.local:{port['port']}"
    data = _find("ConfigMap", "faas-backend")["data"]
    for step in ("BUILD", "PUSH", "SCAFFOLD", "DEPLOY"):
        assert data[f"{step}_SERVICE_URL"] == expected


def test_backend_runs_two_probed_non_root_replicas_on_a_read_only_root() -> None:
    deployment = _find("Deployment", "faas-backend")
    pod = deployment["spec"]["template"]["spec"]
    container = _backend_container()
    assert deployment["spec"]["replicas"] == 2
    assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert {"requests", "limits"} <= set(container["resources"])
    tmp = [m for m in container["volumeMounts"] if m["mountPath"] == "/tmp"]
    (volume,) = [v for v in pod["volumes"] if v["name"] == tmp[0]["name"]]
    assert "emptyDir" in volume


@pytest.mark.parametrize("name", ["faas-backend", "faas-infra-service"])
def test_service_account_binds_an_iam_role(name: str) -> None:
    deployment = _find("Deployment", name)
    assert deployment["spec"]["template"]["spec"]["serviceAccountName"] == name
    annotations = _find("ServiceAccount", name)["metadata"]["annotations"]
    assert re.fullmatch(
        r"arn:aws:iam::\d{12}:role/[\w+=,.@/-]+", annotations["eks.amazonaws.com/role-arn"]
    )


@pytest.mark.parametrize("name", ["faas-backend", "faas-infra-service"])
def test_service_selects_its_pods_on_a_declared_port(name: str) -> None:
    service = _find("Service", name)
    template = _find("Deployment", name)["spec"]["template"]
    labels = template["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    port_names = {p["name"] for c in template["spec"]["containers"] for p in c.get("ports", [])}
    for port in service["spec"]["ports"]:
        assert port["targetPort"] in port_names


# --- the infrastructure service and SpinKube -------------------------------------------------


def test_infra_service_runs_non_root_with_scratch_space_and_the_shared_token() -> None:
    pod = _find("Deployment", "faas-infra-service")["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert any(m["mountPath"] == "/tmp" for m in container["volumeMounts"])
    (token,) = [v for v in container["env"] if v["name"] == "INFRA_SERVICE_TOKEN"]
    backend_token = [v for v in _backend_container()["env"] if v["name"] == "INFRA_SERVICE_TOKEN"]
    assert token["valueFrom"] == backend_token[0]["valueFrom"]


def test_infra_service_env_names_are_its_settings() -> None:
    known = infra_settings_env_names()
    pod = _find("Deployment", "faas-infra-service")["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    names = {v["name"] for v in container.get("env", [])}
    for source in container.get("envFrom", []):
        names |= set(_find("ConfigMap", source["configMapRef"]["name"])["data"])
    # AWS_* are read by botocore itself, not by the service's settings.
    unknown = {name for name in names - known if not name.startswith("AWS_")}
    assert not unknown, f"not settings of infra_service: {sorted(unknown)}"


def test_spinapps_run_on_the_executor_and_runtime_class_declared_here() -> None:
    executor = _find("SpinAppExecutor", "containerd-shim-spin")
    runtime_class = _find("RuntimeClass", executor["spec"]["deploymentConfig"]["runtimeClassName"])
    assert runtime_class["metadata"]["name"] == "wasmtime-spin-v2"
    assert runtime_class["handler"] == "spin"
    example = _find("SpinApp", "hello")
    assert example["spec"]["executor"] == executor["metadata"]["name"]
    assert example["metadata"]["namespace"] == executor["metadata"]["namespace"]
    # Each workspace's namespace gets the same executor from the deploy service.
    from infra_service.config import Settings as InfraSettings
    from infra_service.tenancy import namespace_documents

    made = namespace_documents(
        namespace="faas-x",
        workspace_id="x",
        settings=InfraSettings(_env_file=None),  # type: ignore[call-arg]
    )
    (tenant_executor,) = [doc for doc in made if doc["kind"] == "SpinAppExecutor"]
    assert tenant_executor["metadata"]["name"] == executor["metadata"]["name"]
    assert tenant_executor["spec"] == executor["spec"]
    backend_settings = _find("ConfigMap", "faas-backend")["data"]
    assert backend_settings["DEPLOY_NAMESPACE_PREFIX"] == "faas-"


@pytest.mark.parametrize(("name", "port"), [("faas-backend", 8000), ("faas-infra-service", 8001)])
def test_prometheus_scrapes_each_service_on_its_metrics_route(name: str, port: int) -> None:
    template = _find("Deployment", name)["spec"]["template"]
    annotations = template["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/path"] == "/metrics"
    ports = [p["containerPort"] for c in template["spec"]["containers"] for p in c["ports"]]
    assert int(annotations["prometheus.io/port"]) == port and port in ports

"""The infrastructure service's RBAC review: what namespace-per-workspace needs, and no more.

manifests/infra-service/rbac.yaml against the code that uses it (infra_service.tenancy and
deploy.py): every kind the service applies is granted, nothing else is; the tenant role is
bound only per namespace; and the admission policy's CEL, evaluated here with cel-python over
the requests the service makes, lets it write only namespaces the platform made.
"""

import copy
from functools import cache
from typing import Any

import celpy
import jsonschema
import kubernetes_validate
import pytest

from deploy_tests.support import MANIFESTS, load_documents
from deploy_tests.test_k3s_manifests import KUBERNETES_VERSION, _custom_schema
from infra_service.config import Settings as InfraSettings
from infra_service.kube import KINDS, TENANT_KINDS
from infra_service.tenancy import namespace_documents

RBAC = MANIFESTS / "infra-service" / "rbac.yaml"
TENANT_ROLE = "faas-infra-service-tenant"
NAMESPACES_ROLE = "faas-infra-service-namespaces"
SERVICE_ACCOUNT = "system:serviceaccount:faas:faas-infra-service"
WRITES = {"create", "patch", "update", "delete"}
MANAGED = {"app.kubernetes.io/managed-by": "faas-platform"}


@cache
def _objects() -> tuple[dict[str, Any], ...]:
    return tuple(load_documents(RBAC))


def _one(kind: str, name: str) -> dict[str, Any]:
    (found,) = [d for d in _objects() if d["kind"] == kind and d["metadata"]["name"] == name]
    return found


def _grants(role: str) -> dict[tuple[str, str], set[str]]:
    """(apiGroup, resource) → verbs the ClusterRole grants."""
    grants: dict[tuple[str, str], set[str]] = {}
    for rule in _one("ClusterRole", role)["rules"]:
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                grants.setdefault((group, resource), set()).update(rule["verbs"])
    return grants


def _group(api_version: str) -> str:
    return api_version.split("/")[0] if "/" in api_version else ""


def _settings() -> InfraSettings:
    return InfraSettings(_env_file=None)  # type: ignore[call-arg]


def test_no_rule_uses_a_wildcard_or_touches_secrets_or_escalates() -> None:
    for doc in _objects():
        for rule in doc.get("rules", []):
            for key in ("apiGroups", "resources", "verbs"):
                assert "*" not in rule[key], rule
            assert "secrets" not in rule["resources"], rule
            assert not {"escalate", "impersonate"} & set(rule["verbs"]), rule
            if "bind" in rule["verbs"]:
                assert rule["resources"] == ["clusterroles"]
                assert rule["resourceNames"] == [TENANT_ROLE]


def test_the_tenant_role_grants_every_kind_the_service_applies_and_nothing_more() -> None:
    grants = _grants(TENANT_ROLE)
    applied = {**KINDS, **TENANT_KINDS}
    cluster_wide = {("v1", "Namespace"), ("rbac.authorization.k8s.io/v1", "RoleBinding")}
    needed: dict[tuple[str, str], set[str]] = {
        (_group(api_version), resource.plural): {"create", "patch"}
        for (api_version, kind), resource in applied.items()
        if (api_version, kind) not in cluster_wide
    }
    needed[("core.spinkube.dev", "spinapps")] |= {"get", "delete"}  # readiness, undeploy
    needed[("autoscaling", "horizontalpodautoscalers")] |= {"delete"}  # undeploy
    needed |= {("", "events"): {"list"}, ("", "pods"): {"list"}, ("", "pods/log"): {"get"}}
    assert grants == needed


def test_making_a_namespace_is_the_only_cluster_wide_right() -> None:
    assert _grants(NAMESPACES_ROLE) == {
        ("", "namespaces"): {"get", "create", "patch", "delete"},
        ("rbac.authorization.k8s.io", "rolebindings"): {"create", "patch"},
        ("rbac.authorization.k8s.io", "clusterroles"): {"bind"},
    }
    bindings = [d for d in _objects() if d["kind"] == "ClusterRoleBinding"]
    assert [b["roleRef"]["name"] for b in bindings] == [NAMESPACES_ROLE]
    assert not [d for d in _objects() if d["kind"] in ("Role", "RoleBinding")]
    (subject,) = bindings[0]["subjects"]
    assert f"system:serviceaccount:{subject['namespace']}:{subject['name']}" == SERVICE_ACCOUNT


def test_what_the_service_makes_of_a_namespace_is_valid_and_binds_the_tenant_role() -> None:
    settings = _settings()
    documents = namespace_documents(namespace="faas-x", workspace_id="x", settings=settings)
    for doc in documents:
        if doc["kind"] == "SpinAppExecutor":
            jsonschema.Draft202012Validator(_custom_schema("spinappexecutor.schema.json")).validate(
                doc
            )
        else:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
    (binding,) = [doc for doc in documents if doc["kind"] == "RoleBinding"]
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": TENANT_ROLE,
    }  # fmt: skip
    (subject,) = binding["subjects"]
    assert f"system:serviceaccount:{subject['namespace']}:{subject['name']}" == SERVICE_ACCOUNT


def test_every_write_the_roles_allow_is_held_by_the_admission_policy() -> None:
    policy = _one("ValidatingAdmissionPolicy", "faas-infra-service-managed-namespaces")
    held = {
        (group, resource)
        for rule in policy["spec"]["matchConstraints"]["resourceRules"]
        if {"CREATE", "UPDATE", "DELETE"} <= set(rule["operations"])
        for group in rule["apiGroups"]
        for resource in rule["resources"]
    }
    writable = {
        key
        for role in (TENANT_ROLE, NAMESPACES_ROLE)
        for key, verbs in _grants(role).items()
        if verbs & WRITES
    }
    assert writable <= held, writable - held
    binding = _one("ValidatingAdmissionPolicyBinding", "faas-infra-service-managed-namespaces")
    assert binding["spec"] == {
        "policyName": policy["metadata"]["name"], "validationActions": ["Deny"],
    }  # fmt: skip
    assert policy["spec"]["failurePolicy"] == "Fail"


# --- the admission policy's CEL, evaluated ------------------------------------------------


def _admit(
    *,
    resource: str,
    operation: str,
    obj: dict[str, Any] | None = None,
    old: dict[str, Any] | None = None,
    namespace_labels: dict[str, str] | None = None,
    user: str = SERVICE_ACCOUNT,
) -> bool:
    """Whether the policy lets the request through (as the API server would evaluate it)."""
    spec = _one("ValidatingAdmissionPolicy", "faas-infra-service-managed-namespaces")["spec"]
    env = celpy.Environment()
    namespace_object = (
        None
        if resource == "namespaces"
        else {"metadata": {"name": "n", "labels": dict(namespace_labels or {})}}
    )
    context: dict[str, Any] = {
        "request": celpy.json_to_cel(
            {"operation": operation, "resource": {"resource": resource},
             "userInfo": {"username": user}}
        ),
        "object": celpy.json_to_cel(obj) if obj is not None else None,
        "oldObject": celpy.json_to_cel(old) if old is not None else None,
        "namespaceObject": celpy.json_to_cel(namespace_object) if namespace_object else None,
    }  # fmt: skip

    def evaluate(expression: str) -> Any:
        return env.program(env.compile(expression)).evaluate(context)

    if not all(bool(evaluate(c["expression"])) for c in spec["matchConditions"]):
        return True  # not the service: the policy does not apply
    variables = celpy.celtypes.MapType({})
    for variable in spec["variables"]:  # in order: each may use the ones before it
        context["variables"] = variables
        value = evaluate(variable["expression"])
        variables = celpy.celtypes.MapType(
            {**variables, celpy.celtypes.StringType(variable["name"]): value}
        )
    context["variables"] = variables
    return all(bool(evaluate(v["expression"])) for v in spec["validations"])


def _namespace(labels: dict[str, str]) -> dict[str, Any]:
    return {"metadata": {"name": "faas-x", "labels": labels}}


def _binding(role: str) -> dict[str, Any]:
    return {"metadata": {"name": "b"}, "roleRef": {"kind": "ClusterRole", "name": role}}


@pytest.mark.parametrize(
    ("request_", "allowed"),
    [
        (dict(resource="namespaces", operation="CREATE", obj=_namespace(MANAGED)), True),
        (dict(resource="namespaces", operation="CREATE", obj=_namespace({})), False),
        (dict(resource="namespaces", operation="CREATE",
              obj=_namespace({"app.kubernetes.io/managed-by": "someone"})), False),
        (dict(resource="namespaces", operation="UPDATE", obj=_namespace(MANAGED),
              old=_namespace(MANAGED)), True),
        # Adopting somebody's namespace by labelling it:
        (dict(resource="namespaces", operation="UPDATE", obj=_namespace(MANAGED),
              old=_namespace({})), False),
        (dict(resource="namespaces", operation="UPDATE", obj=_namespace({}),
              old=_namespace(MANAGED)), False),
        (dict(resource="namespaces", operation="DELETE", old=_namespace(MANAGED)), True),
        (dict(resource="namespaces", operation="DELETE", old=_namespace({})), False),
        (dict(resource="spinapps", operation="CREATE", obj={"metadata": {"name": "a"}},
              namespace_labels=MANAGED), True),
        (dict(resource="spinapps", operation="CREATE", obj={"metadata": {"name": "a"}},
              namespace_labels={}), False),
        (dict(resource="networkpolicies", operation="UPDATE", obj={"metadata": {}},
              old={"metadata": {}}, namespace_labels={"kubernetes.io/metadata.name": "kube"}),
         False),
        (dict(resource="spinapps", operation="DELETE", old={"metadata": {}},
              namespace_labels=MANAGED), True),
        (dict(resource="rolebindings", operation="CREATE", obj=_binding(TENANT_ROLE),
              namespace_labels=MANAGED), True),
        (dict(resource="rolebindings", operation="CREATE", obj=_binding("cluster-admin"),
              namespace_labels=MANAGED), False),
        (dict(resource="rolebindings", operation="CREATE", obj=_binding(TENANT_ROLE),
              namespace_labels={}), False),
        # Anybody else is not this policy's business.
        (dict(resource="namespaces", operation="CREATE", obj=_namespace({}),
              user="system:serviceaccount:kube-system:admin"), True),
    ],
    ids=[
        "create-labelled-namespace", "create-unlabelled-namespace", "create-foreign-label",
        "patch-own-namespace", "adopt-by-labelling", "drop-the-label",
        "delete-own-namespace", "delete-other-namespace",
        "app-in-own-namespace", "app-in-other-namespace", "policy-in-kube-system",
        "undeploy-in-own-namespace", "bind-tenant-role", "bind-cluster-admin",
        "bind-in-other-namespace", "another-user",
    ],
)  # fmt: skip
def test_the_admission_policy_admits_only_writes_to_namespaces_the_platform_made(
    request_: dict[str, Any], allowed: bool
) -> None:
    assert _admit(**copy.deepcopy(request_)) is allowed

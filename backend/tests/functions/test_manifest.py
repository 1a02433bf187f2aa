"""Re-rendering a stored SpinApp: only what was asked changes, values stay strings."""

import pytest
import yaml

from app.errors import Conflict
from app.functions.manifest import settings_of, with_settings
from contract.jobs import ScaffoldRequest
from testing.fake_infra_jobs import spinapp_yaml

HPA = """---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: hello-autoscaler
spec:
  minReplicas: 1
"""


def _manifest(**fields: object) -> str:
    request = ScaffoldRequest.model_validate(
        {"job_key": "t:scaffold", "image_url": "r.test/f@sha256:" + "a" * 64, "app_name": "hello"}
        | fields
    )
    return spinapp_yaml(request)


def test_replicas_change_and_everything_else_stays() -> None:
    manifest = _manifest(replicas=2, variables={"greeting": "hi"}, image_pull_secrets=["pull"])
    scaled = with_settings(manifest, replicas=0)
    before, after = yaml.safe_load(manifest), yaml.safe_load(scaled)
    assert after["spec"].pop("replicas") == 0
    before["spec"].pop("replicas")
    assert after == before
    assert settings_of(scaled).replicas == 0


def test_variable_values_that_look_like_numbers_stay_strings() -> None:
    manifest = _manifest(variables={"greeting": "hi"})
    changed = with_settings(manifest, variables={"count": "007", "flag": "true", "greeting": "x"})
    spec = yaml.safe_load(changed)["spec"]
    assert spec["variables"] == [
        {"name": "count", "value": "007"},
        {"name": "flag", "value": "true"},
        {"name": "greeting", "value": "x"},
    ]
    assert settings_of(changed).variables == {"count": "007", "flag": "true", "greeting": "x"}
    assert "variables" not in yaml.safe_load(with_settings(changed, variables={}))["spec"]


def test_an_autoscaled_app_keeps_its_hpa_and_refuses_a_replica_count() -> None:
    manifest = (
        _manifest(
            autoscaling={"min_replicas": 1, "max_replicas": 3},
            resources={"limits": {"cpu": "100m", "memory": "128Mi"}},
        )
        + HPA
    )
    assert settings_of(manifest).autoscaled and settings_of(manifest).replicas is None
    with pytest.raises(Conflict) as refused:
        with_settings(manifest, replicas=2)
    assert refused.value.code == "FUNCTION_AUTOSCALED"
    documents = list(yaml.safe_load_all(with_settings(manifest, variables={"a": "b"})))
    assert [doc["kind"] for doc in documents] == ["SpinApp", "HorizontalPodAutoscaler"]


@pytest.mark.parametrize(
    "manifest", ["", "kind: Deployment\nspec: {}\n", "kind: SpinApp\n", ": : :\n  - ["]
)
def test_what_holds_no_spinapp_is_refused_plainly(manifest: str) -> None:
    with pytest.raises(Conflict) as refused:
        with_settings(manifest, replicas=1)
    assert refused.value.code == "MANIFEST_UNREADABLE"


def test_variables_built_of_aliases_are_not_expanded() -> None:
    bomb = (
        "kind: SpinApp\nspec:\n  a: &a [x, x, x]\n  b: &b [*a, *a, *a]\n  c: &c [*b, *b, *b]\n"
        "  variables:\n    - name: v\n      value: [*c, *c, *c]\n"
        "    - name: w\n      value: ok\n"
    )
    assert settings_of(bomb).variables == {"w": "ok"}

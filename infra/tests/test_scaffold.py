"""Scaffold: the SpinApp (and HPA) of SPEC §7, valid against the CRD's documented fields."""

from typing import Any

import httpx
import jsonschema
import pytest
import yaml
from k8s_schemas import HPA, SPINAPP

from conftest import BUCKET, run_job

IMAGE = "127.0.0.1:5001/faas-functions@sha256:" + "ab" * 32


async def _scaffold(client: httpx.AsyncClient, **options: Any) -> tuple[dict[str, Any], list]:
    body = {
        "job_key": "task-9:scaffold",
        "task_id": "task-9",
        "image_url": IMAGE,
        "app_name": "hello",
        "manifest_path": f"s3://{BUCKET}/manifests/task-9/hello.yaml",
    } | options
    job = await run_job(client, "scaffolds", body)
    assert job["status"] == "succeeded", job["error"]
    documents = list(yaml.safe_load_all(job["result"]["manifest"]))
    jsonschema.validate(documents[0], SPINAPP)
    for document in documents[1:]:
        jsonschema.validate(document, HPA)
    return job["result"], documents


async def test_default_scaffold_is_what_spin_kube_scaffold_writes(
    client: httpx.AsyncClient, s3: Any
) -> None:
    result, documents = await _scaffold(client)
    assert documents == [
        {
            "apiVersion": "core.spinkube.dev/v1alpha1",
            "kind": "SpinApp",
            # `spin kube scaffold` writes no labels; the platform names who the app is.
            "metadata": {
                "name": "hello",
                "labels": {"app.kubernetes.io/managed-by": "faas-platform",
                           "faas.dev/function": "hello"},
            },
            "spec": {"image": IMAGE, "executor": "containerd-shim-spin", "replicas": 2},
        }
    ]  # fmt: skip
    assert result["manifest_path"] == f"s3://{BUCKET}/manifests/task-9/hello.yaml"
    stored = s3.get_object(Bucket=BUCKET, Key="manifests/task-9/hello.yaml")
    assert stored["Body"].read().decode() == result["manifest"]
    assert f'image: "{IMAGE}"' in result["manifest"]


async def test_the_spinapp_and_its_hpa_carry_the_workspace_and_function_labels(
    client: httpx.AsyncClient,
) -> None:
    autoscaling = {"min_replicas": 1, "max_replicas": 3}
    resources = {"limits": {"cpu": "500m", "memory": "256Mi"}}
    _, documents = await _scaffold(
        client, workspace_id="01jws", function_id="01jfn", autoscaling=autoscaling,
        resources=resources,
    )  # fmt: skip
    assert [doc["kind"] for doc in documents] == ["SpinApp", "HorizontalPodAutoscaler"]
    for doc in documents:
        assert doc["metadata"]["labels"] == {
            "app.kubernetes.io/managed-by": "faas-platform",
            "faas.dev/workspace": "01jws",
            "faas.dev/function": "01jfn",
        }


async def test_replicas_and_executor_are_taken_from_the_request(
    client: httpx.AsyncClient,
) -> None:
    _, (app,) = await _scaffold(client, replicas=5, executor="my-executor")
    assert app["spec"]["replicas"] == 5
    assert app["spec"]["executor"] == "my-executor"


async def test_limits_and_requests_become_resources(client: httpx.AsyncClient) -> None:
    resources = {
        "limits": {"cpu": "500m", "memory": "256Mi"},
        "requests": {"cpu": "100m", "memory": "128Mi"},
    }
    result, (app,) = await _scaffold(client, resources=resources)
    assert app["spec"]["resources"] == resources
    assert 'memory: "256Mi"' in result["manifest"]


async def test_variables_are_listed_with_quoted_values_that_stay_strings(
    client: httpx.AsyncClient,
) -> None:
    variables = {
        "greeting": "hello: world",
        "enabled": "yes",
        "count": "0x10",
        "empty": "",
        "injection": 'x"\n  evil: true',
    }
    result, (app,) = await _scaffold(client, variables=variables)
    assert app["spec"]["variables"] == [{"name": k, "value": v} for k, v in variables.items()]
    assert 'value: "yes"' in result["manifest"]
    assert "evil" not in app["spec"]


async def test_image_pull_secrets_are_references_by_name(client: httpx.AsyncClient) -> None:
    _, (app,) = await _scaffold(client, image_pull_secrets=["ecr-pull", "backup-pull"])
    assert app["spec"]["imagePullSecrets"] == [{"name": "ecr-pull"}, {"name": "backup-pull"}]


async def test_autoscaling_enables_it_drops_replicas_and_adds_an_hpa(
    client: httpx.AsyncClient,
) -> None:
    result, (app, hpa) = await _scaffold(
        client,
        resources={"limits": {"cpu": "1", "memory": "512Mi"}},
        autoscaling={
            "min_replicas": 2,
            "max_replicas": 6,
            "target_cpu_utilization": 70,
            "target_memory_utilization": 80,
        },
    )
    assert app["spec"]["enableAutoscaling"] is True
    assert "replicas" not in app["spec"]
    assert hpa["metadata"]["name"] == "hello-autoscaler"
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "hello",
    }
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 6)
    targets = {
        m["resource"]["name"]: m["resource"]["target"]["averageUtilization"]
        for m in hpa["spec"]["metrics"]
    }
    assert targets == {"cpu": 70, "memory": 80}
    assert result["kinds"] == ["SpinApp", "HorizontalPodAutoscaler"]


async def test_without_a_manifest_path_the_manifest_goes_under_the_job_id(
    client: httpx.AsyncClient, s3: Any
) -> None:
    body = {"job_key": "k-default", "image_url": IMAGE, "app_name": "hello"}
    job = await run_job(client, "scaffolds", body)
    key = f"manifests/{job['job_id']}/hello.yaml"
    assert job["result"]["manifest_path"] == f"s3://{BUCKET}/{key}"
    assert (
        s3.get_object(Bucket=BUCKET, Key=key)["Body"].read().decode() == job["result"]["manifest"]
    )


async def test_a_manifest_path_outside_the_bucket_is_refused_up_front(
    client: httpx.AsyncClient,
) -> None:
    body = {"job_key": "k", "image_url": IMAGE, "app_name": "hello"}
    response = await client.post(
        "/v1/scaffolds", json=body | {"manifest_path": "s3://elsewhere/m.yaml"}
    )
    assert response.status_code == 422
    assert "manifest_path" in response.json()["detail"]


async def test_autoscaling_without_cpu_and_memory_limits_is_refused(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        "/v1/scaffolds",
        json={"job_key": "k", "image_url": IMAGE, "app_name": "hello", "autoscaling": {}},
    )
    assert response.status_code == 422
    assert "limits" in response.json()["detail"]


@pytest.mark.parametrize(
    "options",
    [
        {"variables": {"Bad-Name": "x"}},
        {"image_pull_secrets": ["Not A Secret"]},
        {"resources": {"limits": {"cpu": "lots"}}},
        {"image_url": "image with spaces"},
        {"replicas": 0},
    ],
)
async def test_options_kubernetes_would_refuse_are_refused_up_front(
    client: httpx.AsyncClient, options: dict[str, Any]
) -> None:
    body = {"job_key": "k", "image_url": IMAGE, "app_name": "hello"} | options
    response = await client.post("/v1/scaffolds", json=body)
    assert response.status_code == 422


def test_the_schema_itself_rejects_a_spinapp_missing_replicas_without_autoscaling() -> None:
    app = {
        "apiVersion": "core.spinkube.dev/v1alpha1",
        "kind": "SpinApp",
        "metadata": {"name": "x"},
        "spec": {"image": "i"},
    }
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(app, SPINAPP)

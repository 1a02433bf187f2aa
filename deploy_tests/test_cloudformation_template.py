"""The CloudFormation template: lint-clean, deployable, and the same table the backend code uses.

The stack is created in the moto server's CloudFormation; the backend's own repositories and
HTTP API then run against the table and bucket the stack made (not ones `app.bootstrap` made),
so a renamed key, index or attribute on either side fails here.
"""

import json
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from asgi_lifespan import LifespanManager

from app.aws import AwsClients, open_aws_clients
from app.clock import Moment
from app.config import Environment, Settings
from app.errors import Conflict, NotFound, TooManyRequests
from app.functions.models import FunctionRecord
from app.main import create_app
from app.storage import keys, schema
from app.storage.functions import FunctionRepository
from app.storage.members import MemberRepository
from app.storage.tasks import TaskRepository, WorkspaceLimits
from app.storage.workspaces import WorkspaceRepository
from app.tasks import lifecycle
from app.tasks.models import TaskOptions
from app.workspaces.models import WorkspaceRecord
from deploy_tests.support import TEMPLATE, load_template
from testing.fake_infra import FakeInfraService

pytestmark = pytest.mark.filterwarnings(
    # The TLS-only bucket policy is real on AWS; moto's CloudFormation skips that resource type.
    "ignore:Tried to parse AWS.+BucketPolicy:UserWarning"
)

STACK = "faas-test"
REGION = "us-east-1"


def _cfn_lint() -> list[str]:
    executable = Path(sys.executable).with_name("cfn-lint")
    if executable.exists():
        return [str(executable)]
    found = shutil.which("cfn-lint")
    return [found] if found else [sys.executable, "-m", "cfnlint"]


def _default(setting: str) -> Any:
    """The backend's default for a setting (not whatever this environment overrides)."""
    return Settings.model_fields[setting].default


def test_template_is_cfn_lint_clean() -> None:
    result = subprocess.run(
        [*_cfn_lint(), "--format", "parseable", str(TEMPLATE)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_parameters_default_to_the_spec_names() -> None:
    parameters = load_template()["Parameters"]
    assert parameters["TableName"]["Default"] == _default("dynamodb_table")
    assert parameters["BucketName"]["Default"] == _default("s3_bucket")
    assert parameters["RepositoryName"]["Default"] == _default("ecr_repository")


# --- what moto's CloudFormation does not model, checked on the template itself ---------------


def test_table_declares_ttl_pitr_and_encryption() -> None:
    table = load_template()["Resources"]["Table"]["Properties"]
    assert table["TimeToLiveSpecification"] == {
        "AttributeName": schema.TTL_ATTRIBUTE,
        "Enabled": True,
    }
    assert table["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert table["SSESpecification"]["SSEEnabled"] is True
    assert table["BillingMode"] == "PAY_PER_REQUEST"


def test_bucket_blocks_public_access_and_expires_sources_and_logs() -> None:
    resources = load_template()["Resources"]
    bucket = resources["Bucket"]["Properties"]
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    assert len(bucket["PublicAccessBlockConfiguration"]) == 4
    rule = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in {"AES256", "aws:kms"}
    expiring = {
        rule["Prefix"]: rule["ExpirationInDays"]
        for rule in bucket["LifecycleConfiguration"]["Rules"]
        if "ExpirationInDays" in rule and rule["Status"] == "Enabled"
    }
    assert expiring == {
        "build-sources/": {"Ref": "SourceRetentionDays"},
        "build-logs/": {"Ref": "LogRetentionDays"},
    }


def test_repository_scans_on_push_and_keeps_the_last_n_images() -> None:
    repository = load_template()["Resources"]["Repository"]["Properties"]
    assert repository["ImageScanningConfiguration"] == {"ScanOnPush": True}
    text = repository["LifecyclePolicy"]["LifecyclePolicyText"]["Fn::Sub"]
    policy = json.loads(text.replace("${ImagesToKeep}", "7"))
    (rule,) = policy["rules"]
    assert rule["selection"]["countType"] == "imageCountMoreThan"
    assert rule["selection"]["countNumber"] == 7
    assert rule["action"] == {"type": "expire"}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _statements(policy: str) -> list[dict[str, Any]]:
    properties = load_template()["Resources"][policy]["Properties"]
    return properties["PolicyDocument"]["Statement"]


@pytest.mark.parametrize("policy", ["BackendPolicy", "InfraServicePolicy"])
def test_policies_grant_no_wildcard_actions_and_wildcard_resources_only_for_ecr_login(
    policy: str,
) -> None:
    for statement in _statements(policy):
        actions = _as_list(statement["Action"])
        assert statement["Effect"] == "Allow"
        assert not any(action.endswith("*") for action in actions), statement
        if statement["Resource"] == "*":
            assert actions == ["ecr:GetAuthorizationToken"], statement


def _object_prefixes(policy: str, action: str) -> set[str]:
    """The key prefixes of this bucket on which `policy` allows `action`."""
    found: set[str] = set()
    for statement in _statements(policy):
        actions = _as_list(statement["Action"])
        if action not in actions:
            continue
        for resource in _as_list(statement["Resource"]):
            text = resource.get("Fn::Sub", "")
            assert text.startswith("${Bucket.Arn}/"), resource
            found.add(text.removeprefix("${Bucket.Arn}/"))
    return found


def test_backend_writes_only_sources_reads_results_and_deletes_its_own_prefixes() -> None:
    assert _object_prefixes("BackendPolicy", "s3:PutObject") == {"build-sources/*"}
    assert _object_prefixes("BackendPolicy", "s3:DeleteObject") == {
        "build-sources/*",
        "build-logs/*",
        "build-artifacts/*",
        "manifests/*",
    }
    assert _object_prefixes("BackendPolicy", "s3:GetObject") == {
        "build-sources/*",
        "build-logs/*",
        "build-artifacts/*",
        "manifests/*",
    }


def test_infra_service_reads_sources_and_writes_artifacts_logs_manifests() -> None:
    assert _object_prefixes("InfraServicePolicy", "s3:PutObject") == {
        "build-artifacts/*",
        "build-logs/*",
        "manifests/*",
    }
    assert "build-sources/*" in _object_prefixes("InfraServicePolicy", "s3:GetObject")
    assert _object_prefixes("InfraServicePolicy", "s3:DeleteObject") == set()
    pushes = [s for s in _statements("InfraServicePolicy") if "ecr:PutImage" in s["Action"]]
    # The base repository and the workspaces' under it (`<name>/<workspace>/<function>`).
    under = {"Fn::Sub": "${Repository.Arn}/*"}
    assert [s["Resource"] for s in pushes] == [[{"Fn::GetAtt": ["Repository", "Arn"]}, under]]
    creates = [
        s for s in _statements("InfraServicePolicy") if "ecr:CreateRepository" in s["Action"]
    ]
    assert [s["Resource"] for s in creates] == [under]
    deletes = [
        s for s in _statements("InfraServicePolicy") if "ecr:BatchDeleteImage" in s["Action"]
    ]
    assert [s["Resource"] for s in deletes] == [[{"Fn::GetAtt": ["Repository", "Arn"]}, under]]


def test_backend_may_touch_only_its_table_and_indexes() -> None:
    tables = [s for s in _statements("BackendPolicy") if s["Sid"] == "Table"]
    assert tables[0]["Resource"] == [
        {"Fn::GetAtt": ["Table", "Arn"]},
        {"Fn::Sub": "${Table.Arn}/index/*"},
    ]
    assert not any(s["Action"] for s in _statements("InfraServicePolicy") if "dynamodb" in str(s))


# --- the stack, deployed into moto ---------------------------------------------------------


@pytest.fixture
def stack(aws_endpoint: str) -> Iterator[dict[str, str]]:
    """Create the stack from the template; yield its outputs."""
    cloudformation = boto3.client("cloudformation", endpoint_url=aws_endpoint, region_name=REGION)
    cloudformation.create_stack(StackName=STACK, TemplateBody=TEMPLATE.read_text())
    cloudformation.get_waiter("stack_create_complete").wait(
        StackName=STACK, WaiterConfig={"Delay": 1, "MaxAttempts": 30}
    )
    (described,) = cloudformation.describe_stacks(StackName=STACK)["Stacks"]
    assert described["StackStatus"] == "CREATE_COMPLETE", described.get("StackStatusReason")
    yield {output["OutputKey"]: output["OutputValue"] for output in described["Outputs"]}


def _by_name(items: list[dict[str, Any]], name_key: str) -> dict[str, dict[str, Any]]:
    return {item[name_key]: item for item in items}


def test_stack_table_has_the_keys_and_indexes_the_code_declares(
    aws_endpoint: str, stack: dict[str, str]
) -> None:
    dynamodb = boto3.client("dynamodb", endpoint_url=aws_endpoint, region_name=REGION)
    table = dynamodb.describe_table(TableName=stack["TableName"])["Table"]

    assert table["KeySchema"] == schema.KEY_SCHEMA
    assert sorted(table["AttributeDefinitions"], key=str) == sorted(
        schema.ATTRIBUTE_DEFINITIONS, key=str
    )
    created = _by_name(table["GlobalSecondaryIndexes"], "IndexName")
    declared = _by_name(schema.GLOBAL_SECONDARY_INDEXES, "IndexName")
    assert set(created) == set(declared) == {keys.ID_INDEX, keys.LIST_INDEX, keys.DUE_INDEX}
    for name, index in declared.items():
        assert created[name]["KeySchema"] == index["KeySchema"], name
        assert created[name]["Projection"] == index["Projection"], name
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"


def test_stack_outputs_name_the_resources_with_spec_defaults(
    aws_endpoint: str, stack: dict[str, str]
) -> None:
    assert stack["TableName"] == _default("dynamodb_table")
    assert stack["BucketName"] == _default("s3_bucket")
    assert stack["RepositoryName"] == _default("ecr_repository")
    assert stack["RepositoryUri"].endswith(f"/{_default('ecr_repository')}")
    assert stack["RegistryUrl"] == stack["RepositoryUri"].split("/", 1)[0]

    s3 = boto3.client("s3", endpoint_url=aws_endpoint, region_name=REGION)
    encryption = s3.get_bucket_encryption(Bucket=stack["BucketName"])
    rules = encryption["ServerSideEncryptionConfiguration"]["Rules"]
    assert rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    ecr = boto3.client("ecr", endpoint_url=aws_endpoint, region_name=REGION)
    repository = ecr.describe_repositories(repositoryNames=[stack["RepositoryName"]])
    assert repository["repositories"][0]["repositoryUri"] == stack["RepositoryUri"]


def test_stack_policies_point_at_the_stack_resources(
    aws_endpoint: str, stack: dict[str, str]
) -> None:
    iam = boto3.client("iam", endpoint_url=aws_endpoint, region_name=REGION)

    def document(arn: str) -> str:
        version = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
        body = iam.get_policy_version(PolicyArn=arn, VersionId=version)["PolicyVersion"]
        return json.dumps(body["Document"])

    backend = document(stack["BackendPolicyArn"])
    assert f'"{stack["TableArn"]}"' in backend
    assert f"{stack['TableArn']}/index/*" in backend
    assert f"{stack['BucketArn']}/build-sources/*" in backend
    infra = document(stack["InfraServicePolicyArn"])
    assert f"{stack['BucketArn']}/build-artifacts/*" in infra
    assert stack["RepositoryName"] in infra


def _settings(endpoint: str, stack: dict[str, str], **overrides: Any) -> Settings:
    return Settings(  # type: ignore[call-arg]
        _env_file=None,
        app_env=Environment.test,
        aws_endpoint_url=endpoint,
        aws_region=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        dynamodb_table=stack["TableName"],
        s3_bucket=stack["BucketName"],
        ecr_repository=stack["RepositoryName"],
        pollers_enabled=False,
        **overrides,
    )


@pytest.fixture
async def aws(aws_endpoint: str, stack: dict[str, str]) -> AsyncIterator[AwsClients]:
    async with open_aws_clients(_settings(aws_endpoint, stack)) as clients:
        yield clients


def _workspace(workspace_id: str) -> WorkspaceRecord:
    return WorkspaceRecord(
        id=workspace_id,
        name="team",
        owner="alice",
        created_at="2026-01-01T00:00:00Z",
        updated_at="2026-01-01T00:00:00Z",
    )


async def test_workspace_storage_works_on_the_stack_table(
    aws: AwsClients, stack: dict[str, str]
) -> None:
    workspaces = WorkspaceRepository(client=aws.dynamodb, table=stack["TableName"])
    record = WorkspaceRecord(
        id="01jaaaaaaaaaaaaaaaaaaaaaaa",
        name="team",
        owner="alice",
        created_at="2026-01-01T00:00:00Z",
        updated_at="2026-01-01T00:00:00Z",
    )
    await workspaces.create(workspace=record)
    with pytest.raises(Conflict):
        await workspaces.create(workspace=record)

    stored = await workspaces.get(workspace_id=record.id)
    assert stored == record
    # The owner's membership, found through the ListIndex of the stack's table.
    members = MemberRepository(client=aws.dynamodb, table=stack["TableName"])
    page = await members.workspaces_of(subject="alice", limit=10, next_token=None)
    assert [item.workspace_id for item in page.items] == [record.id]

    updated = await workspaces.update(workspace=record, changes={"name": "renamed"})
    assert updated.name == "renamed"
    await workspaces.delete(workspace_id=record.id)
    assert await workspaces.get(workspace_id=record.id) is None
    with pytest.raises(NotFound):
        await workspaces.delete(workspace_id=record.id)


async def test_function_storage_works_on_the_stack_table(
    aws: AwsClients, stack: dict[str, str]
) -> None:
    table = stack["TableName"]
    workspaces = WorkspaceRepository(client=aws.dynamodb, table=table)
    functions = FunctionRepository(client=aws.dynamodb, table=table)
    workspace_id = "01jbbbbbbbbbbbbbbbbbbbbbbb"
    await workspaces.create(workspace=_workspace(workspace_id))
    function = FunctionRecord(
        id="01jccccccccccccccccccccccc",
        workspace_id=workspace_id,
        name="hello",
        created_at="2026-01-01T00:00:01Z",
        updated_at="2026-01-01T00:00:01Z",
    )
    await functions.create(function=function)
    with pytest.raises(Conflict):
        await functions.create(
            function=function.model_copy(update={"id": "01jddddddddddddddddddddddd"})
        )

    # By id alone: the IdIndex of the stack's table.
    found = await functions.get(function_id=function.id)
    assert found == function
    page = await functions.list_in_workspace(workspace_id=workspace_id, limit=10, next_token=None)
    assert [item.id for item in page.items] == [function.id]

    updated = await functions.update(function=function, changes={"replicas": 3})
    assert updated.replicas == 3
    await functions.delete(function=updated)
    assert await functions.get(function_id=function.id) is None
    assert not await functions.any_in_workspace(workspace_id=workspace_id)


async def test_task_storage_works_on_the_stack_table(
    aws: AwsClients, stack: dict[str, str]
) -> None:
    table = stack["TableName"]
    workspaces = WorkspaceRepository(client=aws.dynamodb, table=table)
    tasks = TaskRepository(client=aws.dynamodb, table=table)
    workspace_id, task_id = "01jeeeeeeeeeeeeeeeeeeeeeee", "01jfffffffffffffffffffffff"
    await workspaces.create(workspace=_workspace(workspace_id))
    task = lifecycle.new_task(
        task_id=task_id,
        task_type="build",
        workspace_id=workspace_id,
        app_name="hello",
        function_id=None,
        options=TaskOptions(),
        now=Moment(iso="2026-01-01T00:00:00Z", ms=0),
    )
    limits = WorkspaceLimits(max_active=1, per_minute=10)
    await tasks.create(task=task, due_at_ms=1_000, limits=limits)

    # By id alone (IdIndex) and as due work for the pollers (DueIndex).
    found = await TaskRepository(client=aws.dynamodb, table=table).get(task_id=task_id)
    assert found is not None and found.status == "pending"
    due = await tasks.due(shard=keys.due_shard(task_id), now_ms=2_000, limit=10)
    assert len(due) == 1
    claimed = await tasks.claim(key=due[0], now_ms=2_000, lease_ms=30_000, owner="replica-a")
    assert claimed is not None
    # The workspace's active-task slot is taken until the task finishes.
    other = task.model_copy(update={"task_id": "01jggggggggggggggggggggggg"})
    with pytest.raises(TooManyRequests):
        await tasks.create(task=other, due_at_ms=1, limits=limits)
    completed = claimed.model_copy(update={"status": "completed"})
    done = await tasks.save_step(
        before=claimed, after=completed, events=(), owner="replica-a", next_due_ms=None
    )
    assert done is not None and done.status == "completed"
    assert await tasks.due(shard=keys.due_shard(task_id), now_ms=10**13, limit=10) == []
    await tasks.create(task=other, due_at_ms=1, limits=limits)


async def test_backend_api_is_ready_and_serves_on_the_stack_resources(
    aws_endpoint: str, stack: dict[str, str]
) -> None:
    # Deleting the workspace deletes its namespace on the deploy service: a fake one here.
    with FakeInfraService(token="t" * 32) as infra:
        settings = _settings(
            aws_endpoint, stack, deploy_service_url=infra.url, infra_service_token="t" * 32
        )
        app = create_app(settings)
        async with (
            LifespanManager(app) as manager,
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=manager.app), base_url="http://testserver"
            ) as client,
        ):
            ready = await client.get("/health/ready")
            assert ready.status_code == 200, ready.text

            workspace = await client.post("/api/workspaces", json={"name": "team"})
            assert workspace.status_code == 201, workspace.text
            workspace_id = workspace.json()["id"]
            function = await client.post(
                f"/api/workspaces/{workspace_id}/functions", json={"name": "hello"}
            )
            assert function.status_code == 201, function.text
            fetched = await client.get(f"/api/functions/{function.json()['id']}")
            assert fetched.status_code == 200 and fetched.json()["name"] == "hello"
            listed = await client.get("/api/workspaces")
            assert [item["id"] for item in listed.json()["items"]] == [workspace_id]
            deleted = await client.delete(
                f"/api/workspaces/{workspace_id}", params={"cascade": "true"}
            )
            assert deleted.status_code == 204, deleted.text

"""Paths and readers shared by the deployment tests."""

from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "infra" / "cloudformation" / "template.yaml"
MANIFESTS = ROOT / "manifests"
COMPOSE_FILE = ROOT / "docker-compose.yml"
ECR_UPLOAD = ROOT / "ecr-upload.sh"
SCHEMAS = Path(__file__).resolve().parent / "schemas"


class _CloudFormationLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short-form intrinsics (`!Ref x` → `{"Ref": "x"}`)."""


def _intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


_CloudFormationLoader.add_multi_constructor("!", _intrinsic)


def load_template() -> dict[str, Any]:
    """The CloudFormation template as plain data."""
    return yaml.load(TEMPLATE.read_text(), Loader=_CloudFormationLoader)


def load_documents(path: Path) -> list[dict[str, Any]]:
    """Every non-empty YAML document in a file."""
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def infra_settings_env_names() -> set[str]:
    """The variables the infrastructure service's settings read (INFRA_…).

    Imported, not guessed: if `infra_service.config` cannot be imported, that is a broken
    module, and the tests that use this fail saying so instead of being skipped.
    """
    from infra_service.config import Settings as InfraSettings

    prefix = InfraSettings.model_config.get("env_prefix", "")
    return {f"{prefix}{field}".upper() for field in InfraSettings.model_fields}

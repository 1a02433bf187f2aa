"""Paths and readers shared by the deployment tests."""

import importlib
from pathlib import Path
from typing import Any

import yaml
from pydantic_settings import BaseSettings

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


def infra_settings_env_names() -> set[str] | None:
    """The variables the infra service's settings read; None while `infra_service` is absent."""
    for module_name in ("infra_service.config", "infra_service.settings"):
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        classes = [
            value
            for value in vars(module).values()
            if isinstance(value, type)
            and issubclass(value, BaseSettings)
            and value is not BaseSettings
            and value.__module__ == module.__name__
        ]
        if classes:
            names: set[str] = set()
            for settings_class in classes:
                prefix = settings_class.model_config.get("env_prefix", "")
                names |= {f"{prefix}{field}".upper() for field in settings_class.model_fields}
            return names
    return None

"""Spin variables: component config templates (`{{ name }}`) over the app's variables."""

import re
from dataclasses import dataclass

from infra_service.runtime.manifest import AppVariable

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_TEMPLATE = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")


@dataclass(frozen=True)
class VariableError(Exception):
    kind: str  # the WIT error case: invalid-name, undefined, provider
    message: str


def valid_name(name: str) -> bool:
    """Spin's rule: lowercase letters, digits and single underscores, starting with a letter."""
    return bool(_NAME.match(name)) and "__" not in name and not name.endswith("_")


class Variables:
    """Resolves `variables.get(key)` as Spin does: key → template → app variables."""

    def __init__(
        self,
        *,
        config: dict[str, str],
        declared: dict[str, AppVariable],
        values: dict[str, str],
    ) -> None:
        self._config = config
        self._declared = declared
        self._values = values

    def get(self, key: str) -> str:
        if not valid_name(key):
            raise VariableError("invalid-name", f"invalid variable name {key!r}")
        template = self._config.get(key)
        if template is None:
            raise VariableError("undefined", f"no variable for {key!r}")
        return _TEMPLATE.sub(lambda match: self._resolve(match.group(1), key), template)

    def get_all(self) -> list[tuple[str, str]]:
        return [(key, self.get(key)) for key in sorted(self._config)]

    def _resolve(self, name: str, key: str) -> str:
        if name in self._values:
            return self._values[name]
        declared = self._declared.get(name)
        if declared is not None and declared.default is not None:
            return declared.default
        if declared is None:
            raise VariableError(
                "undefined", f"config {key!r} refers to {name!r}, which the app does not declare"
            )
        raise VariableError(
            "provider",
            f"variable {name!r} has no value: set it on the deployment or give it a default",
        )

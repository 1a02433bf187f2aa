"""The OpenAPI description: FastAPI's, with the schemas the problem responses refer to.

Every `$ref` in the document points into `#/components/schemas` (checked by
backend/tests/api/test_openapi_contract.py with an independent validator and a client generator).
"""

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from app.api.problems import Problem

_COMPONENT_REF = "#/components/schemas/{model}"


def openapi_document(app: FastAPI) -> dict[str, Any]:
    """Build the description once per app; later calls return the same document."""
    if app.openapi_schema is None:
        document = get_openapi(
            title=app.title,
            version=app.version,
            openapi_version=app.openapi_version,
            description=app.description,
            routes=app.routes,
        )
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        problem = Problem.model_json_schema(ref_template=_COMPONENT_REF)
        schemas.update(problem.pop("$defs", {}))
        schemas["Problem"] = problem
        app.openapi_schema = document
    return app.openapi_schema

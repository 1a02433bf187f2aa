"""JSON schemas of the objects the scaffold step writes, from the documented CRD fields.

SpinApp: spin-operator `api/v1alpha1/spinapp_types.go` / the CRD `core.spinkube.dev_spinapps`
(see /work/shared/reference/spin-artifacts.md §2.1), plus the webhook rules on replicas and
autoscaling. HorizontalPodAutoscaler: the autoscaling/v2 fields the scaffold uses.
"""

from typing import Any

_QUANTITY: dict[str, Any] = {
    "type": "string",
    "pattern": r"^[0-9]+(\.[0-9]+)?(m|Ki|Mi|Gi|Ti|k|M|G|T)?$",
}
_RESOURCE_LIST: dict[str, Any] = {
    "type": "object",
    "additionalProperties": _QUANTITY,
}
_DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
_PROBE: dict[str, Any] = {
    "type": "object",
    "properties": {
        "httpGet": {
            "type": "object",
            "required": ["path"],
            "properties": {"path": {"type": "string"}, "httpHeaders": {"type": "array"}},
        },
        "initialDelaySeconds": {"type": "integer"},
        "timeoutSeconds": {"type": "integer"},
        "periodSeconds": {"type": "integer"},
        "successThreshold": {"type": "integer"},
        "failureThreshold": {"type": "integer"},
    },
    "additionalProperties": False,
}

SPINAPP: dict[str, Any] = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "additionalProperties": False,
    "properties": {
        "apiVersion": {"const": "core.spinkube.dev/v1alpha1"},
        "kind": {"const": "SpinApp"},
        "metadata": {
            "type": "object",
            "required": ["name"],
            "properties": {
                "name": {"type": "string", "maxLength": 52, "pattern": _DNS_LABEL},
                "namespace": {"type": "string", "pattern": _DNS_LABEL},
                "labels": {"type": "object"},
                "annotations": {"type": "object"},
            },
        },
        "spec": {
            "type": "object",
            "required": ["image"],
            "additionalProperties": False,
            "properties": {
                "image": {"type": "string", "minLength": 1},
                "executor": {"type": "string", "minLength": 1},
                "replicas": {"type": "integer", "minimum": 1, "maximum": 2147483647},
                "enableAutoscaling": {"type": "boolean"},
                "imagePullSecrets": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["name"],
                        "properties": {"name": {"type": "string", "minLength": 1}},
                        "additionalProperties": False,
                    },
                },
                "checks": {
                    "type": "object",
                    "properties": {"readiness": _PROBE, "liveness": _PROBE},
                    "additionalProperties": False,
                },
                "runtimeConfig": {"type": "object"},
                "variables": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["name"],
                        "properties": {
                            "name": {"type": "string", "minLength": 1},
                            "value": {"type": "string"},
                            "valueFrom": {"type": "object"},
                        },
                        "additionalProperties": False,
                    },
                },
                "volumes": {"type": "array"},
                "volumeMounts": {"type": "array"},
                "serviceAnnotations": {"type": "object"},
                "deploymentAnnotations": {"type": "object"},
                "podAnnotations": {"type": "object"},
                "podLabels": {"type": "object"},
                "resources": {
                    "type": "object",
                    "properties": {"limits": _RESOURCE_LIST, "requests": _RESOURCE_LIST},
                    "additionalProperties": False,
                },
                "components": {"type": "array", "minItems": 1, "items": {"type": "string"}},
                "serviceAccountName": {"type": "string"},
                "invocationLimits": {"type": "object", "additionalProperties": {"type": "string"}},
            },
            # The validating webhook: replicas ≥ 1 without autoscaling, unset with it.
            "if": {
                "properties": {"enableAutoscaling": {"const": True}},
                "required": ["enableAutoscaling"],
            },
            "then": {"not": {"required": ["replicas"]}},
            "else": {"required": ["replicas"]},
        },
    },
}

_METRIC: dict[str, Any] = {
    "type": "object",
    "required": ["type", "resource"],
    "properties": {
        "type": {"const": "Resource"},
        "resource": {
            "type": "object",
            "required": ["name", "target"],
            "properties": {
                "name": {"enum": ["cpu", "memory"]},
                "target": {
                    "type": "object",
                    "required": ["type", "averageUtilization"],
                    "properties": {
                        "type": {"const": "Utilization"},
                        "averageUtilization": {"type": "integer", "minimum": 1},
                    },
                },
            },
        },
    },
}

HPA: dict[str, Any] = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "autoscaling/v2"},
        "kind": {"const": "HorizontalPodAutoscaler"},
        "metadata": {"type": "object", "required": ["name"]},
        "spec": {
            "type": "object",
            "required": ["scaleTargetRef", "maxReplicas"],
            "additionalProperties": False,
            "properties": {
                "scaleTargetRef": {
                    "type": "object",
                    "required": ["apiVersion", "kind", "name"],
                    "properties": {
                        "apiVersion": {"const": "apps/v1"},
                        "kind": {"const": "Deployment"},
                        "name": {"type": "string"},
                    },
                },
                "minReplicas": {"type": "integer", "minimum": 1},
                "maxReplicas": {"type": "integer", "minimum": 1},
                "metrics": {"type": "array", "items": _METRIC},
            },
        },
    },
}

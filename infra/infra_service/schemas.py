"""The service's request and response models: the contract's own (contract.jobs), one copy."""

from contract.fields import Autoscaling, Resources
from contract.jobs import (
    VIEWS,
    BuildRequest,
    DeployRequest,
    JobError,
    JobRequest,
    JobView,
    PushRequest,
    ScaffoldRequest,
)

__all__ = [
    "VIEWS",
    "Autoscaling",
    "BuildRequest",
    "DeployRequest",
    "JobError",
    "JobRequest",
    "JobView",
    "PushRequest",
    "Resources",
    "ScaffoldRequest",
]

"""The contract between the control plane and the infrastructure service (docs/contract.md).

Request and response models, the job view, stage names and collection paths, imported by
`backend/app`, `infra/infra_service` and the fakes in `testing/`, so that no side can drift.
This package imports nothing of ours.

- `contract.fields`: the constrained field types both sides validate with.
- `contract.jobs`: stage names, collection paths, the job requests, results and job view.
- `contract.images`: the push service's image deletion (registry clean-up).
- `contract.problems`: the one problem+json (RFC 9457) renderer of both services.
"""

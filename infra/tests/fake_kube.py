"""The fake Kubernetes API moved to testing/fake_kube.py (the backend's tests use it too)."""

from testing.fake_kube import TOKEN, FakeCluster, running_fake_cluster

__all__ = ["TOKEN", "FakeCluster", "running_fake_cluster"]

"""Maintenance of what the backend stores: the sweeper of interrupted uploads.

It owns clean-up under the backend's own S3 prefix (`build-sources/`) and reads tasks only to
know which sources are still referred to; it never writes a task.
"""

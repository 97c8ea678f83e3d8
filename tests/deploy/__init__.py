"""Lint and policy tests for the deployment files: Dockerfiles, Kubernetes manifests, helper.conf examples."""

"""Credential files on disk: rendering and atomic, consistent writing."""

"""Small helper programs and utilities for the process tests (run as real child processes)."""

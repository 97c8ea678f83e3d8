"""spiffe-helper: give any program a SPIFFE identity.

Streams X.509 and JWT SVIDs from the SPIFFE Workload API, writes them to disk atomically and
supervises the workload that uses them. A drop-in replacement for the Go ``spiffe-helper``.
"""

__version__ = "0.1.0"

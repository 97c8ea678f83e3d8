"""SPIFFE Workload API: address parsing and the gRPC client (the only user of ``_proto``)."""

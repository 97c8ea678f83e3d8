"""A development SPIFFE Workload API agent: its own CA, one socket per identity."""

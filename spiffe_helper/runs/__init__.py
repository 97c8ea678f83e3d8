"""The runs the orchestrator (:mod:`spiffe_helper.app`) chooses between: daemon and one-shot, and their parts."""

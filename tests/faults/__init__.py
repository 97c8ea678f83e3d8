"""Reliability campaign: the real helper against a misbehaving agent, hostile umask, restarts, load."""

"""Child process supervision: spawning, reaping, signal forwarding, pid files."""

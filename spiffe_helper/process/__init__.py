"""Child process supervision with PID-1 manners: spawning, reaping, signal forwarding, pid files.

- ``cmdargs``: ``cmd_args`` split with the Go helper's CSV rules (or a list passed through).
- ``spawn``: ``posix_spawnp`` with a clean signal state in a new process group; 127/126 errors.
- ``reaper``: the only code that waits (``waitpid(-1)`` on SIGCHLD + tick); ``ChildExit`` values.
- ``signals``: Go's signal names and texts; ``SignalRouter`` on the event loop.
- ``child``: a started child (signal it, its group, stop it with a grace period).
- ``pidfile``: signal the pid in ``pid_file_name`` with Go's retry, in the background.
- ``legacy`` / ``wrapper``: the two supervisors (Go ``cmd`` semantics; ``start {}`` / ``reload {}``).
- ``supervisor``: their common interface and the choice from the config.
- ``runtime``: reaper + signal handlers + supervisor, the one object the orchestrator wires in.
"""

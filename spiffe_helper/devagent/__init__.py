"""A development SPIFFE Workload API agent: its own CA, one Unix socket per identity.

Run it: ``spiffe-helper dev-agent --socket-dir DIR --identity NAME=SPIFFE_ID[#HINT][,...]`` (or
``python -m spiffe_helper.devagent``); ``--help`` documents every option, the registration file format,
signals (SIGUSR1 re-issues SVIDs, SIGUSR2 rotates the CA) and exit codes.

Test API (other helpers' tests should use these, never mocks):

- :class:`DevAgent` (in-process, on the running asyncio loop)::

      async with DevAgent(sock_dir, {"server": ["spiffe://td/server"], "web": ["spiffe://td/a#hintA",
                          "spiffe://td/b#hintB"], "nobody": []}, x509_ttl="4s", jwt_ttl="30s",
                          federate_with=["partner.example"], intermediate=False, state_dir=None) as agent:
          agent.socket_path("server")          # Path, <sock_dir>/server.sock, listening
          agent.address("server")              # "unix:///abs/.../server.sock"
          agent.rotate_now()                   # re-issue X.509-SVIDs (all sockets, or rotate_now("web"))
          agent.rotate_ca_now()                # new root; old root stays in the bundle until it expires
          agent.set_identities("nobody", ["spiffe://td/late"])  # [] revokes: streams get PERMISSION_DENIED
          agent.inject_x509_fault("server", "garbage_der")      # one bad message, then the good state again
          agent.inject_x509_response("server", response)        # any X509SVIDResponse you built
          agent.current_x509_response("server")                  # what a new stream would get first
          agent.bundle(); agent.mint_jwt_svid("spiffe://partner.example/x", ["aud"])
          agent.stream_count("server", "x509"); agent.stats.x509_issued

- :class:`DevAgentThread`: the same agent in a background thread for synchronous tests
  (``with DevAgentThread(...) as t: t.rotate_now(); t.inject_x509_fault(...); t.call(lambda a: ...)``).
- :class:`DevAgentProcess`: the real ``python -m spiffe_helper.devagent`` child process, ready when every
  socket accepts connections (``start()``, ``stop() -> exit code``, ``kill()`` leaves stale sockets,
  ``restart()``, ``rotate_now()`` = SIGUSR1, ``output()``).

Fault injection (:mod:`spiffe_helper.devagent.faults`): ten pure functions ``fault(good, issuer, index=0)``
that each return a copy of a good ``X509SVIDResponse`` with one defect, listed in :data:`FAULTS`:
``empty_svid_list``, ``garbage_der``, ``key_mismatch``, ``spiffe_id_mismatch``, ``two_uri_sans``,
``ca_leaf``, ``expired_svid``, ``missing_bundle``, ``unchained_bundle``, ``oversized_message``.
``agent.inject_x509_fault(name, fault)`` sends the fault on every open X.509 stream of that socket (or on
the next one to open), followed by the current good state; call ``agent.rotate_now(name)`` right after to
make the following good message a fresh SVID.
"""

from spiffe_helper.devagent.agent import AgentStats, DevAgent
from spiffe_helper.devagent.faults import FAULTS
from spiffe_helper.devagent.harness import DevAgentProcess, DevAgentThread
from spiffe_helper.devagent.registrations import SocketRegistration, SvidSpec
from spiffe_helper.devagent.settings import AgentSettings

__all__ = [
    "FAULTS",
    "AgentSettings",
    "AgentStats",
    "DevAgent",
    "DevAgentProcess",
    "DevAgentThread",
    "SocketRegistration",
    "SvidSpec",
]

"""Builds the protobuf messages a socket's streams send, once per change (values in, messages out)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from spiffe_helper.devagent.authority import Authority
from spiffe_helper.devagent.ca import IssuedSvid
from spiffe_helper.devagent.hub import Kind, Snapshot
from spiffe_helper.devagent.keys import pkcs8_der
from spiffe_helper.spiffeid import TrustDomain
from spiffe_helper.workload._proto import workload_pb2 as pb


class SnapshotBuilder:
    """Turns issued SVIDs and authorities into a :class:`Snapshot`, tracking generations per socket.

    The X.509-SVID generation moves on every build (SPIRE does not de-duplicate SVID pushes either);
    the bundle generations move only when the bundle bytes change, so bundle streams stay quiet across
    SVID rotations.
    """

    def __init__(self, own: TrustDomain) -> None:
        self._own = own
        self._last: dict[str, tuple[dict[Kind, int], dict[Kind, bytes]]] = {}

    def build(
        self, socket_name: str, svids: Sequence[IssuedSvid], authorities: Mapping[TrustDomain, Authority]
    ) -> Snapshot:
        """The snapshot for ``socket_name`` given its current SVIDs and all authorities."""
        x509_bundles = {td.id_string: a.bundle_der() for td, a in authorities.items()}
        jwt_bundles = {td.id_string: a.jwks() for td, a in authorities.items()}
        own_bundle = x509_bundles[self._own.id_string]
        messages: dict[Kind, Any] = {
            Kind.X509: pb.X509SVIDResponse(
                svids=[
                    pb.X509SVID(
                        spiffe_id=s.spiffe_id,
                        x509_svid=s.chain_der(),
                        x509_svid_key=pkcs8_der(s.key),
                        bundle=own_bundle,
                        hint=s.hint,
                    )
                    for s in svids
                ],
                federated_bundles={k: v for k, v in x509_bundles.items() if k != self._own.id_string},
            ),
            Kind.X509_BUNDLES: pb.X509BundlesResponse(bundles=x509_bundles),
            Kind.JWT_BUNDLES: pb.JWTBundlesResponse(bundles=jwt_bundles),
        }
        fingerprints = {
            Kind.X509_BUNDLES: b"\0".join(x509_bundles[k] for k in sorted(x509_bundles)),
            Kind.JWT_BUNDLES: b"\0".join(jwt_bundles[k] for k in sorted(jwt_bundles)),
        }
        generations, previous = self._last.get(socket_name, ({kind: 0 for kind in Kind}, {}))
        generations = dict(generations)
        generations[Kind.X509] += 1
        for kind, fingerprint in fingerprints.items():
            if previous.get(kind) != fingerprint:
                generations[kind] += 1
        self._last[socket_name] = (generations, fingerprints)
        return Snapshot(messages, generations)

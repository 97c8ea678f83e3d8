#!/bin/sh
# Register the SPIRE entries of the Coastal Containers demo, once `kubectl apply -k k8s/` is up:
#   sh k8s/register-entries.sh
# A node alias for every agent of the cluster (k8s_psat), then one entry per workload, selected by namespace
# and service account. Safe to re-run: an entry that exists is left alone.
set -eu
TD=coastal-containers.example
NODE_ID="spiffe://$TD/agent/spire-agent"

spire_server() {
    kubectl -n spire exec spire-server-0 -c spire-server -- /opt/spire/bin/spire-server "$@"
}

# entry SPIFFE_ID ARGS...: create the entry unless one with that SPIFFE ID exists
entry() {
    id=$1
    shift
    if spire_server entry show -spiffeID "$id" | grep -q '^Found 0 entries'; then
        spire_server entry create -spiffeID "$id" "$@"
    else
        echo "entry for $id exists"
    fi
}

kubectl -n spire rollout status statefulset/spire-server --timeout=180s

entry "$NODE_ID" -node \
    -selector k8s_psat:cluster:coastal \
    -selector k8s_psat:agent_ns:spire \
    -selector k8s_psat:agent_sa:spire-agent

# X.509 SVIDs of 10 minutes: a rotation (at half-life) every 5 minutes, visible in the pods' logs.
entry "spiffe://$TD/manifest/workload/server" -parentID "$NODE_ID" \
    -selector k8s:ns:coastal -selector k8s:sa:server -x509SVIDTTL 600
entry "spiffe://$TD/manifest/workload/client" -parentID "$NODE_ID" \
    -selector k8s:ns:coastal -selector k8s:sa:client -x509SVIDTTL 600

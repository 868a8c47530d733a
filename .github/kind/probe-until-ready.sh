#!/usr/bin/env bash
# Wait until a role's first pod of a release is Ready, as its kubelet would decide it: vllmgen probe-check runs
# the values' own probes against the pod's address, not a fixed wait.
# Usage: probe-until-ready.sh RELEASE ROLE VALUES SECONDS
set -euo pipefail
release=$1 role=$2 values=$3 seconds=$4
selector="app.kubernetes.io/instance=$release,app.kubernetes.io/component=$role"
kubectl wait pod -l "$selector" --for=create --timeout=120s
kubectl wait pod -l "$selector" --for=jsonpath='{.status.phase}'=Running --timeout=900s
pod_ip=$(kubectl get pod -l "$selector" -o jsonpath='{.items[0].status.podIP}')
vllmgen probe-check "$values" --role "$role" --url "http://$pod_ip" --until-ready --duration "$seconds"

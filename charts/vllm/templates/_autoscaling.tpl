{{/* What a role's autoscaler reads. Helpers listed in _helpers.tpl. */}}

{{/* The role's workload as an autoscaler's scaleTargetRef: the Deployment, or the LeaderWorkerSet (groups). */}}
{{- define "vllm.scaleTargetRef" -}}
{{- if .root.Values.multinode -}}
apiVersion: leaderworkerset.x-k8s.io/v1
kind: LeaderWorkerSet
{{- else -}}
apiVersion: apps/v1
kind: Deployment
{{- end }}
name: {{ include "vllm.roleName" . | quote }}
{{- end }}

{{/*
PromQL for KEDA: the role's autoscaling metric summed over the pods the HPA counts, selected by the `namespace` and
`pod` labels Prometheus gives every pod target. Deployment pods are NAME-HASH-SUFFIX; a LeaderWorkerSet's leaders
are NAME-INDEX (workers NAME-INDEX-WORKER are left out, as the LeaderWorkerSet's scale subresource selects leaders
only). KEDA divides the sum by the replicas, so the target is an average per pod (per leader).
*/}}
{{- define "vllm.metricQuery" -}}
{{- $pods := "[a-z0-9]+-[a-z0-9]+" }}
{{- if .root.Values.multinode }}{{ $pods = "[0-9]+" }}{{ end }}
{{- printf "sum(%s{namespace=\"%s\",pod=~\"%s-%s\"})" .cfg.autoscaling.metric .root.Release.Namespace (include "vllm.roleName" .) $pods }}
{{- end }}

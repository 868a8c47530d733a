{{/* Labels and selectors, each block written once. Helpers listed in _helpers.tpl. */}}

{{/* Pod selector of a role. */}}
{{- define "vllm.selectorLabels" -}}
app.kubernetes.io/name: {{ include "vllm.name" .root | quote }}
app.kubernetes.io/instance: {{ .root.Release.Name | quote }}
app.kubernetes.io/component: {{ .role | quote }}
{{- end }}

{{/*
Labels of a role's objects. `llm-d.ai/role` follows llm-d's vocabulary so its inference scheduler can pick
prefill and decode pods (a standalone pod does both: `both`).
*/}}
{{- define "vllm.labels" -}}
{{ include "vllm.selectorLabels" . }}
helm.sh/chart: {{ include "vllm.chart" .root | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
llm-d.ai/inference-serving: "true"
llm-d.ai/role: {{ ternary "both" .role (eq .role "standalone") | quote }}
{{- end }}

{{/*
Labels of the release's shared objects (ConfigMaps, the model-cache claim, the ServiceAccount, ResourceClaimTemplates):
name, instance, manager and chart. Call with the chart's top scope.
*/}}
{{- define "vllm.commonLabels" -}}
app.kubernetes.io/name: {{ include "vllm.name" . | quote }}
app.kubernetes.io/instance: {{ .Release.Name | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ include "vllm.chart" . | quote }}
{{- end }}

{{/*
The labels the InferencePool selects pods by: every serving pod of this release (standalone, prefill, decode)
and nothing else; the endpoint picker's pod carries no `llm-d.ai/inference-serving` label.
*/}}
{{- define "vllm.poolSelectorLabels" -}}
app.kubernetes.io/name: {{ include "vllm.name" . | quote }}
app.kubernetes.io/instance: {{ .Release.Name | quote }}
llm-d.ai/inference-serving: "true"
{{- if and .Values.multinode (eq (default "all" .Values.groupServing) "leader") }}
{{- /* multi-node: only a group's leader serves; its workers run headless ranks */}}
leaderworkerset.sigs.k8s.io/worker-index: "0"
{{- end }}
{{- end }}

{{- define "vllm.eppSelectorLabels" -}}
app.kubernetes.io/name: {{ include "vllm.name" . | quote }}
app.kubernetes.io/instance: {{ .Release.Name | quote }}
app.kubernetes.io/component: endpoint-picker
{{- end }}

{{- define "vllm.eppLabels" -}}
{{ include "vllm.eppSelectorLabels" . }}
helm.sh/chart: {{ include "vllm.chart" . | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}

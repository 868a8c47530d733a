{{/* Object names, all within Kubernetes' 63-character limit. Helpers listed in _helpers.tpl. */}}

{{/*
The longest object name or label value Kubernetes accepts (RFC 1123 DNS label): a property of Kubernetes, not a
tunable, and the only length limit used below.
*/}}
{{- define "vllm.maxNameLength" -}}63{{- end }}

{{/* Chart name, or nameOverride. */}}
{{- define "vllm.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc (include "vllm.maxNameLength" . | int) | trimSuffix "-" }}
{{- end }}

{{/* RELEASE-CHART (or just RELEASE when it already contains the chart name), or fullnameOverride. */}}
{{- define "vllm.fullname" -}}
{{- $max := include "vllm.maxNameLength" . | int }}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc $max | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc $max | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc $max | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* FULLNAME-SUFFIX, the fullname cut so the suffix always survives. Call with (dict "root" $ "suffix" S). */}}
{{- define "vllm.suffixedName" -}}
{{- $room := sub (include "vllm.maxNameLength" .root | int) (add1 (len .suffix)) | int }}
{{- printf "%s-%s" (include "vllm.fullname" .root | trunc $room | trimSuffix "-") .suffix }}
{{- end }}

{{/* chart label value: NAME-VERSION. */}}
{{- define "vllm.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc (include "vllm.maxNameLength" . | int) | trimSuffix "-" }}
{{- end }}

{{/* The roles present in values, in a fixed order, as a JSON list (use: fromJsonArray). */}}
{{- define "vllm.roles" -}}
{{- $present := list }}
{{- range $role := list "standalone" "prefill" "decode" }}
{{- if index $.Values $role }}
{{- $present = append $present $role }}
{{- end }}
{{- end }}
{{- toJson $present }}
{{- end }}

{{/* Object name of a role: FULLNAME-ROLE. */}}
{{- define "vllm.roleName" -}}
{{- include "vllm.suffixedName" (dict "root" .root "suffix" .role) }}
{{- end }}

{{/* The ConfigMap holding the model spec. */}}
{{- define "vllm.specConfigMapName" -}}
{{- include "vllm.suffixedName" (dict "root" . "suffix" "spec") }}
{{- end }}

{{/* The spec as JSON sits beside supervisor.specPath under the same name with the extension `.json`. */}}
{{- define "vllm.specJsonName" -}}
{{- $name := base .Values.supervisor.specPath }}
{{- printf "%s.json" ($name | trimSuffix (ext $name)) }}
{{- end }}

{{/* The ConfigMap carrying the supervisor zipapp. */}}
{{- define "vllm.supervisorConfigMapName" -}}
{{- include "vllm.suffixedName" (dict "root" . "suffix" "supervisor") }}
{{- end }}

{{/* The model-cache claim created by modelCache.create. */}}
{{- define "vllm.modelCacheClaimName" -}}
{{- default (include "vllm.suffixedName" (dict "root" . "suffix" "model-cache")) .Values.modelCache.claimName }}
{{- end }}

{{/* ServiceAccount of the pods ("" = the namespace default). */}}
{{- define "vllm.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "vllm.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The ConfigMap holding Triton's model repository (templates/triton-configmap.yaml). */}}
{{- define "vllm.tritonConfigMapName" -}}
{{- include "vllm.suffixedName" (dict "root" . "suffix" "triton-models") }}
{{- end }}

{{/* The InferencePool: named after the release's model servers. */}}
{{- define "vllm.poolName" -}}
{{- include "vllm.fullname" . }}
{{- end }}

{{/* The endpoint picker's objects (Deployment, Service, ConfigMap, ServiceAccount, Role, RoleBinding). */}}
{{- define "vllm.eppName" -}}
{{- include "vllm.suffixedName" (dict "root" . "suffix" "epp") }}
{{- end }}

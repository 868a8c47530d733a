{{/* What renders: "true" or "" switches (use: eq (include ...) "true"), and the zipapp they gate. Helpers listed in _helpers.tpl. */}}

{{/* "true" when the InferencePool and its endpoint picker render, else "". */}}
{{- define "vllm.poolCreate" -}}
{{- if (default dict .Values.routing.inferencePool).create }}true{{ end }}
{{- end }}

{{/* "true" when this role's pods get the routing sidecar (decode only), else "". */}}
{{- define "vllm.proxyEnabled" -}}
{{- if and (eq .role "decode") .root.Values.routing.proxy.enabled }}true{{ end }}
{{- end }}

{{/*
"true" when the chart delivers the supervisor (supervised probes and supervisor.zipappPath set), else "": the
image's python3 runs the zipapp, so the official vLLM image needs nothing built.
*/}}
{{- define "vllm.mountSupervisor" -}}
{{- if and (eq .Values.probeMode "supervised") .Values.supervisor.zipappPath }}true{{ end }}
{{- end }}

{{/* The supervisor zipapp the chart carries (scripts/build_supervisor.py writes it); fails when it is missing. */}}
{{- define "vllm.supervisorZipapp" -}}
{{- $zipapp := .Files.Get "files/vllmgen.pyz" }}
{{- if not $zipapp }}
{{- fail "files/vllmgen.pyz is missing from the chart: build it with scripts/build_supervisor.py" }}
{{- end }}
{{- $zipapp }}
{{- end }}

{{/* "true" when the server is Triton with a generated model repository (`triton` block), else "". */}}
{{- define "vllm.triton" -}}
{{- if and (eq .Values.server "triton") .Values.triton }}true{{ end }}
{{- end }}

{{/*
"true" when the values carry the spec, else "". The supervisor reads it (supervised mode); in plain mode it is
mounted all the same, so every pod shows the spec it was generated from, and whatever the command reads finds it.
*/}}
{{- define "vllm.mountSpec" -}}
{{- if .Values.spec }}true{{ end }}
{{- end }}

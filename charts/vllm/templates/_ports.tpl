{{/* Ports of a role's pods. Helpers listed in _helpers.tpl. */}}

{{/* Name of the port the role's Service targets: `proxy` (the sidecar) on decode with the sidecar, else `vllm`. */}}
{{- define "vllm.servingPortName" -}}
{{- ternary "proxy" "vllm" (eq (include "vllm.proxyEnabled" .) "true") }}
{{- end }}

{{/* Number of the port the role's Service targets. */}}
{{- define "vllm.servingPort" -}}
{{- if eq (include "vllm.proxyEnabled" .) "true" }}
{{- .root.Values.routing.servicePort }}
{{- else }}
{{- .cfg.port }}
{{- end }}
{{- end }}

{{/*
A probe's port as a number: `vllm` -> the role's port, `health` -> the supervisor's, `proxy` -> the sidecar's,
a number -> itself. Call with (dict "root" $ "role" ROLE "cfg" CFG "port" PORT).
*/}}
{{- define "vllm.probePort" -}}
{{- $port := toString .port }}
{{- if eq $port "vllm" }}{{ .cfg.port }}
{{- else if eq $port "health" }}{{ .root.Values.supervisor.port }}
{{- else if eq $port "proxy" }}{{ .root.Values.routing.servicePort }}
{{- else }}{{ $port }}
{{- end }}
{{- end }}

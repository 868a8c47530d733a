{{/* The server container's parts, and the checks that refuse values which would break a pod. Helpers listed in _helpers.tpl. */}}

{{/*
Fail loudly on role values that would give a pod that can never work:
- a probe on the routing sidecar's port (its /health answers 200 without asking vLLM: llm-d-benchmark#1435);
- decode vLLM listening on the sidecar's own port;
- a LeaderWorkerSet whose data-parallel size is not workers x dataLocal;
- a role that serves on another port than the InferencePool's target port (routing.servicePort).
*/}}
{{- define "vllm.checkRole" -}}
{{- $root := .root }}
{{- $ctx := . }}
{{- if eq (include "vllm.proxyEnabled" .) "true" }}
{{- if eq (int .cfg.port) (int $root.Values.routing.servicePort) }}
{{- fail (printf "%s.port (%v) equals routing.servicePort: the routing sidecar listens there; vLLM must listen on routing.proxy.targetPort" .role .cfg.port) }}
{{- end }}
{{- range $kind, $probe := (default dict .cfg.probes) }}
{{- $action := default dict (default (default $probe.grpc $probe.tcpSocket) $probe.httpGet) }}
{{- if hasKey $action "port" }}
{{- $port := include "vllm.probePort" (dict "root" $root "role" $ctx.role "cfg" $ctx.cfg "port" $action.port) }}
{{- if eq $port (toString $root.Values.routing.servicePort) }}
{{- fail (printf "%s.probes.%s targets port %v, the routing sidecar's: it answers /health itself, so the probe would say nothing about vLLM. Probe the port `vllm` (%v) or `health`." $ctx.role $kind $action.port $ctx.cfg.port) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
{{- if eq (include "vllm.poolCreate" $root) "true" }}
{{- if ne (include "vllm.servingPort" .) (toString $root.Values.routing.servicePort) }}
{{- fail (printf "%s serves on port %v, but the InferencePool sends every pod it selects to routing.servicePort (%v): make them equal, or set routing.inferencePool.create false" .role (include "vllm.servingPort" .) $root.Values.routing.servicePort) }}
{{- end }}
{{- end }}
{{- if $root.Values.multinode }}
{{- $p := .cfg.parallelism }}
{{- if ne (int $p.data) (mul $p.dataLocal $p.workers | int) }}
{{- fail (printf "%s.parallelism: data (%v) must equal dataLocal (%v) x workers (%v) in a LeaderWorkerSet" .role $p.data $p.dataLocal $p.workers) }}
{{- end }}
{{- end }}
{{- end }}

{{/* The server container's securityContext: containerSecurityContext, plus IPC_LOCK only when the role asks for RDMA. */}}
{{- define "vllm.serverSecurityContext" -}}
{{- $sc := deepCopy (default dict .root.Values.containerSecurityContext) }}
{{- if .cfg.rdma }}
{{- $caps := default dict $sc.capabilities }}
{{- $_ := set $caps "add" (append (default list $caps.add) "IPC_LOCK" | uniq) }}
{{- $_ := set $sc "capabilities" $caps }}
{{- end }}
{{- toYaml $sc }}
{{- end }}

{{/* The server container's resources: the role's, plus the RDMA resource (requests = limits) when asked, plus
every DRA claim of the pod (resources.claims). */}}
{{- define "vllm.serverResources" -}}
{{- $res := deepCopy (default dict .cfg.resources) }}
{{- with (include "vllm.hatches" . | fromYaml).resourceClaims }}
{{- $claims := list }}
{{- range . }}{{ $claims = append $claims (dict "name" .name) }}{{ end }}
{{- $_ := set $res "claims" $claims }}
{{- end }}
{{- with .cfg.rdma }}
{{- range $side := list "limits" "requests" }}
{{- $list := default dict (index $res $side) }}
{{- if not (hasKey $list $.cfg.rdma.resource) }}
{{- $_ := set $list $.cfg.rdma.resource $.cfg.rdma.count }}
{{- end }}
{{- $_ := set $res $side $list }}
{{- end }}
{{- end }}
{{- toYaml $res }}
{{- end }}

{{/* The server container's env: Secret references first, then HOME and HF_HOME (unless the role's env or extraEnv sets them), then the role's env verbatim, then extraEnv. */}}
{{- define "vllm.serverEnv" -}}
{{- $extra := default list .root.Values.extraEnv }}
{{- $root := .root }}
{{- $names := list }}
{{- range (concat (default list .cfg.env) $extra) }}{{ $names = append $names .name }}{{ end }}
{{- with $root.Values.modelArtifacts.authSecretName }}
- name: HF_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ . | quote }}
      key: {{ $root.Values.modelArtifacts.authSecretKey | quote }}
{{- end }}
{{- with $root.Values.apiKey.secretName }}
- name: VLLM_API_KEY
  valueFrom:
    secretKeyRef:
      name: {{ . | quote }}
      key: {{ $root.Values.apiKey.secretKey | quote }}
{{- end }}
{{- if and $root.Values.homeDir (not (has "HOME" $names)) }}
- name: HOME
  value: {{ $root.Values.homeDir | quote }}
{{- end }}
{{- if and (hasPrefix "hf://" $root.Values.modelArtifacts.uri) (not (has "HF_HOME" $names)) }}
- name: HF_HOME
  value: {{ $root.Values.modelArtifacts.mountPath | quote }}
{{- end }}
{{- with .cfg.env }}
{{ toYaml . }}
{{- end }}
{{- with $extra }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
Arguments that tell the supervisor what this pod was rendered with: the port `vllm`, the port `health` and the
accelerators requested. `vllmgen serve` exits 2 naming the field when the mounted spec implies otherwise (values
edited after generation). A YAML list; empty unless the probes are supervised. Call with the podTemplate context.
*/}}
{{- define "vllm.podArgs" -}}
{{- $values := .root.Values }}
{{- $args := list }}
{{- if eq $values.probeMode "supervised" }}
{{- $args = list (printf "--pod-port=%v" .cfg.port) (printf "--pod-health-port=%v" $values.supervisor.port) }}
{{- $resource := $values.accelerator.resource }}
{{- if $resource }}
{{- $limits := default dict (default dict .cfg.resources).limits }}
{{- $args = append $args (printf "--pod-accelerators=%v" (index $limits $resource | default 0)) }}
{{- end }}
{{- end }}
{{- toYaml $args }}
{{- end }}

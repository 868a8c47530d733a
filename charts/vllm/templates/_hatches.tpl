{{/*
Escape hatches: what users add to the pods beyond what the spec renders (volumes, mounts, env, scheduling, labels,
DRA claims, extra containers and init containers). Each key exists at the top level (every role) and per role; a role's value is combined with the
top-level one: maps merged (the role's keys win), lists concatenated (top level first), single values and
`affinity` replaced. The values schema checks every key strictly (schemas/k8s.schema.json).

Declared helpers:
  vllm.hatches          the role's effective hatches as YAML (use: include ... | fromYaml); call with the
                        podTemplate context (dict "root" $ "role" ROLE "cfg" CFG)
  vllm.claimTemplateName  object name of a chart-rendered ResourceClaimTemplate: FULLNAME-NAME
*/}}

{{- define "vllm.claimTemplateName" -}}
{{- include "vllm.suffixedName" (dict "root" .root "suffix" .name) }}
{{- end }}

{{- define "vllm.hatches" -}}
{{- $v := .root.Values }}
{{- $c := .cfg }}
{{- $out := dict }}
{{- range $key := list "podLabels" "podAnnotations" "nodeSelector" }}
{{- $_ := set $out $key (merge (deepCopy (default dict (index $c $key))) (default dict (index $v $key))) }}
{{- end }}
{{- range $key := list "tolerations" "topologySpreadConstraints" "extraVolumes" "extraVolumeMounts" "extraEnvFrom" "resourceClaims" "extraContainers" "extraInitContainers" }}
{{- $_ := set $out $key (concat (default list (index $v $key)) (default list (index $c $key))) }}
{{- end }}
{{- range $key := list "affinity" "priorityClassName" "runtimeClassName" "schedulerName" }}
{{- $_ := set $out $key (default (index $v $key) (index $c $key)) }}
{{- end }}
{{- /* a claim naming one of the chart's ResourceClaimTemplates gets that object's full name */ -}}
{{- $claims := list }}
{{- range $claim := $out.resourceClaims }}
{{- $claim = deepCopy $claim }}
{{- if and $claim.resourceClaimTemplateName (hasKey (default dict $v.resourceClaimTemplates) $claim.resourceClaimTemplateName) }}
{{- $_ := set $claim "resourceClaimTemplateName" (include "vllm.claimTemplateName" (dict "root" $.root "name" $claim.resourceClaimTemplateName)) }}
{{- end }}
{{- $claims = append $claims $claim }}
{{- end }}
{{- $_ := set $out "resourceClaims" $claims }}
{{- /* extra containers: unique names, and the chart's container securityContext where they set none */ -}}
{{- $names := dict "vllm" true "routing-proxy" true }}
{{- range $key := list "extraInitContainers" "extraContainers" }}
{{- $list := list }}
{{- range $c := index $out $key }}
{{- if hasKey $names $c.name }}
{{- fail (printf "%s: container name %q is taken in the %s pods (the chart's vllm and routing-proxy, or another extra container)" $key $c.name $.role) }}
{{- end }}
{{- $_ := set $names $c.name true }}
{{- $list = append $list (merge (deepCopy $c) (dict "securityContext" $v.containerSecurityContext)) }}
{{- end }}
{{- $_ := set $out $key $list }}
{{- end }}
{{- toYaml $out }}
{{- end }}

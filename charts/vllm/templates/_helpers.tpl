{{/*
Helpers of the vllm chart, one file per concern. Every helper is prefixed `vllm.` so it cannot collide in an
umbrella chart.

Calling convention: per-role helpers take one dict,
  (dict "root" $ "role" "decode" "cfg" $.Values.decode)
where `root` is the chart's top scope, `role` one of standalone|prefill|decode and `cfg` that role's values.

Declared helpers, by file:
  _names.tpl
    vllm.maxNameLength                            Kubernetes' name length limit (63)
    vllm.name, vllm.fullname, vllm.chart          names (standard pair) and the chart label value
    vllm.suffixedName                             FULLNAME-SUFFIX within the length limit
    vllm.roles                                    JSON list of the roles present in values
    vllm.roleName                                 object name of a role: FULLNAME-ROLE
    vllm.specConfigMapName, vllm.serviceAccountName
    vllm.specJsonName                             file name of the spec as JSON, beside supervisor.specPath
    vllm.supervisorConfigMapName                  the ConfigMap that carries the supervisor zipapp
    vllm.modelCacheClaimName                      the model-cache claim created by modelCache.create
    vllm.tritonConfigMapName                      server triton: the model repository ConfigMap's name
    vllm.poolName, vllm.eppName                   the InferencePool's name / the endpoint picker's objects' name
  _labels.tpl
    vllm.labels, vllm.selectorLabels              labels of a role's objects / its pod selector
    vllm.commonLabels                             labels of the release's shared objects
    vllm.poolSelectorLabels                       the labels the InferencePool selects pods by
    vllm.eppLabels, vllm.eppSelectorLabels        the endpoint picker's labels / its pod selector
  _switches.tpl
    vllm.poolCreate                               "true" when the InferencePool and its endpoint picker render
    vllm.proxyEnabled                             "true" when the role gets the routing sidecar
    vllm.mountSupervisor, vllm.supervisorZipapp   "true" when the chart delivers the supervisor / its zipapp
    vllm.triton                                   "true" for server triton with a generated model repository
    vllm.mountSpec                                "true" when the pods mount the spec
  _ports.tpl
    vllm.servingPortName, vllm.servingPort        the port the role's Service targets
    vllm.probePort                                resolve a probe port (name or number) to a number
  _container.tpl
    vllm.checkRole                                fail on values that would break a pod (sidecar port probed, ...)
    vllm.serverSecurityContext, vllm.serverResources, vllm.serverEnv   the server container's parts
    vllm.podArgs                                  what the pod was rendered with, passed to the supervisor
  _pod.tpl
    vllm.podTemplate                              the pod template shared by Deployment and LeaderWorkerSet
  _autoscaling.tpl
    vllm.scaleTargetRef                           the workload an autoscaler scales (its scale subresource)
    vllm.metricQuery                              PromQL: the role's autoscaling metric summed over its pods
  _hatches.tpl
    vllm.hatches, vllm.claimTemplateName          escape hatches (its own header says more)
*/}}
<<<<<<< HEAD

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

{{/* "true" when the InferencePool and its endpoint picker render, else "". */}}
{{- define "vllm.poolCreate" -}}
{{- if (default dict .Values.routing.inferencePool).create }}true{{ end }}
{{- end }}

{{/* The InferencePool: named after the release's model servers. */}}
{{- define "vllm.poolName" -}}
{{- include "vllm.fullname" . }}
{{- end }}

{{/*
The labels the InferencePool selects pods by: every serving pod of this release (standalone, prefill, decode)
and nothing else; the endpoint picker's pod carries no `llm-d.ai/inference-serving` label.
*/}}
{{- define "vllm.poolSelectorLabels" -}}
app.kubernetes.io/name: {{ include "vllm.name" . | quote }}
app.kubernetes.io/instance: {{ .Release.Name | quote }}
llm-d.ai/inference-serving: "true"
{{- end }}

{{/* The endpoint picker's objects (Deployment, Service, ConfigMap, ServiceAccount, Role, RoleBinding). */}}
{{- define "vllm.eppName" -}}
{{- include "vllm.suffixedName" (dict "root" . "suffix" "epp") }}
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

{{/* "true" when this role's pods get the routing sidecar (decode only), else "". */}}
{{- define "vllm.proxyEnabled" -}}
{{- if and (eq .role "decode") .root.Values.routing.proxy.enabled }}true{{ end }}
{{- end }}

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

{{/* "true" when the server is Triton with a generated model repository (`triton` block), else "". */}}
{{- define "vllm.triton" -}}
{{- if and (eq .Values.server "triton") .Values.triton }}true{{ end }}
{{- end }}

{{/* The ConfigMap holding Triton's model repository (templates/triton-configmap.yaml). */}}
{{- define "vllm.tritonConfigMapName" -}}
{{- include "vllm.suffixedName" (dict "root" . "suffix" "triton-models") }}
{{- end }}

{{/*
"true" when the values carry the spec, else "". The supervisor reads it (supervised mode); in plain mode it is
mounted all the same, so every pod shows the spec it was generated from, and whatever the command reads finds it.
*/}}
{{- define "vllm.mountSpec" -}}
{{- if .Values.spec }}true{{ end }}
{{- end }}

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

{{/* The pod template (metadata + spec) of a role, shared by the Deployment and the LeaderWorkerSet. */}}
{{- define "vllm.podTemplate" -}}
{{- $root := .root }}
{{- $cfg := .cfg }}
{{- $values := $root.Values }}
{{- $art := $values.modelArtifacts }}
{{- $supervised := eq $values.probeMode "supervised" }}
{{- $mountSpec := eq (include "vllm.mountSpec" $root) "true" }}
{{- $mountSupervisor := eq (include "vllm.mountSupervisor" $root) "true" }}
{{- $triton := eq (include "vllm.triton" $root) "true" }}
{{- $hf := hasPrefix "hf://" $art.uri }}
{{- $pvc := and (hasPrefix "pvc://" $art.uri) $art.pvc.claimName }}
{{- $loras := default list $art.loras }}
{{- $h := include "vllm.hatches" . | fromYaml }}
{{- $caches := default dict $values.caches }}
{{- /* vLLM's caches: on the model-cache claim (the model volume itself when hf:// downloads go there), or on the
user's claim */}}
{{- $cacheVolume := "" }}
{{- if $caches.modelCache }}
{{- if not $values.modelCache.create }}
{{- fail "caches.modelCache needs modelCache.create: true (the claim the caches are kept on)" }}
{{- end }}
{{- $cacheVolume = ternary "model-storage" "caches" $hf }}
{{- else if $caches.claimName }}
{{- $cacheVolume = "caches" }}
{{- end -}}
metadata:
  labels:
    {{- include "vllm.labels" . | nindent 4 }}
    {{- with $h.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- if or $mountSpec $mountSupervisor $values.monitoring.scrapeAnnotations $h.podAnnotations }}
  annotations:
    {{- if $mountSpec }}
    checksum/spec: {{ toYaml $values.spec | sha256sum }}
    {{- end }}
    {{- if $mountSupervisor }}
    checksum/supervisor: {{ include "vllm.supervisorZipapp" $root | sha256sum | quote }}
    {{- end }}
    {{- if $values.monitoring.scrapeAnnotations }}
    prometheus.io/scrape: "true"
    prometheus.io/port: {{ (ternary (dig "metricsPort" 0 (default dict $values.triton)) $cfg.port $triton) | quote }}
    prometheus.io/path: {{ $values.monitoring.path | quote }}
    {{- end }}
    {{- with $h.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- end }}
spec:
  automountServiceAccountToken: false
  {{- with include "vllm.serviceAccountName" $root }}
  serviceAccountName: {{ . | quote }}
  {{- end }}
  {{- with $values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- if hasKey $cfg "terminationGracePeriodSeconds" }}
  terminationGracePeriodSeconds: {{ $cfg.terminationGracePeriodSeconds }}
  {{- end }}
  securityContext:
    {{- toYaml $values.podSecurityContext | nindent 4 }}
  {{- with $h.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $h.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $h.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $h.topologySpreadConstraints }}
  topologySpreadConstraints:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- range $key := list "priorityClassName" "runtimeClassName" "schedulerName" }}
  {{- with index $h $key }}
  {{ $key | quote }}: {{ . | quote }}
  {{- end }}
  {{- end }}
  {{- with $h.resourceClaims }}
  resourceClaims:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- if eq (include "vllm.proxyEnabled" .) "true" }}
  initContainers:
    # The llm-d routing sidecar as a native sidecar: started before vLLM and kept running beside it. It listens
    # on routing.servicePort and forwards to vLLM on the port `vllm`. No probes: its /health answers by itself.
    - name: routing-proxy
      image: {{ $values.routing.proxy.image | quote }}
      imagePullPolicy: {{ $values.routing.proxy.pullPolicy | quote }}
      restartPolicy: Always
      args:
        {{- toYaml $values.routing.proxy.args | nindent 8 }}
      ports:
        - name: proxy
          containerPort: {{ $values.routing.servicePort }}
          protocol: TCP
      resources:
        {{- toYaml (default dict $values.routing.proxy.resources) | nindent 8 }}
      securityContext:
        {{- toYaml $values.containerSecurityContext | nindent 8 }}
  {{- end }}
  containers:
    - name: vllm
      image: "{{ $values.image.repository }}:{{ $values.image.tag }}"
      imagePullPolicy: {{ $values.image.pullPolicy | quote }}
      {{- with $cfg.command }}
      command:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with concat (default list $cfg.args) (include "vllm.podArgs" . | fromYamlArray) }}
      args:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with include "vllm.serverEnv" . | trim }}
      env:
        {{- . | nindent 8 }}
      {{- end }}
      {{- with $h.extraEnvFrom }}
      envFrom:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      ports:
        - name: vllm
          containerPort: {{ $cfg.port }}
          protocol: TCP
        {{- if $supervised }}
        - name: health
          containerPort: {{ $values.supervisor.port }}
          protocol: TCP
        {{- end }}
        {{- if $triton }}
        - name: grpc
          containerPort: {{ $values.triton.grpcPort }}
          protocol: TCP
        - name: metrics
          containerPort: {{ $values.triton.metricsPort }}
          protocol: TCP
        {{- end }}
      resources:
        {{- include "vllm.serverResources" . | nindent 8 }}
      securityContext:
        {{- include "vllm.serverSecurityContext" . | nindent 8 }}
      {{- with $cfg.probes }}
      {{- with .startup }}
      startupProbe:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with .readiness }}
      readinessProbe:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with .liveness }}
      livenessProbe:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- end }}
      {{- if $cfg.preStopSleepSeconds }}
      lifecycle:
        preStop:
          sleep:
            seconds: {{ $cfg.preStopSleepSeconds }}
      {{- end }}
      {{- if or $hf $pvc $cfg.dshm $mountSpec $mountSupervisor $values.homeDir $triton $h.extraVolumeMounts $cacheVolume $loras }}
      volumeMounts:
        {{- if or $hf $pvc }}
        - name: model-storage
          mountPath: {{ $art.mountPath | quote }}
          {{- if $pvc }}
          # the claim's root: the model is at mountPath/pvc.subPath, the path vllmgen passes to vLLM
          readOnly: true
          {{- end }}
        {{- end }}
        {{- if $cfg.dshm }}
        - name: dshm
          mountPath: /dev/shm
        {{- end }}
        {{- if $mountSpec }}
        - name: spec
          mountPath: {{ dir $values.supervisor.specPath | quote }}
          readOnly: true
        {{- end }}
        {{- if $mountSupervisor }}
        - name: supervisor
          mountPath: {{ dir $values.supervisor.zipappPath | quote }}
          readOnly: true
        {{- end }}
        {{- with $values.homeDir }}
        - name: home
          mountPath: {{ . | quote }}
        {{- end }}
        {{- if $triton }}
        - name: triton-models
          mountPath: {{ $values.triton.modelRepository.mountPath | quote }}
          readOnly: true
        {{- end }}
        {{- with $cacheVolume }}
        - name: {{ . | quote }}
          mountPath: {{ $caches.mountPath | quote }}
          {{- with $caches.subPath }}
          subPath: {{ . | quote }}
          {{- end }}
        {{- end }}
        {{- range $i, $lora := $loras }}
        - name: lora-adapter-{{ $i }}
          mountPath: {{ $lora.mountPath | quote }}
          {{- with $lora.subPath }}
          subPath: {{ . | quote }}
          {{- end }}
          readOnly: true
        {{- end }}
        {{- with $h.extraVolumeMounts }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      {{- end }}
  {{- if or $hf $pvc $cfg.dshm $mountSpec $mountSupervisor $values.homeDir $triton $h.extraVolumes $cacheVolume $loras }}
  volumes:
    {{- if $pvc }}
    - name: model-storage
      persistentVolumeClaim:
        claimName: {{ $art.pvc.claimName | quote }}
        readOnly: true
    {{- else if and $hf $values.modelCache.create }}
    - name: model-storage
      persistentVolumeClaim:
        claimName: {{ include "vllm.modelCacheClaimName" $root | quote }}
    {{- else if $hf }}
    - name: model-storage
      emptyDir:
        {{- with $art.size }}
        sizeLimit: {{ . | quote }}
        {{- else }} {}
        {{- end }}
    {{- end }}
    {{- with $cfg.dshm }}
    - name: dshm
      emptyDir:
        medium: Memory
        sizeLimit: {{ .sizeLimit | quote }}
    {{- end }}
    {{- if $mountSpec }}
    - name: spec
      configMap:
        name: {{ include "vllm.specConfigMapName" $root | quote }}
        items:
          - key: spec.yaml
            path: {{ base $values.supervisor.specPath | quote }}
          - key: spec.json
            path: {{ include "vllm.specJsonName" $root | quote }}
    {{- end }}
    {{- if $mountSupervisor }}
    - name: supervisor
      configMap:
        name: {{ include "vllm.supervisorConfigMapName" $root | quote }}
        items:
          - key: vllmgen.pyz
            path: {{ base $values.supervisor.zipappPath | quote }}
    {{- end }}
    {{- if $values.homeDir }}
    - name: home
      emptyDir: {}
    {{- end }}
    {{- if $triton }}
    - name: triton-models
      configMap:
        name: {{ include "vllm.tritonConfigMapName" $root | quote }}
        items:
          {{- range $path, $_ := $values.triton.modelRepository.files }}
          - key: {{ $path | replace "/" "_" | quote }}
            path: {{ $path | quote }}
          {{- end }}
    {{- end }}
    {{- if eq $cacheVolume "caches" }}
    - name: caches
      persistentVolumeClaim:
        claimName: {{ ternary (include "vllm.modelCacheClaimName" $root) $caches.claimName (not (empty $caches.modelCache)) | quote }}
    {{- end }}
    {{- range $i, $lora := $loras }}
    - name: lora-adapter-{{ $i }}
      persistentVolumeClaim:
        claimName: {{ $lora.claimName | quote }}
        readOnly: true
    {{- end }}
    {{- with $h.extraVolumes }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- end }}
{{- end }}

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
=======
>>>>>>> main

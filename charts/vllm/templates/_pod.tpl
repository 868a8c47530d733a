{{/* The pod template of a role. Helpers listed in _helpers.tpl. */}}

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
  terminationGracePeriodSeconds: {{ $cfg.terminationGracePeriodSeconds | int64 }}
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
  {{- if or (eq (include "vllm.proxyEnabled" .) "true") $h.extraInitContainers }}
  initContainers:
    {{- with $h.extraInitContainers }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- end }}
  {{- if eq (include "vllm.proxyEnabled" .) "true" }}
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
          containerPort: {{ $values.routing.servicePort | int64 }}
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
          containerPort: {{ $cfg.port | int64 }}
          protocol: TCP
        {{- if $supervised }}
        - name: health
          containerPort: {{ $values.supervisor.port | int64 }}
          protocol: TCP
        {{- end }}
        {{- if $triton }}
        - name: grpc
          containerPort: {{ $values.triton.grpcPort | int64 }}
          protocol: TCP
        - name: metrics
          containerPort: {{ $values.triton.metricsPort | int64 }}
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
            seconds: {{ $cfg.preStopSleepSeconds | int64 }}
      {{- end }}
      {{- /* the volumes the chart itself mounts: written once, for volumeMounts and volumes */}}
      {{- $chartVolumes := or $hf $pvc $cfg.dshm $mountSpec $mountSupervisor $values.homeDir $triton $cacheVolume $loras }}
      {{- if or $chartVolumes $h.extraVolumeMounts }}
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
    {{- with $h.extraContainers }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- if or $chartVolumes $h.extraVolumes }}
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

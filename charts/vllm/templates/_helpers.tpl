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

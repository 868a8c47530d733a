"""Accelerators as Kubernetes extended resources, per vendor (the device plugins' resource names)."""

from __future__ import annotations

#: Vendor (the spec's `accelerator.type`) -> the extended resource its device plugin advertises.
RESOURCE_BY_VENDOR = {
    "nvidia": "nvidia.com/gpu",  # NVIDIA/k8s-device-plugin
    "amd": "amd.com/gpu",  # ROCm/k8s-device-plugin
    "intel-gaudi": "habana.ai/gaudi",  # HabanaAI habana-k8s-device-plugin
    "intel-gpu": "gpu.intel.com/i915",  # intel/intel-device-plugins-for-kubernetes (i915 driver)
    "intel-xe": "gpu.intel.com/xe",  # the same plugin, xe driver
    "google": "google.com/tpu",  # GKE TPU nodes
}

#: Accelerators vllmgen does not deploy on but meets in manifests: Huawei Ascend NPUs (vLLM-Ascend; the Ascend
#: device plugin, Ascend/ascend-device-plugin) and AWS Neuron (aws-neuron/neuron-helm-charts' device plugin).
OTHER_ACCELERATOR_RESOURCES = ("huawei.com/Ascend910", "huawei.com/Ascend310P", "huawei.com/Ascend310",
                               "aws.amazon.com/neuron", "aws.amazon.com/neuroncore")

#: Every extended resource that counts as an accelerator when reading manifests.
ACCELERATOR_RESOURCES = tuple(RESOURCE_BY_VENDOR.values()) + OTHER_ACCELERATOR_RESOURCES

#: llm-d-modelservice's accelerator types and the resources its chart requests for them (its `accelerator.type`,
#: charts/llm-d-modelservice/values.yaml in llm-d-incubation/llm-d-modelservice).
MODELSERVICE_RESOURCES = {
    "nvidia": "nvidia.com/gpu",
    "intel-i915": "gpu.intel.com/i915",
    "intel-xe": "gpu.intel.com/xe",
    "intel-gaudi": "habana.ai/gaudi",
    "amd": "amd.com/gpu",
    "google": "google.com/tpu",
}

#: Dynamic Resource Allocation: the device classes accelerator drivers publish (a ResourceClaimTemplate asking
#: for devices of these classes gives the pod accelerators instead of an extended resource). The same classes
#: llm-d-modelservice's `accelerator.resourceClaimTemplates` use.
DRA_DEVICE_CLASSES = frozenset({"gpu.nvidia.com", "gpu.amd.com", "gpu.intel.com", "gaudi.intel.com",
                                "tpu.google.com"})

#: Name of the DRA claim (and of the chart's ResourceClaimTemplate) through which pods get their accelerators when
#: the spec names a DeviceClass (`accelerator.deviceClassName`) instead of an extended resource.
DRA_CLAIM = "accelerators"

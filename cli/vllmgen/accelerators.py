"""Accelerators as Kubernetes extended resources, per vendor (the device plugins' resource names)."""

from __future__ import annotations

import re

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
#: Accelerators by their resource name's shape: NVIDIA's MIG slices (`nvidia.com/mig-3g.40gb`, the mixed strategy
#: of NVIDIA/k8s-device-plugin) and its shared GPUs (`nvidia.com/gpu.shared`, time-slicing with renameByDefault).
ACCELERATOR_SHAPE = re.compile(r"nvidia\.com/(mig-[0-9]+g\.[0-9]+gb(\.[a-z0-9+-]+)?|gpu\.shared)")
#: Extended resources that are never accelerators: network devices pods ask for beside them (RDMA, SR-IOV
#: virtual functions, host devices, NICs).
NOT_ACCELERATOR_SHAPE = re.compile(r"rdma/.*|.*(sriov|netdevice|hostdev|nic|vfio-net).*", re.IGNORECASE)


def is_native_resource(name: str) -> bool:
    """Kubernetes' own resource names (IsNativeResource in kubernetes/kubernetes pkg/apis/core/helper/helpers.go):
    no domain, or one in kubernetes.io. Any other `DOMAIN/NAME` is an extended resource."""
    return "/" not in name or "kubernetes.io/" in name


def is_accelerator(resource: str) -> bool:
    """A resource name that is an accelerator: a known one, or one of ACCELERATOR_SHAPE."""
    return resource in ACCELERATOR_RESOURCES or bool(ACCELERATOR_SHAPE.fullmatch(resource))


def may_be_accelerator(resource: str) -> bool:
    """An extended resource (`DOMAIN/NAME`) that may be an accelerator vllmgen does not know by name: a custom
    device plugin's (`example.com/gpu-80g`), not a network device's. `hugepages-2Mi` and the core resources have no
    domain."""
    return "/" in resource and not is_accelerator(resource) and not NOT_ACCELERATOR_SHAPE.fullmatch(resource)

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

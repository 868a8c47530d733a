"""`vllmgen lint`: values files and Kubernetes manifests checked the way a reviewer who knows vLLM would.

Modules: loader (files -> classified YAML documents), view (a normalized container under review),
rules (the rules: data + pure checks), schema_check (values schema, validator built once), suppress
(disable comments and flags), reporters (text, JSON, GitHub annotations), runner (one run, collected).
"""

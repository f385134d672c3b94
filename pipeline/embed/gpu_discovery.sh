#!/usr/bin/env bash
# Spark GPU discovery script (spark.executor.resource.gpu.discoveryScript): prints the GPUs this
# worker may use as Spark expects them, e.g. {"name": "gpu", "addresses": ["0", "1"]}.
# Addresses are CUDA ordinals as the executor's processes will see them: when a container runtime
# or scheduler has narrowed CUDA_VISIBLE_DEVICES (to "2,3" or to GPU UUIDs), the visible devices
# are numbered 0..n-1, so that is what is reported.
set -euo pipefail
if [[ -n "${CUDA_VISIBLE_DEVICES:-}" ]]; then
  count=$(tr ',' '\n' <<<"$CUDA_VISIBLE_DEVICES" | sed '/^ *$/d' | wc -l)
  ids=$(seq 0 $((count - 1)))
else
  ids=$(nvidia-smi --query-gpu=index --format=csv,noheader 2>/dev/null || true)
fi
addresses=$(sed -e 's/^ *//' -e '/^$/d' -e 's/.*/"&"/' <<<"$ids" | paste -sd, -)
echo "{\"name\": \"gpu\", \"addresses\": [${addresses}]}"

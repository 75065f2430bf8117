#!/usr/bin/env bash
# Runs a benchmark program that measures rmx against its peer in the same run.
#   scripts/bench.sh cpu         rmx vs NumPy on this CPU -> target/bench/cpu_vs_numpy.json
#   scripts/bench.sh transforms  transforms vs their baselines -> target/bench/transforms.json
#   scripts/bench.sh nn_quant    quantized matvec vs memcpy, safetensors load, MLP training
#                                step vs NumPy                  -> target/bench/nn_quant.json
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-cpu}" in
  cpu)
    python3 -c "import numpy" 2>/dev/null || pip install --quiet numpy threadpoolctl
    cargo bench -p rmx --bench cpu_vs_numpy -- "${@:2}"
    ;;
  transforms)
    python3 -c "import numpy" 2>/dev/null || pip install --quiet numpy threadpoolctl
    cargo bench -p rmx --bench transforms
    ;;
  nn_quant)
    python3 -c "import numpy" 2>/dev/null || pip install --quiet numpy threadpoolctl
    cargo bench -p rmx-nn --bench nn_quant
    ;;
  *)
    echo "usage: scripts/bench.sh cpu [case-filter] | transforms | nn_quant" >&2
    exit 2
    ;;
esac

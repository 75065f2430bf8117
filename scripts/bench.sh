#!/usr/bin/env bash
# Runs a benchmark program that measures rmx against its peer in the same run.
#   scripts/bench.sh cpu         rmx vs NumPy on this CPU -> target/bench/cpu_vs_numpy.json
#   scripts/bench.sh transforms  transforms vs their baselines -> target/bench/transforms.json
#   scripts/bench.sh nn_quant [filter]  quantized matvec vs memcpy, safetensors load, MLP training
#                                step vs NumPy                  -> target/bench/nn_quant.json
#   scripts/bench.sh lm_cpu      rmx-lm vs llama.cpp, Qwen3-0.6B shape at bf16/q8/q4,
#                                prompt 512 and decode 128      -> target/bench/lm_cpu.json
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
    cargo bench -p rmx-nn --bench nn_quant -- "${@:2}"
    ;;
  lm_cpu)
    python3 -c "import llama_cpp, gguf" 2>/dev/null || pip install --quiet llama-cpp-python gguf numpy
    cargo build --release -p rmx-lm --bins
    python3 scripts/bench_lm_cpu.py
    ;;
  *)
    echo "usage: scripts/bench.sh cpu [case-filter] | transforms | nn_quant | lm_cpu" >&2
    exit 2
    ;;
esac

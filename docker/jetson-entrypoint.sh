#!/bin/sh
# Entrypoint of the Jetson image: build (or load) the TensorRT engines, then serve.
#
# TensorRT engines are specific to the device, JetPack and onnxruntime version, so they cannot ship in
# the image. Before `serve`, `securemed build-engines` builds them into the engine cache on the state
# volume (many minutes the first time on a Jetson), or finds them there and only loads them (seconds).
# Building first keeps the build out of the first study's latency and makes a device without
# TensorRT fail here, loudly, instead of serving on the CPU. Any other command runs as given.
#
# With `serve --config FILE` the build reads the same file (`build-engines --config FILE`): bundle,
# precision, engine cache (`[model] engine_cache_dir`, required) and profile limits are then the
# ones `serve` uses, so it never finds engines for other profiles. Without --config, the
# environment names them (defaults in brackets):
#   SECUREMED_BUNDLE        [/opt/securemed/models/demo-cxr]
#   SECUREMED_ENGINE_CACHE  [/var/lib/securemed/trt-engines]
#   SECUREMED_PRECISION     [fp32]   fp32 (TensorRT picks fp16 kernels) or fp16 (an fp16 bundle variant)
#   SECUREMED_SKIP_ENGINE_BUILD=1    serve without the build step (engines are then built on first use)
set -eu

if [ "${1:-}" = "serve" ] && [ "${SECUREMED_SKIP_ENGINE_BUILD:-0}" != "1" ]; then
    if [ "${2:-}" = "--config" ] && [ -n "${3:-}" ]; then
        securemed build-engines --config "$3"
    else
        securemed build-engines \
            --bundle "${SECUREMED_BUNDLE:-/opt/securemed/models/demo-cxr}" \
            --cache "${SECUREMED_ENGINE_CACHE:-/var/lib/securemed/trt-engines}" \
            --precision "${SECUREMED_PRECISION:-fp32}"
    fi
fi
exec securemed "$@"

"""Generated protobuf/gRPC code for proto/securemed/v1 (do not edit; run tools/gen_protos.py)."""

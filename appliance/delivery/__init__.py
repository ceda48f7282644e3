"""Delivery of sealed reports to clinicians over gRPC with mutual TLS 1.3.

Modules: `store` (durable SQLite envelope store), `server` (the ReportDelivery
gRPC service and health service), `client` (the clinician-side library),
`pki` (development CA and certificates), `tlspolicy` (how TLS 1.2 is refused),
`codec` (Envelope <-> protobuf), `pb` (generated code; tools/gen_protos.py).

Importing this package configures gRPC's process-wide TLS 1.2 cipher list
(see `tlspolicy`); that only works if it happens before anything imports
`grpc`, which is why `tlspolicy` is imported first here.
"""

from . import tlspolicy as _tlspolicy  # noqa: F401  (must run before the first `import grpc`)

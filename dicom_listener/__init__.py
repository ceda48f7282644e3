"""DICOM C-ECHO / C-STORE service class provider that stores instances durably for the pipeline.

The lowest layer of the appliance: it imports nothing from appliance/, runtime/, export/ or
training/. A hospital PACS sends studies; each instance is validated structurally (never
decoded), written durably under spool_dir/incoming/<study>/<sop>.dcm and only then acknowledged.
A C-STORE data set is written to its spool temp file while it arrives (guard.py, stream.py,
spool/receiving.py), never assembled in memory, and parsed in place from that file.
The pipeline polls Spool.ready_studies() and takes a study with Spool.claim().

    settings = ListenerSettings(ae_title="SECUREMED", allowed_calling_aets=frozenset({"PACS"}),
                                spool_dir=Path("/var/lib/securemed/spool"))
    server, port = create_server(settings, ("0.0.0.0", 11112), admission=None)
    server.counters   # {"association_limit": 3, "refused:MalformedDataset": 1, ...}
    ...
    server.shutdown(grace_s=10)
"""

from common.tls import TLSFiles
from dicom_listener.contexts import STORAGE_TRANSFER_SYNTAXES, supported_contexts
from dicom_listener.errors import (
    CodestreamMismatch,
    IdentifierMismatch,
    InvalidIdentifier,
    LimitExceeded,
    ListenerConfigError,
    ListenerError,
    MalformedDataset,
    MissingIdentifier,
    SOPClassMismatch,
    SpoolError,
    SpoolWriteError,
    StudyAlreadyClaimed,
    StudyNotFound,
    UnparseableInstance,
)
from dicom_listener.handlers import StorePolicy, handle_echo, handle_store
from dicom_listener.identity import (
    ImageHeader,
    InstanceIdentity,
    ParsedInstance,
    is_valid_uid,
    parse_identity,
    parse_instance,
)
from dicom_listener.image_limits import check_image
from dicom_listener.limits import Admission, Counters
from dicom_listener.server import ListenerServer, build_ssl_context, create_server
from dicom_listener.settings import ListenerSettings
from dicom_listener.spool import (
    ClaimedStudy,
    QuarantineRecord,
    ReadyStudy,
    Spool,
    StoreOutcome,
    StoreResult,
)

__all__ = [
    "STORAGE_TRANSFER_SYNTAXES",
    "Admission",
    "ClaimedStudy",
    "CodestreamMismatch",
    "Counters",
    "ImageHeader",
    "LimitExceeded",
    "ParsedInstance",
    "StorePolicy",
    "check_image",
    "parse_instance",
    "IdentifierMismatch",
    "InstanceIdentity",
    "InvalidIdentifier",
    "ListenerError",
    "ListenerServer",
    "ListenerSettings",
    "MalformedDataset",
    "MissingIdentifier",
    "QuarantineRecord",
    "ReadyStudy",
    "SOPClassMismatch",
    "ListenerConfigError",
    "Spool",
    "SpoolError",
    "SpoolWriteError",
    "StoreOutcome",
    "StoreResult",
    "StudyAlreadyClaimed",
    "StudyNotFound",
    "TLSFiles",
    "UnparseableInstance",
    "build_ssl_context",
    "create_server",
    "handle_echo",
    "handle_store",
    "is_valid_uid",
    "parse_identity",
    "supported_contexts",
]

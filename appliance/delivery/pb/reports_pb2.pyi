from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Envelope(_message.Message):
    __slots__ = ("format_version", "report_id", "recipient_id", "study_pseudonym", "bundle_id", "created_at", "key_id", "ciphertext", "signature")
    FORMAT_VERSION_FIELD_NUMBER: _ClassVar[int]
    REPORT_ID_FIELD_NUMBER: _ClassVar[int]
    RECIPIENT_ID_FIELD_NUMBER: _ClassVar[int]
    STUDY_PSEUDONYM_FIELD_NUMBER: _ClassVar[int]
    BUNDLE_ID_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    CIPHERTEXT_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    format_version: int
    report_id: str
    recipient_id: str
    study_pseudonym: str
    bundle_id: str
    created_at: str
    key_id: str
    ciphertext: bytes
    signature: bytes
    def __init__(self, format_version: _Optional[int] = ..., report_id: _Optional[str] = ..., recipient_id: _Optional[str] = ..., study_pseudonym: _Optional[str] = ..., bundle_id: _Optional[str] = ..., created_at: _Optional[str] = ..., key_id: _Optional[str] = ..., ciphertext: _Optional[bytes] = ..., signature: _Optional[bytes] = ...) -> None: ...

class ListReportsRequest(_message.Message):
    __slots__ = ("include_acked", "page_size", "page_token")
    INCLUDE_ACKED_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    include_acked: bool
    page_size: int
    page_token: str
    def __init__(self, include_acked: _Optional[bool] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ReportEntry(_message.Message):
    __slots__ = ("envelope", "acked", "acked_at")
    ENVELOPE_FIELD_NUMBER: _ClassVar[int]
    ACKED_FIELD_NUMBER: _ClassVar[int]
    ACKED_AT_FIELD_NUMBER: _ClassVar[int]
    envelope: Envelope
    acked: bool
    acked_at: str
    def __init__(self, envelope: _Optional[_Union[Envelope, _Mapping]] = ..., acked: _Optional[bool] = ..., acked_at: _Optional[str] = ...) -> None: ...

class ListReportsResponse(_message.Message):
    __slots__ = ("reports", "next_page_token")
    REPORTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    reports: _containers.RepeatedCompositeFieldContainer[ReportEntry]
    next_page_token: str
    def __init__(self, reports: _Optional[_Iterable[_Union[ReportEntry, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetReportRequest(_message.Message):
    __slots__ = ("report_id",)
    REPORT_ID_FIELD_NUMBER: _ClassVar[int]
    report_id: str
    def __init__(self, report_id: _Optional[str] = ...) -> None: ...

class AckReportRequest(_message.Message):
    __slots__ = ("report_id",)
    REPORT_ID_FIELD_NUMBER: _ClassVar[int]
    report_id: str
    def __init__(self, report_id: _Optional[str] = ...) -> None: ...

class AckReportResponse(_message.Message):
    __slots__ = ("report_id", "acked_at")
    REPORT_ID_FIELD_NUMBER: _ClassVar[int]
    ACKED_AT_FIELD_NUMBER: _ClassVar[int]
    report_id: str
    acked_at: str
    def __init__(self, report_id: _Optional[str] = ..., acked_at: _Optional[str] = ...) -> None: ...

class WatchReportsRequest(_message.Message):
    __slots__ = ("include_unacked",)
    INCLUDE_UNACKED_FIELD_NUMBER: _ClassVar[int]
    include_unacked: bool
    def __init__(self, include_unacked: _Optional[bool] = ...) -> None: ...

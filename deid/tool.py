"""`securemed deid INPUT OUTPUT`: the de-identification component as a stand-alone tool.

INPUT is a DICOM file or a directory tree. Every instance goes through the header engine (PS3.15
Table E.1-1 with the configured options), the free-text redactor when Clean Descriptors / Clean
Structured Content is on, and Clean Pixel Data when that option is on. Output files keep the input's
relative layout, or are named by their new SOP Instance UID with `rename=True` (input names may carry
patient data). A file that cannot be de-identified safely is not written; it is listed in the
summary with its reason. The summary holds paths, new UIDs, action counts and reasons, never PHI.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError

from deid.errors import DeidError, UnsafeToDeidentify
from deid.header.engine import Deidentifier
from deid.header.method import PENDING_CLEAN_PIXEL_DATA, PENDING_EMBEDDED_OVERLAY, DeidResult, mark_option_applied
from deid.indication import Indication, clean_indication, find_indication
from deid.mapping import MappingStore
from deid.options import DeidOptions
from deid.pixels.settings import PixelCleanSettings

if TYPE_CHECKING:  # loaded only when the options ask for them (Presidio and spaCy take seconds)
    from deid.pixels.cleaner import PixelCleaner
    from deid.text.redactor import TextRedactor

PIXEL_WORK = frozenset({PENDING_CLEAN_PIXEL_DATA, PENDING_EMBEDDED_OVERLAY})


@dataclass
class Summary:
    written: list[dict[str, Any]] = field(default_factory=list)
    refused: list[dict[str, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "written": self.written,
            "refused": self.refused,
            "counts": {"written": len(self.written), "refused": len(self.refused)},
        }


def _inputs(source: Path) -> Iterator[tuple[Path, Path]]:
    """(file, path relative to the input root)."""
    if source.is_file():
        yield source, Path(source.name)
        return
    for path in sorted(p for p in source.rglob("*") if p.is_file()):
        yield path, path.relative_to(source)


class DeidTool:
    """Header engine, then free-text cleaning and Clean Pixel Data as the options ask: the one
    implementation used by `securemed deid` and by the appliance's anonymize stage.

    With a `mapping` store, `deidentify` stores each instance's re-identification record there
    (encrypted); nothing else in the project writes re-identification records.
    """

    def __init__(
        self,
        options: DeidOptions,
        secret: bytes,
        *,
        pixels: PixelCleanSettings | None = None,
        mapping: MappingStore | None = None,
    ) -> None:
        self.options = options
        self.secret = secret
        self.mapping = mapping
        self._engine = Deidentifier(options, secret)
        self._redactor: TextRedactor | None = None
        self._pixels: PixelCleaner | None = None
        if options.clean_descriptors or options.clean_structured_content:
            from deid.text.redactor import TextRedactor

            self._redactor = TextRedactor()  # builds Presidio once (a few seconds)
        if options.clean_pixel_data:
            from deid.pixels.cleaner import PixelCleaner

            self._pixels = PixelCleaner(pixels or PixelCleanSettings())
            self._pixels.check_ocr()  # fail at start-up, not on the first study

    def deidentify(self, ds: Dataset) -> DeidResult:
        """The finished de-identification of one instance: `result.dataset` is safe to release and
        `result.pending` is empty. The input is not modified. The record goes to the mapping store.

        Raises UnsafeToDeidentify when the instance cannot be made safe (declared burned-in text that
        OCR cannot locate, pixel work left pending, pixel data it cannot clean) and DeidError for
        other failures; nothing is stored then.
        """
        engine = self._engine
        if self._redactor is not None:
            from deid.text.context import StudyContext

            # The deny-list comes from this instance's own header (names, IDs, dates).
            cleaner = self._redactor.text_cleaner(StudyContext.from_dataset(ds))
            engine = Deidentifier(self.options, self.secret, text_cleaner=cleaner)
        result = engine.deidentify(ds)
        dataset, pending = result.dataset, set(result.pending)
        if pending & PIXEL_WORK and self._pixels is not None:
            cleaned = self._pixels.clean(dataset, keep_laterality_markers=self.options.keep_laterality_markers)
            if cleaned.burned_in_not_found:
                raise UnsafeToDeidentify("BurnedInAnnotation is YES but no burned-in text was located")
            dataset = cleaned.dataset
            if cleaned.text_searched:
                mark_option_applied(dataset, "clean_pixel_data")
            # else the site trusts this device's Burned In Annotation NO: no text was searched, so the
            # output must not claim the Clean Pixel Data option (overlays and unused bits are done).
            pending -= PIXEL_WORK
        if pending:
            raise UnsafeToDeidentify(f"de-identification incomplete: {', '.join(sorted(pending))}")
        if self.mapping is not None:
            self.mapping.put(result.record)
        return replace(result, dataset=dataset, pending=frozenset())

    def indication(self, ds: Dataset) -> Indication:
        """The clinical indication of the ORIGINAL instance `ds` (deid.indication: the sources in
        order), cleaned like the descriptors: the tool's TextRedactor with this instance's own
        deny-list. Without a redactor (Clean Descriptors and Clean Structured Content both off) the
        raw text is never used: status "uncleanable". `ds` is not modified."""
        found = find_indication(ds)
        if found is None or self._redactor is None:
            return clean_indication(found, None)
        from deid.text.context import StudyContext

        return clean_indication(found, self._redactor.text_cleaner(StudyContext.from_dataset(ds)))

    def run(self, source: Path, target: Path, *, rename: bool = False) -> Summary:
        summary = Summary()
        for path, relative in _inputs(source):
            try:
                ds = dcmread(path)
            except (OSError, InvalidDicomError) as exc:
                summary.refused.append(
                    {"input": str(relative), "reason": f"not readable as DICOM ({type(exc).__name__})"}
                )
                continue
            try:
                result = self.deidentify(ds)
            except DeidError as exc:
                summary.refused.append({"input": str(relative), "reason": f"{type(exc).__name__}: {exc}"})
                continue
            out = target / (f"{result.record.new_sop_instance_uid}.dcm" if rename else relative)
            out.parent.mkdir(parents=True, exist_ok=True)
            result.dataset.save_as(out, enforce_file_format=True)
            counts = result.summary()["action_counts"]
            summary.written.append(
                {
                    "input": str(relative),
                    "output": str(out.relative_to(target)),
                    "new_sop_instance_uid": result.record.new_sop_instance_uid,
                    "action_counts": counts,
                }
            )
        return summary

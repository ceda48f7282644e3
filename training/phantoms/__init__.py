"""Procedural chest radiograph phantoms, written as real DICOM files with matching reports.

No real patient data can be used, so the project trains and demonstrates on phantoms: a PA chest
radiograph drawn from a StudyFindings (body, lungs with vascular markings, mediastinum, heart,
spine, ribs, clavicles, diaphragm, and the findings and devices), wrapped in a CR or DX
DICOM dataset with realistic headers, plus the ground-truth report.

Conventions:
- `render_radiograph` returns float32 attenuation in [0, 1], 1 = dense (white on MONOCHROME2).
- The patient's right is on the image's left (standard PA display).
- Anatomy is laid out in a unit square centred in the image (the square of side
  min(rows, cols)), so a resize-shortest-side + centre-crop keeps all of it. The square spans
  PHANTOM_FIELD_MM of patient, which sets nodule sizes and ImagerPixelSpacing.
- Everything is a pure function of its seed: the same seed gives a byte-identical file.

Modules: `base` (constants, errors), `drawing` (resampling, random fields, strokes), `anatomy`
(image frame, lungs, heart, sampled anatomy), `canvas` (working layers, normal anatomy), `lesions`
(findings), `devices` (lines, tubes, pacemakers), `radiograph` (render_radiograph), `dicom`
(Phantom, make_phantom), `manifest` (sets and their manifests). Import from this package.

Pure numpy + pydicom; no torch.
"""

from training.phantoms.base import (
    BITS_STORED,
    CR_IMAGE_STORAGE,
    DX_IMAGE_STORAGE_FOR_PRESENTATION,
    MANIFEST_KEYS,
    MANIFEST_NAME,
    MODALITIES,
    PHANTOM_FIELD_MM,
    PHOTOMETRICS,
    SIZES,
    ManifestError,
    PhantomError,
)
from training.phantoms.dicom import Phantom, make_phantom
from training.phantoms.manifest import (
    iter_phantoms,
    load_phantom_manifest,
    manifest_entry,
    phantom_seed,
    write_phantom_set,
)
from training.phantoms.radiograph import render_radiograph

__all__ = [
    "BITS_STORED",
    "CR_IMAGE_STORAGE",
    "DX_IMAGE_STORAGE_FOR_PRESENTATION",
    "MANIFEST_KEYS",
    "MANIFEST_NAME",
    "MODALITIES",
    "PHANTOM_FIELD_MM",
    "PHOTOMETRICS",
    "SIZES",
    "ManifestError",
    "Phantom",
    "PhantomError",
    "iter_phantoms",
    "load_phantom_manifest",
    "make_phantom",
    "manifest_entry",
    "phantom_seed",
    "render_radiograph",
    "write_phantom_set",
]

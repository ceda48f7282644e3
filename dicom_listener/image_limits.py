"""Decoder-bomb checks on a received image, from its header alone (nothing is decoded).

    check_image(image, transfer_syntax_uid, max_pixel_bytes)

raises LimitExceeded when Rows x Columns x Number of Frames x Samples per Pixel x bytes per
sample (Bits Allocated rounded up to bytes) exceeds max_pixel_bytes, and CodestreamMismatch when
the first frame of encapsulated JPEG / JPEG-LS / JPEG 2000 pixel data has a codestream header that
is missing, garbled or disagrees with the data set (common.codestream.codestream_problem; the
pipeline calls the same function before decoding), or when the transfer syntax lies about the
encoding (native syntax with encapsulated Pixel Data, compressed syntax with native Pixel Data). A missing attribute defaults as PS3.3 does
(1 frame, 1 sample); an image without Rows or Columns is left to the pipeline.
"""

from __future__ import annotations

from common.codestream import CHECKED_TRANSFER_SYNTAXES, codestream_problem
from dicom_listener.errors import CodestreamMismatch, LimitExceeded
from dicom_listener.identity import ImageHeader

NATIVE_TRANSFER_SYNTAXES = frozenset({"1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.1.99"})
RLE_LOSSLESS = "1.2.840.10008.1.2.5"


def decoded_bytes(image: ImageHeader) -> int | None:
    """What decoding all frames takes, per the header; None without Rows/Columns."""
    if image.rows is None or image.columns is None:
        return None
    frames = image.number_of_frames if image.number_of_frames is not None else 1
    samples = image.samples_per_pixel if image.samples_per_pixel is not None else 1
    bits = image.bits_allocated if image.bits_allocated is not None else 16
    return image.rows * image.columns * max(frames, 1) * max(samples, 1) * max(1, (bits + 7) // 8)


def check_image(image: ImageHeader | None, transfer_syntax_uid: str, max_pixel_bytes: int) -> None:
    """Raise LimitExceeded or CodestreamMismatch (see the module docstring); None passes."""
    if image is None:
        return
    size = decoded_bytes(image)
    if size is not None and size > max_pixel_bytes:
        raise LimitExceeded(f"image decodes to {size} bytes, over the {max_pixel_bytes} byte limit")
    # A transfer syntax that lies about the encoding sends decoders down the wrong path.
    if image.encapsulated and transfer_syntax_uid in NATIVE_TRANSFER_SYNTAXES:
        raise CodestreamMismatch("native transfer syntax but encapsulated Pixel Data")
    compressed = transfer_syntax_uid in CHECKED_TRANSFER_SYNTAXES or transfer_syntax_uid == RLE_LOSSLESS
    if compressed and not image.encapsulated:
        raise CodestreamMismatch("compressed transfer syntax but Pixel Data is not encapsulated")
    if transfer_syntax_uid not in CHECKED_TRANSFER_SYNTAXES:
        return
    if image.rows is None or image.columns is None:
        return
    if image.first_fragment is None:
        raise CodestreamMismatch("encapsulated pixel data has no frame fragment")
    problem = codestream_problem(
        transfer_syntax_uid,
        image.first_fragment,
        image.rows,
        image.columns,
        image.samples_per_pixel if image.samples_per_pixel is not None else 1,
        image.bits_stored if image.bits_stored is not None else (image.bits_allocated or 8),
    )
    if problem is not None:
        raise CodestreamMismatch(problem)

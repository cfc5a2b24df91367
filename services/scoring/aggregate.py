"""A rendition's figures from its chunks' figures. Pure.

A rung encoded in chunks is scored chunk by chunk (each against its own range of the
source); the rendition's VMAF, PSNR and SSIM are the means over every scored frame, i.e.
each chunk's mean weighted by the frames it scored. For VMAF and SSIM, which libvmaf and
ffmpeg average per frame, that is exactly the whole-rung figure; PSNR's average is taken
the same way (the mean of per-chunk averages, weighted), a fraction of a dB from ffmpeg's
whole-file figure.
"""

from __future__ import annotations

from collections.abc import Sequence

from schemas.events import ChunkQuality, Quality


def spans(boundaries: Sequence[float]) -> list[tuple[int, float, float]]:
    """(index, start, end) of each chunk from its edges (0, c1, ..., duration)."""
    return [(i, a, b) for i, (a, b) in enumerate(zip(boundaries, boundaries[1:], strict=False))]


def _weighted(values: Sequence[tuple[float | None, int]]) -> float | None:
    known = [(v, n) for v, n in values if v is not None and n > 0]
    frames = sum(n for _, n in known)
    if not frames:
        return None
    return sum(v * n for v, n in known) / frames


def combine(chunks: Sequence[ChunkQuality], vmaf_floor: float) -> Quality:
    """The rendition's `Quality` from its chunks' figures (frame-weighted means)."""
    vmaf = _weighted([(c.vmaf, c.frames_scored) for c in chunks])
    psnr = _weighted([(c.psnr, c.frames_scored) for c in chunks])
    ssim = _weighted([(c.ssim, c.frames_scored) for c in chunks])
    return Quality(vmaf=None if vmaf is None else round(vmaf, 3),
                   psnr=None if psnr is None else round(psnr, 3),
                   ssim=None if ssim is None else round(ssim, 6),
                   vmaf_floor=vmaf_floor,
                   below_floor=vmaf is not None and vmaf < vmaf_floor,
                   frames_scored=sum(c.frames_scored for c in chunks))

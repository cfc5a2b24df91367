"""A chunked rung's figures: frame-weighted means of its chunks' figures."""

import pytest

from schemas.events import ChunkQuality
from services.scoring.aggregate import combine, spans


def chunk(index: int, vmaf: float | None, psnr: float | None, ssim: float | None,
          frames: int) -> ChunkQuality:
    return ChunkQuality(index=index, start_seconds=index * 8.0, end_seconds=index * 8.0 + 8,
                        vmaf=vmaf, psnr=psnr, ssim=ssim, frames_scored=frames)


def test_spans_pair_consecutive_edges():
    assert spans([0.0, 8.0, 16.0, 20.5]) == [(0, 0.0, 8.0), (1, 8.0, 16.0), (2, 16.0, 20.5)]
    assert spans([0.0, 12.0]) == [(0, 0.0, 12.0)]
    assert spans([]) == []


def test_the_rendition_figure_is_the_mean_over_every_scored_frame():
    # 3 frames at 90 and 1 frame at 70: per-frame mean (90*3 + 70) / 4 = 85, not (90+70)/2.
    quality = combine([chunk(0, 90.0, 40.0, 0.99, 3), chunk(1, 70.0, 30.0, 0.95, 1)], 80.0)
    assert quality.vmaf == 85.0
    assert quality.psnr == 37.5 and quality.ssim == pytest.approx(0.98)
    assert quality.frames_scored == 4 and quality.vmaf_floor == 80.0
    assert quality.below_floor is False


def test_below_floor_is_judged_on_the_aggregate_not_on_one_chunk():
    assert combine([chunk(0, 95.0, 45.0, 0.99, 10), chunk(1, 79.0, 35.0, 0.9, 1)],
                   80.0).below_floor is False
    assert combine([chunk(0, 81.0, 45.0, 0.99, 1), chunk(1, 70.0, 35.0, 0.9, 10)],
                   80.0).below_floor is True


def test_a_chunk_without_a_figure_does_not_count_for_that_figure():
    quality = combine([chunk(0, 90.0, None, 0.99, 2), chunk(1, 80.0, 30.0, 0.97, 2)], 50.0)
    assert quality.vmaf == 85.0 and quality.psnr == 30.0
    assert combine([], 50.0).vmaf is None and combine([], 50.0).below_floor is False

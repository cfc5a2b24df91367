"""The gauges: names, labels, and zeros (not absent series) when nothing happened."""

from prometheus_client import CollectorRegistry, generate_latest

from services.figures.export import FiguresCollector
from services.figures.figures import Slice, summary


def scrape(shown):
    registry = CollectorRegistry()
    registry.register(FiguresCollector(lambda: shown))
    return generate_latest(registry).decode()


def test_the_shown_windows_become_gauges_per_window_and_tenant():
    figures = summary(Slice(accepted=3, ready=1, failed={"boom": 1}, latency_ms={1_000: 1},
                            dead_letters={"not_avro": 2}))
    text = scrape({"5m": {"overall": figures, "tenants": {"acme": figures}}, "1m": None})
    assert 'reelflow_figures_videos_accepted{tenant="acme",window="5m"} 3.0' in text
    assert 'reelflow_figures_videos_accepted{tenant="*",window="5m"} 3.0' in text
    assert 'reelflow_figures_videos_failed{code="boom",tenant="*",window="5m"} 1.0' in text
    assert 'reelflow_figures_failure_ratio{tenant="*",window="5m"} 0.5' in text
    assert ('reelflow_figures_time_to_playable_seconds{quantile="0.95",tenant="acme",'
            'window="5m"} 1.0') in text
    assert 'reelflow_figures_dead_letters{code="not_avro",window="5m"} 2.0' in text
    assert 'reelflow_figures_videos_accepted{tenant="*",window="1m"} 0.0' in text
    assert 'failure_ratio{tenant="*",window="1m"}' not in text  # no finished video: no ratio

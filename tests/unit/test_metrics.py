"""The metrics text format Prometheus scrapes."""

from octolb import metrics


def test_counters_summaries_and_gauges_render_in_exposition_format():
    metrics.reset()
    metrics.inc("octolb_x_total", "Things.", method="GET", code="200")
    metrics.inc("octolb_x_total", "Things.", 2, method="GET", code="200")
    metrics.observe("octolb_d_seconds", "Durations.", 0.5)
    metrics.observe("octolb_d_seconds", "Durations.", 1.5)
    text = metrics.render({"octolb_g": ("A gauge.", {(("s", 'a"b'),): 3})})
    lines = text.splitlines()
    assert "# TYPE octolb_x_total counter" in lines
    assert 'octolb_x_total{code="200",method="GET"} 3' in lines
    assert "octolb_d_seconds_count 2" in lines and "octolb_d_seconds_sum 2" in lines
    assert "# TYPE octolb_g gauge" in lines
    assert 'octolb_g{s="a\\"b"} 3' in lines

"""The scraped counters: what /metrics shows after deliveries, revisions, restarts and failures."""

from __future__ import annotations

import pytest
from destination_support import NOW, Harness, golden, revised

from poller.destinations import PrometheusSettings
from poller.destinations.backends import PrometheusDestination
from poller.errors import SinkUnavailableError

GPT = {"org": "acme", "project": "proj_alpha", "model": "gpt-4o"}
COMPLETIONS = golden("completions", 0)


def destination(harness: Harness, org: str = "acme", **settings: object) -> PrometheusDestination:
    return PrometheusDestination(
        PrometheusSettings.model_validate({"type": "prometheus", **settings}),
        harness.context(org),
    )


def test_a_new_series_shows_zero_for_the_hold_then_its_value() -> None:
    harness = Harness()
    prom = destination(harness)
    prom.deliver([COMPLETIONS])
    assert harness.sample("openai_usage_input_tokens_total", **GPT) == 0.0
    assert harness.sample("openai_cost_usd_total", **GPT) is None  # never had a value here
    harness.clock.now = NOW + 119
    assert harness.sample("openai_usage_output_tokens_total", **GPT) == 0.0
    harness.clock.now = NOW + 120
    assert harness.sample("openai_usage_input_tokens_total", **GPT) == 1200.0
    assert harness.sample("openai_usage_output_tokens_total", **GPT) == 300.0
    assert harness.sample("openai_usage_requests_total", **GPT) == 7.0
    assert harness.sample("openai_cost_estimate_usd_total", **GPT) == 0.006
    assert harness.sample(
        "openai_poller_destination_deliveries_total",
        org="acme", destination="prometheus", result="acknowledged",
    ) == 1.0


def test_revisions_add_the_difference_and_repeats_nothing() -> None:
    harness = Harness()
    prom = destination(harness, new_series_hold=0)
    prom.deliver([COMPLETIONS, golden("costs", 0)])
    prom.deliver([COMPLETIONS])
    prom.deliver([revised(COMPLETIONS, "openai.completions.input_tokens", 1250)])
    assert harness.sample("openai_usage_input_tokens_total", **GPT) == 1250.0
    assert harness.sample("openai_cost_usd_total", org="acme", project="proj_alpha") == 12.5


def test_a_restart_resumes_the_saved_totals_without_counting_again() -> None:
    harness = Harness()
    destination(harness, new_series_hold=0).deliver([COMPLETIONS])
    saves = harness.store.saves

    restarted = Harness(store=harness.store, clock=harness.clock)
    prom = destination(restarted)  # now with a hold: the value was shown, it stays shown
    assert restarted.sample("openai_usage_input_tokens_total", **GPT) is None  # not loaded yet
    prom.deliver([COMPLETIONS])  # the first cycle after the restart re-reads the same bucket
    assert restarted.sample("openai_usage_input_tokens_total", **GPT) == 1200.0
    assert harness.store.saves == saves  # nothing changed, nothing written
    prom.deliver([revised(COMPLETIONS, "openai.completions.input_tokens", 1300)])
    assert restarted.sample("openai_usage_input_tokens_total", **GPT) == 1300.0


def test_a_failed_save_changes_nothing_and_raises() -> None:
    harness = Harness()
    prom = destination(harness, new_series_hold=0)
    prom.deliver([COMPLETIONS])
    harness.store.down = True
    with pytest.raises(SinkUnavailableError):
        prom.deliver([revised(COMPLETIONS, "openai.completions.input_tokens", 5000)])
    assert harness.sample("openai_usage_input_tokens_total", **GPT) == 1200.0
    assert harness.sample(
        "openai_poller_destination_deliveries_total",
        org="acme", destination="prometheus", result="failed",
    ) == 1.0
    up = {"org": "acme", "destination": "prometheus"}
    assert harness.sample("openai_poller_destination_up", **up) == 0.0
    harness.store.down = False  # the next cycle delivers the same batch again
    prom.deliver([revised(COMPLETIONS, "openai.completions.input_tokens", 5000)])
    assert harness.sample("openai_usage_input_tokens_total", **GPT) == 5000.0
    assert harness.sample("openai_poller_destination_up", **up) == 1.0


def test_orgs_without_an_org_label_are_summed_into_one_series() -> None:
    harness = Harness()
    for org in ("acme", "beta"):
        destination(harness, org, new_series_hold=0, dimensions=["model"]).deliver([COMPLETIONS])
    assert harness.sample("openai_usage_input_tokens_total", model="gpt-4o") == 2400.0


def test_series_past_the_limit_are_counted_as_dropped(caplog: pytest.LogCaptureFixture) -> None:
    harness = Harness()
    prom = destination(harness, new_series_hold=0, max_series=1)
    prom.deliver([COMPLETIONS, golden("completions", 2), golden("embeddings", 0)])
    assert harness.sample(
        "openai_poller_series_dropped_total", org="acme", destination="prometheus"
    ) == 2.0
    assert harness.sample(
        "openai_usage_input_tokens_total",
        org="acme", project="proj_alpha", model="text-embedding-3-small",
    ) is None
    assert caplog.text.count("not counted: their series would pass the cardinality limit") == 2


def test_the_limit_spans_the_streams_and_a_series_they_share_is_summed() -> None:
    harness = Harness()
    prom = destination(harness, new_series_hold=0, max_series=1, dimensions=["org", "project"])
    prom.deliver([COMPLETIONS])
    prom.deliver([golden("embeddings", 0), golden("costs", 0)])  # the same series: no new one
    alpha = {"org": "acme", "project": "proj_alpha"}
    assert harness.sample("openai_usage_input_tokens_total", **alpha) == 151200.0
    assert harness.sample("openai_cost_usd_total", **alpha) == 12.5
    assert sorted(harness.store.states) == [
        "acme/completions/destination:prometheus",
        "acme/costs/destination:prometheus",
        "acme/embeddings/destination:prometheus",
    ]
    prom.deliver([golden("completions", 2)])  # proj_unknown: a second series, past the limit
    assert harness.sample(
        "openai_poller_series_dropped_total", org="acme", destination="prometheus"
    ) == 1.0

"""`run_setup`: the Elasticsearch step, then the Kibana step, into one report."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from elasticsearch import Elasticsearch

from poller.assets import Assets, load_assets
from poller.install._elasticsearch import ElasticsearchSetup
from poller.install._kibana import KibanaAuth, KibanaSetup
from poller.install._report import Recorder, SetupReport

REQUEST_TIMEOUT: Final = 30.0  # seconds, per Kibana request (and in Elasticsearch messages)

RuleParameters = Mapping[str, Mapping[str, float | int]]  # rule slug → parameter → number


@dataclass(frozen=True)
class SetupOptions:
    """What to install beyond the defaults, and where in Kibana.

    - `ilm`: also install the ILM policies and hand new backing indices to them (not on
      serverless); by default retention is the data stream lifecycle in the templates.
    - `rule_parameters`: rule slug → parameter → number, e.g.
      `{"monthly-budget": {"budget_usd": 5000}}` (see kibana/README.md).
    - `kibana_space`: the Kibana space to install into; None is the default space.
    """

    ilm: bool = False
    rule_parameters: RuleParameters = field(default_factory=dict)
    kibana_space: str | None = None


def _rule_bodies(
    assets: Assets, parameters: RuleParameters
) -> list[tuple[str, str, dict[str, Any]]]:
    known = {rule.slug for rule in assets.rules}
    unknown = sorted(set(parameters) - known)
    if unknown:
        raise ValueError(f"no rule {', '.join(unknown)}; rules are: {', '.join(sorted(known))}")
    return [(r.rule_id, r.slug, r.render(parameters.get(r.slug))) for r in assets.rules]


def run_setup(
    *,
    es: Elasticsearch | None,
    kibana_url: str | None,
    kibana_auth: KibanaAuth | None = None,
    dry_run: bool = False,
    namespaces: Collection[str] | None = None,
    options: SetupOptions | None = None,
    assets: Assets | None = None,
) -> SetupReport:
    """Install everything openai-poller needs in Elasticsearch and, given `kibana_url`, Kibana.

    - `es`: the cluster (the caller builds and closes the client); None skips Elasticsearch.
    - `namespaces`: whose existing `logs-openai.<stream>-<namespace>` data streams get missing
      fields (and retention) in place; None means every existing one. Templates cover all
      namespaces by pattern either way.
    - `dry_run`: read only; the report says what a real run would change.
    - `options`: ILM, rule thresholds and the Kibana space (see `SetupOptions`).
    - `assets`: what to install; by default the packaged assets.

    Raises ValueError for bad arguments (TypeError for a rule parameter that is not a number),
    FileNotFoundError when the packaged assets are missing, SinkRejectedError when a server
    refuses (credentials, privileges, a body), SinkUnavailableError when one cannot be reached.
    Messages never carry credentials.
    """
    if es is None and not kibana_url:
        raise ValueError("setup needs an Elasticsearch cluster, a Kibana URL, or both")
    options = options or SetupOptions()
    assets = assets or load_assets()
    rules = _rule_bodies(assets, options.rule_parameters)
    record = Recorder(dry_run=dry_run)
    if es is not None:
        ElasticsearchSetup(es, record, timeout=REQUEST_TIMEOUT).run(
            assets, ilm=options.ilm, namespaces=namespaces
        )
    if kibana_url:
        kibana = KibanaSetup(
            kibana_url, kibana_auth, options.kibana_space, record, timeout=REQUEST_TIMEOUT
        )
        with kibana:
            kibana.import_saved_objects(assets.saved_objects_ndjson)
            for rule_id, slug, body in rules:
                kibana.install_rule(rule_id, slug, body)
    return record.report()

"""`run_setup`: the Elasticsearch step, then the Kibana step, into one report; `plan_setup`
when there is nothing to compare with."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Final

from elasticsearch import Elasticsearch

from poller.assets import Assets, RuleAsset, load_assets
from poller.errors import SinkUnavailableError
from poller.install._cluster import REQUEST_TIMEOUT
from poller.install._elasticsearch import ElasticsearchSetup
from poller.install._identity import identity
from poller.install._kibana import KibanaAuth, KibanaSetup
from poller.install._options import RuleParameters, SetupOptions
from poller.install._plan import plan_elasticsearch, plan_kibana
from poller.install._report import Listener, Recorder, SetupReport

_RUNS_AS: Final = "Kibana runs a rule's queries with an API key of whoever saved it last"


_Rules = list[tuple[RuleAsset, Mapping[str, float | int]]]


def _rules(assets: Assets, parameters: RuleParameters) -> _Rules:
    """Each rule with its configured parameters, checked now (ValueError, TypeError), before
    anything is installed."""
    known = {rule.slug for rule in assets.rules}
    unknown = sorted(set(parameters) - known)
    if unknown:
        raise ValueError(f"no rule {', '.join(unknown)}; rules are: {', '.join(sorted(known))}")
    rules = [(rule, parameters.get(rule.slug, {})) for rule in assets.rules]
    for rule, values in rules:
        rule.render(values)
    return rules


def _assets(assets: Assets | None, options: SetupOptions) -> Assets:
    return (assets or load_assets()).with_retention(options.retention)


def plan_setup(
    *,
    kibana: bool = False,
    options: SetupOptions | None = None,
    assets: Assets | None = None,
    on_change: Listener | None = None,
) -> SetupReport:
    """What setup installs, from the assets alone (no cluster, no Kibana): a dry run's report
    where every line is "would install". `kibana` adds the saved objects and rules."""
    options = options or SetupOptions()
    assets = _assets(assets, options)
    rules = _rules(assets, options.rule_parameters)
    record = Recorder(dry_run=True, listener=on_change)
    plan_elasticsearch(assets, record, ilm=options.ilm)
    if kibana:
        plan_kibana(assets, {rule.slug: values for rule, values in rules}, record)
    return record.report()


def run_setup(
    *,
    es: Elasticsearch | None,
    kibana_url: str | None,
    kibana_auth: KibanaAuth | None = None,
    dry_run: bool = False,
    namespaces: Collection[str] | None = None,
    options: SetupOptions | None = None,
    assets: Assets | None = None,
    on_change: Listener | None = None,
) -> SetupReport:
    """Install everything openai-poller needs in Elasticsearch and, given `kibana_url`, Kibana.

    - `es`: the cluster (the caller builds and closes the client); None skips Elasticsearch.
    - `namespaces`: whose existing `logs-openai.<stream>-<namespace>` data streams get missing
      fields (and retention) in place; None means every existing one. Templates cover all
      namespaces by pattern either way.
    - `dry_run`: read only; the report says what a real run would change. A server that cannot
      be reached before anything was read from it does not fail a dry run: its part of the
      report is the plan (`plan_setup`), after a line saying why it was not compared.
    - `options`: ILM, retention, rule thresholds, the Kibana space (see `SetupOptions`).
    - `assets`: what to install; by default the packaged assets.
    - `on_change`: called with each `Change` as it is recorded, so a caller can show what was
      done before a failure ends the run.

    Raises ValueError for bad arguments (TypeError for a rule parameter that is not a number),
    FileNotFoundError when the packaged assets are missing, SinkRejectedError when a server
    refuses (credentials, privileges, a body), SinkUnavailableError when one cannot be reached.
    Messages never carry credentials.
    """
    if es is None and not kibana_url:
        raise ValueError("setup needs an Elasticsearch cluster, a Kibana URL, or both")
    options = options or SetupOptions()
    assets = _assets(assets, options)
    rules = _rules(assets, options.rule_parameters)
    record = Recorder(dry_run=dry_run, listener=on_change)
    who = None
    if es is not None:
        installer = ElasticsearchSetup(es, record, timeout=REQUEST_TIMEOUT)
        start = len(record)
        try:
            installer.run(assets, ilm=options.ilm, namespaces=namespaces)
            who = identity(es) if kibana_url else None
        except SinkUnavailableError as exc:
            if not dry_run or len(record) != start:
                raise
            record.add("elasticsearch", "offline", str(exc))
            plan_elasticsearch(assets, record, ilm=options.ilm)
    if kibana_url:
        _kibana(kibana_url, kibana_auth, options, record, who=who, rules=rules, assets=assets)
    return record.report()


def _kibana(
    url: str,
    auth: KibanaAuth | None,
    options: SetupOptions,
    record: Recorder,
    *,
    who: str | None,
    rules: _Rules,
    assets: Assets,
) -> None:
    kibana = KibanaSetup(url, auth, options.kibana_space, record, timeout=REQUEST_TIMEOUT)
    with kibana:
        start = len(record)
        try:
            kibana.import_saved_objects(assets.saved_objects_ndjson)
        except SinkUnavailableError as exc:
            if not record.dry_run or len(record) != start:
                raise
            record.add("kibana", "offline", str(exc))
            plan_kibana(assets, {rule.slug: values for rule, values in rules}, record)
            return
        runs_as = who or "setup's credentials"
        record.add("kibana rules", "runs_as", f"{runs_as} ({_RUNS_AS})")
        for rule, values in rules:
            kibana.install_rule(rule, values, reset=options.reset_rules)

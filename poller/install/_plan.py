"""What a dry run says when it cannot compare: the plan, everything setup would install, read
from the assets alone. Elasticsearch or Kibana may be unreachable, or not configured yet; a
dry run is how an operator reviews setup before giving it a cluster and credentials."""

from __future__ import annotations

from collections.abc import Mapping

from poller.assets import Assets, Template
from poller.install._report import Recorder


def _target(template: Template) -> str:
    return f"{template.kind.replace('_', ' ')} {template.name}"


def _detail(template: Template) -> str:
    """What an operator checks before installing: the retention a template or policy sets."""
    lifecycle = template.body.get("template", {}).get("lifecycle", {})
    if "data_retention" in lifecycle:
        return f"retention {lifecycle['data_retention']}"
    delete = template.body.get("policy", {}).get("phases", {}).get("delete")
    return f"delete after {delete['min_age']}" if delete else ""


def plan_elasticsearch(assets: Assets, record: Recorder, *, ilm: bool) -> None:
    """The Elasticsearch objects setup installs, in its order, each as "would install"."""
    ordered = [*assets.ingest_pipelines]
    if ilm:
        ordered += [*assets.ilm_policies, *assets.ilm_component_templates]
    ordered += [*assets.component_templates, *assets.index_templates]
    for template in ordered:
        record.add(_target(template), "plan", _detail(template))
    record.add(
        "existing data streams logs-openai.*",
        "plan",
        "missing fields, the audit pipeline and the retention, where they differ",
    )


def plan_kibana(
    assets: Assets, rules: Mapping[str, Mapping[str, float | int]], record: Recorder
) -> None:
    """The saved objects and rules setup installs; each rule with the parameters it gets when
    it is created (an existing rule keeps its own unless --reset-rules)."""
    for obj in assets.saved_objects:
        record.add(f"kibana {obj['type']} {obj['id']}", "plan")
    for rule in assets.rules:
        values = {**rule.parameters, **rules.get(rule.slug, {})}
        shown = ", ".join(f"{name}={value}" for name, value in sorted(values.items()))
        record.add(f"kibana rule {rule.slug}", "plan", shown)

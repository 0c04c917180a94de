"""Whether a cluster has what `run` and `backfill` need before their first write: our index
templates, the component templates they are composed of, and the ingest pipelines they name.

Writing without them is not harmless: Elasticsearch would create `logs-openai.*` data streams
from the stack's generic `logs` template, with dynamic mappings (numbers as `long` or `float`,
text as `text`) that only a rollover can replace, and audit documents without `event.ingested`.
This only checks presence, with the reads the writer's `monitor` privilege allows;
`setup --dry-run` says what is outdated.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

from elastic_transport import ObjectApiResponse
from elasticsearch import AuthorizationException, Elasticsearch, NotFoundError

from poller.assets import PREFIX, Assets, composed_of, composed_settings, load_assets
from poller.install._cluster import errors_for
from poller.streams import STREAM_NAMES

_PIPELINE_SETTINGS = ("index.default_pipeline", "index.final_pipeline")


def _installed(get: Callable[[], ObjectApiResponse[Any]]) -> set[str]:
    """The names a template GET by pattern answers (`index_templates` or
    `component_templates`); none when nothing matches (404 on some versions)."""
    try:
        body = get().body
    except NotFoundError:
        return set()
    return {
        str(entry["name"])
        for found in body.values()
        if isinstance(found, list)
        for entry in found
    }


def missing_templates(
    es: Elasticsearch,
    streams: Collection[str] | None = None,
    *,
    assets: Assets | None = None,
) -> list[str]:
    """What the cluster lacks for writing `streams` (default: every stream), as setup names
    it: "index template openai-poller-costs", "component template openai-poller@ecs",
    "ingest pipeline openai-poller-event-ingested". Empty when all is there.

    ValueError for an unknown stream; SinkUnavailableError / SinkRejectedError as the sink's.
    An ingest pipeline the credentials may not read (403) is not reported: the writer role
    needs no pipeline privilege, and setup installs the pipeline with the template naming it.
    """
    wanted = list(STREAM_NAMES if streams is None else streams)
    unknown = sorted(set(wanted) - set(STREAM_NAMES))
    if unknown:
        raise ValueError(f"unknown stream {', '.join(unknown)}")
    components = (assets or load_assets()).components_by_name()
    errors = errors_for(es)
    with errors(f"reading the index templates {PREFIX}-*"):
        have_index = _installed(lambda: es.indices.get_index_template(name=f"{PREFIX}-*"))
    with errors(f"reading the component templates {PREFIX}*"):
        have_components = _installed(lambda: es.cluster.get_component_template(name=f"{PREFIX}*"))
    missing: list[str] = []
    pipelines: set[str] = set()
    for stream in wanted:
        if f"{PREFIX}-{stream}" not in have_index:
            missing.append(f"index template {PREFIX}-{stream}")
        every, optional = composed_of(stream)
        missing += [
            f"component template {name}"
            for name in every
            if name not in optional and name not in have_components
        ]
        settings = composed_settings(stream, components)
        pipelines |= {settings[key] for key in _PIPELINE_SETTINGS if key in settings}
    for pipeline in sorted(pipelines):
        with errors(f"reading the ingest pipeline {pipeline}"):
            try:
                es.ingest.get_pipeline(id=pipeline)
            except NotFoundError:
                missing.append(f"ingest pipeline {pipeline}")
            except AuthorizationException:
                pass  # cannot tell; see the docstring
    return sorted(dict.fromkeys(missing))

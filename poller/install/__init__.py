"""`openai-poller setup`: install the Elasticsearch templates and lifecycle, and the Kibana saved
objects and rules, from the packaged assets (`poller.assets`).

Every step reads what is installed first and writes only what differs, so a second run reports
every line "unchanged", and a dry run (reads only) reports what a real run would change.

A dry run that cannot reach a server says so and reports the plan instead (`plan_setup`, which
needs no server at all); a run that fails half-way has told its `on_change` listener what it did
before the error.

- `_run`: `run_setup` and `plan_setup`;
- `_options`: `SetupOptions` (ILM, retention, rule thresholds, the Kibana space, reset) and
  `duration_text`;
- `_elasticsearch`: ingest pipelines, templates, ILM policies, and the mapping, settings and
  retention of existing data streams;
- `_kibana`: saved objects and rules over Kibana's HTTP API, and `KibanaAuth`;
- `_identity`: who setup is, which is who the Kibana rules it saves run as;
- `_plan`: what a dry run lists when it cannot compare;
- `_missing`: `missing_templates`, what `run` and `backfill` need before writing;
- `_privileges`: the writer's and setup's roles, and `check_privileges` against a role;
- `_compare`: whether an installed body already holds ours;
- `_live_mappings`: `live_conflicts`, the fields existing data streams map with another type
  than the templates (what `doctor` reports, with each fix);
- `_report`: the `Change`s of a run and its `SetupReport`;
- `_destinations`: the files and notes each destination type needs on its receiving side.
"""

from poller.install._destinations import (
    DESTINATION_ASSETS,
    DestinationAsset,
    destination_notes,
    write_destination_asset,
)
from poller.install._kibana import KibanaAuth
from poller.install._live_mappings import (
    FieldConflict,
    LiveIndex,
    MappingCheck,
    field_conflicts,
    live_conflicts,
    read_indices,
)
from poller.install._missing import missing_templates
from poller.install._options import RuleParameters, SetupOptions, duration_text
from poller.install._privileges import (
    SETUP_ROLE,
    WRITER_ROLE,
    PrivilegeReport,
    check_privileges,
    setup_role,
    writer_role,
)
from poller.install._report import Change, Listener, SetupReport
from poller.install._run import plan_setup, run_setup

__all__ = [
    "DESTINATION_ASSETS",
    "SETUP_ROLE",
    "WRITER_ROLE",
    "Change",
    "DestinationAsset",
    "FieldConflict",
    "KibanaAuth",
    "Listener",
    "LiveIndex",
    "MappingCheck",
    "PrivilegeReport",
    "RuleParameters",
    "SetupOptions",
    "SetupReport",
    "check_privileges",
    "destination_notes",
    "duration_text",
    "field_conflicts",
    "live_conflicts",
    "missing_templates",
    "plan_setup",
    "read_indices",
    "run_setup",
    "setup_role",
    "write_destination_asset",
    "writer_role",
]

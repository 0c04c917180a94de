"""`openai-poller setup`: install the Elasticsearch templates and lifecycle, and the Kibana saved
objects and rules, from the packaged assets (`poller.assets`).

Every step reads what is installed first and writes only what differs, so a second run reports
every line "unchanged", and a dry run (reads only) reports what a real run would change.

- `_run`: `run_setup` and its `SetupOptions`;
- `_elasticsearch`: templates, ILM policies, and the mapping and retention of existing data streams;
- `_kibana`: saved objects and rules over Kibana's HTTP API, and `KibanaAuth`;
- `_compare`: whether an installed body already holds ours;
- `_report`: the `Change`s of a run and its `SetupReport`.
"""

from poller.install._kibana import KibanaAuth
from poller.install._report import Change, SetupReport
from poller.install._run import SetupOptions, run_setup

__all__ = ["Change", "KibanaAuth", "SetupOptions", "SetupReport", "run_setup"]

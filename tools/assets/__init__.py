"""The generator of the committed Elasticsearch and Kibana assets, and their field-use lint.

`python -m tools.assets` writes `mappings/`, `kibana/openai-poller.ndjson`, `kibana/rules/` and
their packaged copies under `poller/_assets/`; `--check` only lists what is out of date. The
runtime reads those files with `poller.assets.load_assets` and never imports this package.

- `kibana`: the saved objects (data view, search, dashboards) and alerting rules;
- `_templates`: the component and index templates, ILM policies and the audit ingest pipeline;
- `_roles`: the Elasticsearch roles of the writer (`run`, `backfill`) and of `setup`;
- `_lint`: which fields the Kibana assets read, and whether a mapping serves each use;
- `_files`: the generated files, drift and writing.
"""

from tools.assets._files import drift, expected_files, generate
from tools.assets._lint import FieldUse, check_field_uses, field_uses, runtime_fields
from tools.assets._templates import ALIASES, PRIORITY, field_types

__all__ = [
    "ALIASES",
    "PRIORITY",
    "FieldUse",
    "check_field_uses",
    "drift",
    "expected_files",
    "field_types",
    "field_uses",
    "generate",
    "runtime_fields",
]

"""The generator of the committed Elasticsearch and Kibana assets, and their field-use lint.

`python -m tools.assets` writes `mappings/`, `kibana/openai-poller.ndjson`, `kibana/rules/` and
their packaged copies under `poller/_assets/`; `--check` only lists what is out of date. The
runtime reads those files with `poller.assets.load_assets` and never imports this package.

- `kibana`: the saved objects (data view, search, dashboards) and alerting rules;
- `_templates`: the component and index templates and ILM policies;
- `_lint`: which fields the Kibana assets read, and whether a mapping serves each use;
- `_files`: the generated files, drift and writing.
"""

from tools.assets._files import drift, expected_files, generate, render_mappings, stale_files
from tools.assets._lint import (
    COMPATIBLE,
    FieldUse,
    check_field_uses,
    field_uses,
    mapped_uses,
    runtime_fields,
)
from tools.assets._templates import (
    ALIASES,
    PRIORITY,
    component_templates,
    field_types,
    ilm_component_templates,
    ilm_policies,
    index_templates,
)

__all__ = [
    "ALIASES",
    "COMPATIBLE",
    "PRIORITY",
    "FieldUse",
    "check_field_uses",
    "component_templates",
    "drift",
    "expected_files",
    "field_types",
    "field_uses",
    "generate",
    "ilm_component_templates",
    "ilm_policies",
    "index_templates",
    "mapped_uses",
    "render_mappings",
    "runtime_fields",
    "stale_files",
]

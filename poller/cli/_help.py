"""The words of `--help`: what each command does, its formats and an example.

Kept apart from the parser so `__init__` stays a list of flags; every text here is shown by
`openai-poller <command> --help` (tests/integration/cli/test_help.py reads them).
"""

from __future__ import annotations

import argparse
import textwrap

__all__ = ["EPILOG", "HELP", "WHEN", "Formatter"]

WHEN = ("ISO-8601 date or datetime (UTC without an offset, e.g. 2026-11-01 or "
        "2026-11-01T12:00:00+02:00), or an age before now: 30d, 12h, 90m, 2w")

EPILOG = """\
environment:
  OPENAI_ADMIN_KEY        the organization admin key (single-org use)
  OPENAI_BASE_URL         API base (default https://api.openai.com/v1)
  ELASTICSEARCH_URL       write to Elasticsearch (unset: the embedded store)
  ELASTICSEARCH_API_KEY   or ELASTICSEARCH_USERNAME + ELASTICSEARCH_PASSWORD
  ELASTICSEARCH_CA_CERTS  CA bundle for TLS verification
  KIBANA_URL              where `setup` imports Kibana objects
  KIBANA_CA_CERTS         CA bundle for Kibana (default: ELASTICSEARCH_CA_CERTS)
  POLLER_CONFIG           a YAML or TOML config file (several orgs, per stream)
  POLLER_STORE_PATH       the embedded store (default ./openai-poller.sqlite3)
  POLLER_<NAME>           any other setting: see docs/configuration.md

exit codes: 0 success, 1 runtime failure, 2 usage or configuration error.
start here: openai-poller demo   (no key, no network)
"""

HELP = {
    "run": ("poll every configured org and stream until SIGTERM/SIGINT",
            "example:\n  OPENAI_ADMIN_KEY=sk-admin-... ELASTICSEARCH_URL=https://es:9200 \\\n"
            "    openai-poller run"),
    "backfill": ("collect a past window once and exit (resumable, never duplicates)",
                 "example:\n  openai-poller backfill --since 30d --streams completions,costs\n"
                 "  openai-poller backfill --since 2026-10-01 --until 2026-11-01 --org prod"),
    "setup": ("install Elasticsearch templates and lifecycle, and Kibana objects with "
              "KIBANA_URL (idempotent)",
              "example:\n  openai-poller setup --dry-run"),
    "status": ("per org and stream: ok, behind or failing, with the lag and the last error",
               "reads the store without changing it; orgs and streams found there are shown "
               "even when not configured.\nexample:\n"
               "  POLLER_STORE_PATH=/var/lib/openai-poller/openai-poller.sqlite3 \\\n"
               "    openai-poller status"),
    "doctor": ("check the admin key, audit logging, the sink's reachability, privileges, "
               "templates and the mappings of existing data streams",
               "each check prints ok, FAIL (with its fix) or skip; exit 1 when one failed.\n"
               "example:\n  openai-poller doctor"),
    "state": ("repair saved stream state from the documents the sink holds",
              "after lost or damaged state, or a cursor in the future: derives each stream's "
              "coverage from the stored documents, so no window is collected twice.\n"
              "example:\n  openai-poller state rebuild --streams completions"),
    "replay-deadletters": (
        "write dead-lettered documents into the sink once the cause is fixed",
        "after fixing a mapping (openai-poller doctor names it): each refused document is "
        "written with its own id, so a second run changes nothing, and its dead letter is "
        "removed once the sink acknowledged it; documents still refused stay. Letters of "
        "buckets the stream now holds in another shape, of ids stored with other values, and "
        "API items no document was built from, are skipped and kept. Exit 1 when any stream "
        "failed or a document is still refused.\n"
        "example:\n  openai-poller replay-deadletters --stream completions --since 7d"),
    "report": ("usage, estimated and billed cost, and audit activity read back from the sink",
               "costs the price table cannot estimate read `unpriced`, never 0.\nexamples:\n"
               "  openai-poller report --since 7d --by project --top 10\n"
               "  openai-poller report --org prod --format csv > costs.csv"),
    "demo": ("run the bundled simulator, backfill 7 days into a local store, print a report",
             "needs no key and no network; the store is ./openai-poller-demo.sqlite3.\n"
             "example:\n  openai-poller demo"),
    "simulate": ("serve the simulated OpenAI admin API (for tests and trying things out)",
                 "--faults SPEC is a comma list of KIND=PROBABILITY (0..1), kinds 429, 500, "
                 "502, 503, timeout, malformed, drift.\n"
                 "example:\n  openai-poller simulate --port 8080 --faults 429=0.1,timeout=0.02\n"
                 "  OPENAI_ADMIN_KEY=sk-admin-demo OPENAI_BASE_URL=http://127.0.0.1:8080/v1 \\\n"
                 "    openai-poller backfill --since 2d"),
}


class Formatter(argparse.ArgumentDefaultsHelpFormatter):
    """Prose is wrapped to the terminal, indented lines (examples, the environment table) are
    kept as written, and every flag with a real default shows it."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        lines: list[str] = []
        for line in text.splitlines():
            if line.startswith(" ") or not line:
                lines.append(indent + line)
            else:
                lines += textwrap.wrap(line, width, initial_indent=indent,
                                       subsequent_indent=indent, break_on_hyphens=False)
        return "\n".join(lines)

    def _split_lines(self, text: str, width: int) -> list[str]:
        return textwrap.wrap(" ".join(text.split()), width, break_on_hyphens=False)

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default in (None, False, "") or "(default" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)

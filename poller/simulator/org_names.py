"""Name pools for the synthetic organization: realistic-looking, deliberately fictional.

Emails use the reserved `example.com` domain and addresses come from the documentation
ranges (RFC 5737), so nothing generated here points at a real person or host.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Final

__all__ = [
    "ADMIN_KEY_NAMES",
    "ATTACKER_CITIES",
    "ATTACKER_USER_AGENTS",
    "CITIES",
    "EMAIL_DOMAIN",
    "FIRST_NAMES",
    "KEY_NAME_PARTS",
    "LAST_NAMES",
    "PROJECT_AREAS",
    "PROJECT_NAMES",
    "SERVICE_ACCOUNT_NAMES",
    "USER_AGENTS",
    "City",
]

EMAIL_DOMAIN: Final = "example.com"

PROJECT_NAMES: Final = (
    "Customer Support Assistant",
    "Search Relevance",
    "Marketing Copy Studio",
    "Document Intelligence",
    "Internal Knowledge Bot",
    "Mobile App Companion",
    "Sales Email Drafts",
    "Voice Concierge",
    "Fraud Review Triage",
    "Product Catalog Enrichment",
    "Code Review Helper",
    "Data Pipeline Labeling",
)
# Larger organizations name projects "<team> <area>".
PROJECT_AREAS: Final = (
    ("Payments", "Growth", "Platform", "Support", "Research", "Security", "Finance", "Legal",
     "Logistics", "Retail", "Travel", "Health", "Media", "Education", "Ops", "Data"),
    ("Assistant", "Summaries", "Classifier", "Agents", "Search", "Insights", "Chatbot",
     "Translation", "Extraction", "Evaluation"),
)  # fmt: skip

FIRST_NAMES: Final = (
    "Ada", "Alan", "Amara", "Ana", "Arjun", "Beatriz", "Ben", "Chen", "Chloe", "Daniel",
    "Diego", "Elena", "Emeka", "Fatima", "Felix", "Grace", "Hana", "Hugo", "Ines", "Ivan",
    "Jamal", "Julia", "Kai", "Kenji", "Lara", "Leo", "Lucia", "Mai", "Marco", "Maya", "Mei",
    "Nadia", "Noah", "Olga", "Omar", "Priya", "Rafael", "Rosa", "Sam", "Sara", "Sofia",
    "Tariq", "Theo", "Uma", "Victor", "Wei", "Yara", "Yusuf", "Zoe", "Zainab",
)  # fmt: skip
LAST_NAMES: Final = (
    "Adeyemi", "Alvarez", "Andersen", "Bauer", "Becker", "Bianchi", "Chen", "Costa", "Dubois",
    "Eriksson", "Fernandes", "Fischer", "Garcia", "Gupta", "Haddad", "Hansen", "Ito", "Jensen",
    "Kim", "Kowalski", "Larsen", "Lopez", "Martin", "Meyer", "Moreau", "Nakamura", "Nguyen",
    "Novak", "Okafor", "Olsen", "Patel", "Petrov", "Quinn", "Rossi", "Santos", "Schmidt",
    "Silva", "Singh", "Sato", "Tanaka", "Torres", "Ueda", "Vargas", "Wagner", "Walker",
    "Wang", "Weber", "Yilmaz", "Zhang", "Zimmermann",
)  # fmt: skip

SERVICE_ACCOUNT_NAMES: Final = (
    "ingest-worker", "batch-runner", "eval-harness", "support-bot", "indexer", "nightly-etl",
    "webhook-handler", "translation-svc", "classifier-job", "reporting-cron",
)  # fmt: skip
KEY_NAME_PARTS: Final = (
    ("prod", "staging", "dev", "ci", "backend", "frontend", "notebook", "eval", "worker"),
    ("key", "api", "app", "service", "integration"),
)
ADMIN_KEY_NAMES: Final = ("Main Admin Key", "Usage Exporter", "Terraform", "SIEM Audit Pull")

USER_AGENTS: Final = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/130.0.0.0 Safari/537.36 Edg/130.0.0.0",
)


@dataclass(frozen=True)
class City:
    """Where a session comes from, as the audit log's `ip_address_details`: all strings."""

    country: str
    city: str
    region: str
    region_code: str
    asn: str
    latitude: str
    longitude: str

    def details(self) -> dict[str, str]:
        return asdict(self)


CITIES: Final = tuple(
    City(*row)
    for row in (
        ("US", "San Francisco", "California", "CA", "7922", "37.77490", "-122.41940"),
        ("US", "New York", "New York", "NY", "701", "40.71280", "-74.00600"),
        ("US", "Austin", "Texas", "TX", "11427", "30.26720", "-97.74310"),
        ("US", "Seattle", "Washington", "WA", "7922", "47.60620", "-122.33210"),
        ("GB", "London", "England", "ENG", "2856", "51.50740", "-0.12780"),
        ("DE", "Berlin", "Berlin", "BE", "3320", "52.52000", "13.40500"),
        ("FR", "Paris", "Ile-de-France", "IDF", "3215", "48.85660", "2.35220"),
        ("NL", "Amsterdam", "North Holland", "NH", "1136", "52.36760", "4.90410"),
        ("ES", "Madrid", "Madrid", "MD", "3352", "40.41680", "-3.70380"),
        ("IN", "Bengaluru", "Karnataka", "KA", "24560", "12.97160", "77.59460"),
        ("JP", "Tokyo", "Tokyo", "13", "2516", "35.67620", "139.65030"),
        ("BR", "Sao Paulo", "Sao Paulo", "SP", "28573", "-23.55050", "-46.63330"),
        ("SG", "Singapore", "Singapore", "01", "4657", "1.35210", "103.81980"),
        ("AU", "Sydney", "New South Wales", "NSW", "1221", "-33.86880", "151.20930"),
    )
)
# Login-failure bursts come from far away and from hosting networks.
ATTACKER_CITIES: Final = (
    City(*("RU", "Moscow", "Moscow", "MOW", "12389", "55.75580", "37.61730")),
    City(*("VN", "Hanoi", "Hanoi", "HN", "45899", "21.02780", "105.83420")),
    City(*("NG", "Lagos", "Lagos", "LA", "37148", "6.52440", "3.37920")),
    City(*("US", "Ashburn", "Virginia", "VA", "14618", "39.04380", "-77.48740")),
)
ATTACKER_USER_AGENTS: Final = ("python-requests/2.32.3", "curl/8.7.1", "Go-http-client/2.0")

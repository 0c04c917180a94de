"""A typed, retrying client for OpenAI's admin API: usage, costs, audit logs and directory.

```python
with AdminClient(admin_key=key) as client:
    for page in client.usage_pages("completions", start_time=t0, bucket_width="1h"):
        store(page)  # then commit the cursor, page by page
```

Modules: `api` (the client), `options` (its timeouts and response limits), `retry` (the retry
policy), `_pacing` (an org's requests after a 429), `_page_size` (buckets per usage page),
`_budget` (results in flight in the process), `_usage_paging` (a usage query's pages, sized and
reserved), `_usage_page` (a usage page whose results become models only as they are taken),
`_exchange` (one attempt, its body read within bounds), `query` (the SDK's query encoding),
`params` (argument checks against `poller.streams`), `responses` (HTTP failures to
`poller.errors`), `models`, `audit`, `directory` (response models; the pages the poller collects
keep the items that fail their schema in `invalid`), `observer` (metrics hook).
"""

from poller.client._budget import (
    PROCESS_BUDGET,
    BudgetStopped,
    Hold,
    ResultsBudget,
    stop_waits,
)
from poller.client._usage_page import RawUsagePage
from poller.client.api import DEFAULT_BASE_URL, AdminClient
from poller.client.audit import (
    AuditLog,
    AuditLogActor,
    AuditLogActorApiKey,
    AuditLogActorServiceAccount,
    AuditLogActorSession,
    AuditLogActorUser,
    AuditLogPage,
    AuditLogProject,
    IpAddressDetails,
)
from poller.client.directory import (
    AdminApiKey,
    AdminApiKeyOwner,
    Project,
    ProjectApiKey,
    ProjectApiKeyOwner,
    ProjectApiKeyOwnerServiceAccount,
    ProjectApiKeyOwnerUser,
    ProjectRateLimit,
    ProjectRateLimitPage,
    ProjectServiceAccount,
    ProjectUser,
    User,
)
from poller.client.models import (
    RESULT_MODELS,
    AnyUsageResult,
    APIModel,
    AudioSpeechesResult,
    AudioTranscriptionsResult,
    CodeInterpreterSessionsResult,
    CompletionsResult,
    CostAmount,
    CostsResult,
    EmbeddingsResult,
    FileSearchCallsResult,
    ImagesResult,
    InvalidItem,
    ItemListPage,
    ItemPage,
    ListPage,
    ModerationsResult,
    UsageBucket,
    UsagePage,
    UsageResult,
    VectorStoresResult,
    WebSearchCallsResult,
)
from poller.client.observer import ClientObserver
from poller.client.options import ResponseLimits, Timeouts
from poller.client.retry import RetryPolicy

__all__ = [
    "DEFAULT_BASE_URL",
    "PROCESS_BUDGET",
    "RESULT_MODELS",
    "APIModel",
    "AdminApiKey",
    "AdminApiKeyOwner",
    "AdminClient",
    "AnyUsageResult",
    "AudioSpeechesResult",
    "AudioTranscriptionsResult",
    "AuditLog",
    "AuditLogActor",
    "AuditLogActorApiKey",
    "AuditLogActorServiceAccount",
    "AuditLogActorSession",
    "AuditLogActorUser",
    "AuditLogPage",
    "AuditLogProject",
    "BudgetStopped",
    "ClientObserver",
    "CodeInterpreterSessionsResult",
    "CompletionsResult",
    "CostAmount",
    "CostsResult",
    "EmbeddingsResult",
    "FileSearchCallsResult",
    "Hold",
    "ImagesResult",
    "InvalidItem",
    "IpAddressDetails",
    "ItemListPage",
    "ItemPage",
    "ListPage",
    "ModerationsResult",
    "Project",
    "ProjectApiKey",
    "ProjectApiKeyOwner",
    "ProjectApiKeyOwnerServiceAccount",
    "ProjectApiKeyOwnerUser",
    "ProjectRateLimit",
    "ProjectRateLimitPage",
    "ProjectServiceAccount",
    "ProjectUser",
    "RawUsagePage",
    "ResponseLimits",
    "ResultsBudget",
    "RetryPolicy",
    "Timeouts",
    "UsageBucket",
    "UsagePage",
    "UsageResult",
    "User",
    "VectorStoresResult",
    "WebSearchCallsResult",
    "stop_waits",
]

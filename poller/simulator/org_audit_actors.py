"""Who performs audited actions: browser sessions of users, admin API keys, service accounts.

Session actors carry the example-only fields the real API sends (`user_agent`, `ja3`, `ja4`,
`ip_address_details` with every value a string). A user's usual session is built once and
shared by all of their events; it is read-only like every event the organization returns.
"""

from __future__ import annotations

import hashlib
import random

from poller.simulator.model import JSON
from poller.simulator.org_names import (
    ATTACKER_CITIES,
    ATTACKER_USER_AGENTS,
    CITIES,
    USER_AGENTS,
    City,
)
from poller.simulator.org_roster import AdminKey, ApiKey, ServiceAccount, User

__all__ = ["Actors"]


def _fingerprints(user_agent: str) -> tuple[str, str]:
    """Stable TLS fingerprints for a client: a JA3 MD5 and a JA4 string, as in the spec."""
    digest = hashlib.sha256(user_agent.encode()).hexdigest()
    return digest[:32], f"t13d{digest[32:36]}h2_{digest[36:48]}_{digest[48:60]}"


def _session(user: JSON, ip_address: str, user_agent: str, city: City) -> JSON:
    ja3, ja4 = _fingerprints(user_agent)
    return {
        "type": "session",
        "session": {
            "user": user,
            "ip_address": ip_address,
            "user_agent": user_agent,
            "ja3": ja3,
            "ja4": ja4,
            "ip_address_details": city.details(),
        },
    }


class Actors:
    def __init__(self, users: tuple[User, ...]) -> None:
        self._usual = {
            user.id: _session(
                {"id": user.id, "email": user.email},
                user.ip_address,
                USER_AGENTS[int(user.id[-4:], 36) % len(USER_AGENTS)],
                CITIES[user.home],
            )
            for user in users
        }

    def session(self, rng: random.Random, user: User) -> JSON:
        """Mostly the user's usual session; now and then from a trip or a new laptop."""
        if rng.random() < 0.95:
            return self._usual[user.id]
        return _session(
            {"id": user.id, "email": user.email},
            f"192.0.2.{rng.randrange(1, 255)}",
            rng.choice(USER_AGENTS),
            rng.choice(CITIES),
        )

    @staticmethod
    def attacker(rng: random.Random, target: JSON) -> JSON:
        """The session of a credential-stuffing run: far away, scripted, one address."""
        return _session(
            target,
            f"203.0.113.{rng.randrange(1, 255)}",
            rng.choice(ATTACKER_USER_AGENTS),
            rng.choice(ATTACKER_CITIES),
        )

    @staticmethod
    def admin_key(key: AdminKey) -> JSON:
        owner = key.owner
        return {
            "type": "api_key",
            "api_key": {
                "id": key.id,
                "type": "user",
                "user": {"id": owner.id, "email": owner.email},
            },
        }

    @staticmethod
    def service_account_key(key: ApiKey, account: ServiceAccount) -> JSON:
        return {
            "type": "api_key",
            "api_key": {
                "id": key.id,
                "type": "service_account",
                "service_account": {"id": account.id},
            },
        }

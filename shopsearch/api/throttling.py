"""Request rates of the public API (THROTTLE_RATES): per client address for every request, per shopper session for
what a session posts or reads, and for new sessions. DRF's rate throttles, with two changes: the rates are read
when a request comes (a changed setting applies at once), and a cache that cannot be reached lets requests through,
logged, instead of taking the shop's search down with it. The client address is DRF's (`NUM_PROXIES`)."""

from __future__ import annotations

import logging

from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle

from ..conf import setting

try:
    from redis.exceptions import RedisError as CacheError
except ImportError:  # a cache without redis: its own errors are OSErrors
    CacheError = OSError

logger = logging.getLogger("shopsearch")


class RateThrottle(SimpleRateThrottle):
    def __init__(self) -> None:  # the rate is read in allow_request, not once at start-up
        pass

    def get_rate(self) -> str | None:
        return setting("THROTTLE_RATES").get(self.scope)

    def allow_request(self, request: Request, view) -> bool:
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        try:
            return super().allow_request(request, view)
        except (CacheError, OSError) as exc:
            logger.warning("shopsearch: request rates not counted, the cache cannot be reached: %s", exc)
            return True


class ClientRateThrottle(RateThrottle):
    """Every request, per client address."""

    scope = "client"

    def get_cache_key(self, request: Request, view) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class NewSessionRateThrottle(ClientRateThrottle):
    """POST /api/sessions/, per client address: what a client can claim to be many shoppers."""

    scope = "new_session"


class SessionRateThrottle(RateThrottle):
    """Per shopper session: each session the request names (the view's `throttled_sessions`) is counted."""

    scope = "session"

    def allow_request(self, request: Request, view) -> bool:
        for session in view.throttled_sessions(request):
            self.session = session
            if not super().allow_request(request, view):
                return False
        return True

    def get_cache_key(self, request: Request, view) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.session}

"""Every error shopsearch raises on purpose, under one base, `ShopsearchError`.

A caller can catch the base (commands turn it into a CommandError, the admin into a message) and the API maps each
class to its HTTP answer in one place (`api/errors.exception_handler`, by `status_code`), the way DRF maps
`Http404`, so views carry no try/except. Each message says what was wrong, with which value, and what to do.
"""

from __future__ import annotations


class ShopsearchError(Exception):
    """Base of shopsearch's domain errors; `status_code` is the API's answer when one reaches a view."""

    status_code = 400


class NotReady(ShopsearchError):
    """Search cannot answer yet: no active space, or the object has no vector yet (still being indexed)."""

    status_code = 409


class UnknownProduct(ShopsearchError):
    """A product id that no indexed product has."""

    status_code = 404


class InvalidSession(ShopsearchError):
    """A session id this server did not issue."""


class UnknownAspect(ShopsearchError):
    """An aspect name that is neither configured nor discovered."""


class SpaceError(ShopsearchError):
    """An embedding space cannot be used as asked (e.g. activating an incomplete one, retiring the active one)."""

    status_code = 409


class SentimentError(ShopsearchError):
    """Training or applying a classifier cannot go ahead as asked (too few examples, wrong space, ...)."""

    status_code = 409


class FinetuneError(ShopsearchError):
    """Fine-tuning cannot go on as asked."""


class RelevanceSetError(ShopsearchError):
    """The folder is not a relevance set; the message says which file and line and what was expected."""


class JobRefused(ShopsearchError):
    """A console job cannot start: the same job is already queued or running, or its arguments are wrong."""

    status_code = 409


class JobArgumentError(JobRefused):
    """An argument of a console job is missing or wrong; the message starts with the field's name."""

    status_code = 400


class MapError(ShopsearchError):
    """The embedding map cannot be computed or used as asked (too few product vectors, no map yet)."""

    status_code = 409

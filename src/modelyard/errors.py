"""One exception tree for the whole package.

Only the REST layer and the CLI's ``main`` translate these into responses and exit codes; every
other module raises them with a message that names the bad value, lists valid ones where there
are few, and says how to fix the problem.

    ModelyardError                      500  exit 1
    ├── ConfigError                     400  exit 2
    │   └── UnknownSchemeError          400  exit 2   a URI whose scheme no backend serves
    ├── InvalidArgumentError            400  exit 2
    │   ├── FilterSyntaxError           400  exit 2   a bad search filter / order-by expression
    │   ├── SpecError                   422  exit 2   a YAML spec or request body failed validation
    │   └── InvalidModelURIError        400  exit 2
    ├── NotFoundError                   404  exit 3
    ├── AlreadyExistsError              409  exit 4
    ├── ConflictError                   409  exit 4   a state change that is not allowed now
    ├── StoreUnavailableError           503  exit 5   a database / bucket / server is unreachable
    ├── IntegrityError                  500  exit 6   a stored artifact failed its sha256 check
    ├── UntrustedModelError             403  exit 7   loading would unpickle or run unknown types
    ├── DependencyMissingError          500  exit 8   an optional extra is not installed
    ├── DataValidationError             422  exit 9   data failed a declared check
    ├── PayloadTooLargeError            413  exit 2   a request body over the server's limit
    ├── RateLimitedError                429  exit 10  a client went over its request rate
    ├── OverloadedError                 503  exit 10  a full queue or an open circuit breaker
    └── RequestTimeoutError             504  exit 10  a request not answered in its time
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "AlreadyExistsError",
    "ConfigError",
    "ConflictError",
    "DataValidationError",
    "DependencyMissingError",
    "FilterSyntaxError",
    "IntegrityError",
    "InvalidArgumentError",
    "InvalidModelURIError",
    "ModelyardError",
    "NotFoundError",
    "OverloadedError",
    "PayloadTooLargeError",
    "RateLimitedError",
    "RequestTimeoutError",
    "SpecError",
    "StoreUnavailableError",
    "UnknownSchemeError",
    "UntrustedModelError",
]


class ModelyardError(Exception):
    """Root of every error modelyard raises on purpose.

    ``details`` carries structured context (the field, the value, the valid choices) that the
    REST layer returns as JSON and the CLI prints with ``--json``.
    """

    http_status: ClassVar[int] = 500
    exit_code: ClassVar[int] = 1

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        return {"error": type(self).__name__, "message": self.message, **self.details}


class ConfigError(ModelyardError):
    http_status = 400
    exit_code = 2


class UnknownSchemeError(ConfigError):
    pass


class InvalidArgumentError(ModelyardError):
    http_status = 400
    exit_code = 2


class FilterSyntaxError(InvalidArgumentError):
    pass


class SpecError(InvalidArgumentError):
    """A spec or request failed validation; ``details['problems']`` lists ``path: message``."""

    http_status = 422


class InvalidModelURIError(InvalidArgumentError):
    pass


class NotFoundError(ModelyardError):
    http_status = 404
    exit_code = 3


class AlreadyExistsError(ModelyardError):
    http_status = 409
    exit_code = 4


class ConflictError(ModelyardError):
    http_status = 409
    exit_code = 4


class StoreUnavailableError(ModelyardError):
    http_status = 503
    exit_code = 5


class IntegrityError(ModelyardError):
    exit_code = 6


class UntrustedModelError(ModelyardError):
    http_status = 403
    exit_code = 7


class DependencyMissingError(ModelyardError):
    exit_code = 8

    @classmethod
    def for_extra(cls, module: str, extra: str) -> DependencyMissingError:
        return cls(
            f"{module!r} is not installed; install it with: pip install 'modelyard[{extra}]'",
            module=module,
            extra=extra,
        )


class DataValidationError(ModelyardError):
    http_status = 422
    exit_code = 9


class PayloadTooLargeError(ModelyardError):
    http_status = 413
    exit_code = 2


class RateLimitedError(ModelyardError):
    """``details['retry_after_s']`` says when the client may try again."""

    http_status = 429
    exit_code = 10


class OverloadedError(ModelyardError):
    """The server sheds load (a full queue, an open circuit breaker) instead of queuing it."""

    http_status = 503
    exit_code = 10


class RequestTimeoutError(ModelyardError):
    http_status = 504
    exit_code = 10


def suggest(value: str, choices: list[str] | tuple[str, ...] | set[str]) -> str:
    """Return `` (did you mean 'x'?)`` for the closest choice, or an empty string."""
    import difflib

    lowered = value.lower()
    prefixed = [c for c in sorted(choices) if lowered and c.lower().startswith(lowered)]
    close = prefixed[:3] or difflib.get_close_matches(value, sorted(choices), n=3, cutoff=0.6)
    if not close:
        return ""
    return " (did you mean " + " or ".join(repr(c) for c in close) + "?)"

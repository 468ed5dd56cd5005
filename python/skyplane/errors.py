"""The exceptions skyplane raises: one root, a class per code of ``ERRORS`` (errors.ts).

Every error the Node side reports arrives with the code, message and exit status the ``skyplane``
command would give it, and is raised as the class of its code (``NoSuchBucketError`` for
``NO_SUCH_BUCKET``), a subclass of ``UserError`` (the message says what to do) or ``InternalError``
(a bug or a failure below us), both subclasses of ``SkyplaneError``.
"""

from collections.abc import Sequence


class SkyplaneError(Exception):
    """The root of every error skyplane raises; ``code`` is stable: callers match on it."""

    #: The code of ``ERRORS``, e.g. ``"NO_SUCH_BUCKET"``; None for an error of Node or the OS.
    code: str | None = None
    #: The status ``skyplane`` exits with when this error ends it.
    exit_status: int = 2
    #: True when the user can fix it (the message says how).
    user_fixable: bool = False

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        exit_status: int | None = None,
        failures: Sequence[str] = (),
    ) -> None:
        super().__init__(message)
        #: What went wrong and, for a user error, what to do next: as the CLI prints it.
        self.message = message
        if code is not None:
            self.code = code
        if exit_status is not None:
            self.exit_status = exit_status
        #: A failed transfer's failed chunks or objects, one line each.
        self.failures: tuple[str, ...] = tuple(failures)

    def __reduce__(self) -> tuple[object, ...]:
        # Picklable (a worker process may hand it on) with its code and status.
        return (
            _rebuild,
            (type(self), self.message, self.code, self.exit_status, self.failures),
        )


class UserError(SkyplaneError):
    """An error the user can fix: bad arguments, URIs or regions, missing buckets or credentials."""

    exit_status = 1
    user_fixable = True


class InternalError(SkyplaneError):
    """An error inside skyplane or below it (engine, cloud, network, the Node side)."""

    exit_status = 2
    user_fixable = False


def _rebuild(
    cls: type[SkyplaneError],
    message: str,
    code: str | None,
    exit_status: int,
    failures: tuple[str, ...],
) -> SkyplaneError:
    return cls(message, code=code, exit_status=exit_status, failures=failures)


def error_for(
    code: str | None,
    message: str,
    exit_status: int | None = None,
    failures: Sequence[str] = (),
) -> SkyplaneError:
    """The exception for an error of ``code``: its class, or by exit status for a code it lacks."""
    from ._codes import CLASSES

    cls = CLASSES.get(code) if code is not None else None
    if cls is None:
        cls = UserError if exit_status in (1, 130) else InternalError
    return cls(message, code=code, exit_status=exit_status, failures=failures)

"""Failures as states: the service down or refusing us is CRITICAL, our own setup or an
unreadable reply UNKNOWN; a Resource yields a ``failure`` metric instead of its measurements."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

import nagiosplugin

if TYPE_CHECKING:
    from asterisk_ami.errors import AmiError
    from asterisk_ami.session import Target


class Failure(NamedTuple):
    """An AMI failure turned into a state, a status text and optional long-output lines."""

    state: nagiosplugin.state.ServiceState
    summary: str
    detail: tuple[str, ...] = ()


def classify(error: AmiError, target: Target, timeout: float, not_found: str = "") -> Failure:
    """The service down or refusing us is CRITICAL; our own setup or an unreadable reply UNKNOWN."""
    from asterisk_ami import errors  # noqa: PLC0415

    crit, unknown = nagiosplugin.Critical, nagiosplugin.Unknown
    where = f"AMI at {target.address}"
    if isinstance(error, errors.AmiTimeout):
        return Failure(unknown, f"no answer from {where} within {timeout:g}s ({error.phase})")
    if isinstance(error, errors.ConnectionFailed):
        text = str(error)
        return Failure(crit, text if target.address in text else f"{where}: {text}")
    if isinstance(error, errors.TlsPort):  # as --tls on a plain port: CRITICAL, with the fix
        hint = "is this a TLS port? try --tls"
        return Failure(crit, f"no AMI greeting from {target.address}: {error} ({hint})")
    if isinstance(error, errors.NotAmiServer):
        return Failure(crit, f"{target.address} is not an AMI server: {error}")
    if isinstance(error, errors.AuthenticationFailed):
        return Failure(crit, str(error))
    if isinstance(error, errors.PermissionDenied):
        return Failure(
            unknown,
            f"AMI user '{target.username}' may not run CLI commands: "
            f"{error} (manager.conf needs write = command)",
        )
    if isinstance(error, errors.CommandNotFound):
        return Failure(crit, f"'{error.command}' not available{not_found}", (error.text,))
    if isinstance(error, errors.SendFailed):
        return Failure(unknown, f"{where}: {error}")
    if isinstance(error, errors.EventFlood):
        return Failure(unknown, f"{where} {error}: session ended")
    if isinstance(error, errors.ParseError):
        return Failure(unknown, f"cannot read the output: {error}")
    return Failure(unknown, f"unreadable reply from {where}: {error}")


class FailureContext(nagiosplugin.Context):
    """Evaluates the ``failure`` metric a Resource yields instead of its measurements."""

    def __init__(self) -> None:
        super().__init__("failure")

    def evaluate(self, metric: nagiosplugin.Metric, resource: Any) -> nagiosplugin.Result:
        failure: Failure = metric.value
        return nagiosplugin.Result(failure.state, failure.summary, metric)


def failure_metric(failure: Failure) -> nagiosplugin.Metric:
    return nagiosplugin.Metric("failure", failure, context="failure")  # type: ignore[arg-type]


def failure_of(results: nagiosplugin.Results) -> Failure | None:
    """The Failure behind a check's results, if the probe failed."""
    for result in results:
        if result.metric is not None and isinstance(result.metric.value, Failure):
            return result.metric.value
    return None

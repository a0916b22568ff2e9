"""The Contexts and Summary the checks share: counts up against thresholds and -n, a warning
on any problem, and the status line and long output taken from the Resource's report."""

from __future__ import annotations

from typing import Any

import nagiosplugin

from isp_plugins.runtime.failures import failure_of


class UpCount(nagiosplugin.ScalarContext):
    """Thresholds on how many things are up, for a Resource with an ``expected`` attribute.

    Without -w: WARNING below the expected count (known only after probing when -n was not
    given); without -c: CRITICAL when none is up, unless none is expected (-n 0). Perfdata
    shows the ranges in effect.
    """

    def __init__(
        self,
        name: str,
        warning: nagiosplugin.Range | None,
        critical: nagiosplugin.Range | None,
        fmt_metric: str = "{value} up",
    ) -> None:
        super().__init__(name, warning, critical or nagiosplugin.Range("1:"), fmt_metric)
        self.default_warning = warning is None
        self.default_critical = critical is None

    def _settle(self, resource: Any) -> None:
        expected = getattr(resource, "expected", None)
        if self.default_warning and expected is not None:
            self.warning = nagiosplugin.Range(f"{expected}:")
        if self.default_critical and expected == 0:  # -n 0: none up is what was expected
            self.critical = nagiosplugin.Range("")

    def evaluate(self, metric: nagiosplugin.Metric, resource: Any) -> nagiosplugin.Result:
        self._settle(resource)
        return super().evaluate(metric, resource)

    def performance(self, metric: nagiosplugin.Metric, resource: Any) -> Any:
        self._settle(resource)
        return super().performance(metric, resource)


class ListedCount(nagiosplugin.Context):
    """WARNING when -n was given (``resource.expected_given``) and a different number is listed."""

    def __init__(self, name: str, noun: str) -> None:
        super().__init__(name)
        self.noun = noun

    def evaluate(self, metric: nagiosplugin.Metric, resource: Any) -> nagiosplugin.Result:
        expected = getattr(resource, "expected", None)
        if getattr(resource, "expected_given", False) and metric.value != expected:
            text = f"{metric.value} {self.noun} listed, {expected} expected"
            return nagiosplugin.Result(nagiosplugin.Warn, text, metric)
        return nagiosplugin.Result(nagiosplugin.Ok, metric=metric)


class ReportSummary(nagiosplugin.Summary):
    """Status line and long output from the Resource's report, or from the failure instead.

    The Resource provides ``summary_text()`` and ``long_output(verbose)`` once it has a report
    (``report`` is not None).
    """

    def __init__(self, resource: Any, verbose: int) -> None:
        self.resource = resource
        self.verbose_level = verbose

    def ok(self, results: nagiosplugin.Results) -> str:
        return self.problem(results)

    def problem(self, results: nagiosplugin.Results) -> str:
        failure = failure_of(results)
        if failure is not None:
            return failure.summary
        if getattr(self.resource, "report", None) is None:  # a CheckError: nagiosplugin's text
            return str(super().problem(results))
        return str(self.resource.summary_text())

    def verbose(self, results: nagiosplugin.Results) -> list[str]:
        failure = failure_of(results)
        if failure is not None:
            framed = getattr(self.resource, "failure_output", None)  # AMI: warnings, greeting
            return list(failure.detail) if framed is None else framed(failure, self.verbose_level)
        if getattr(self.resource, "report", None) is None:
            return []
        return list(self.resource.long_output(self.verbose_level))


class WarnWhenAny(nagiosplugin.Context):
    """WARNING with ``hint`` when the metric, a count of problems, is not zero (no perfdata)."""

    def __init__(self, name: str, hint: str) -> None:
        super().__init__(name)
        self.hint = hint

    def evaluate(self, metric: nagiosplugin.Metric, resource: Any) -> nagiosplugin.Result:
        if metric.value:
            return nagiosplugin.Result(nagiosplugin.Warn, self.hint, metric)
        return nagiosplugin.Result(nagiosplugin.Ok, metric=metric)

"""docs/reference/metrics.rst lists every metric the code defines, and every reason of a drop."""

from __future__ import annotations

from channels_core import metrics
from channels_core.metrics.definitions import METRICS
from tests.helpers import ROOT


def test_the_reference_lists_every_metric_and_every_reason() -> None:
    reference = (ROOT / "docs" / "reference" / "metrics.rst").read_text()
    for metric in METRICS:
        (family,) = metric.describe()
        name = f"{family.name}_total" if family.type == "counter" else family.name
        assert f"``{name}``" in reference, f"{name} is not in docs/reference/metrics.rst"
    for reason in metrics.REASONS:
        assert f"``{reason}``" in reference

"""Where an EdgeWorkload's users are: `spec.users` (fixed cells, or a metric that measures them) and
`status.users` (the distribution its current placement was solved for)."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from pydantic import ConfigDict, Field

from orchestrator.resources.common import DNS_LABEL, CelRule, K8sModel

SHARE_TOLERANCE = 0.001
"""How far the sum of spec.users.cells[*].share may be from 1."""
MAX_CELLS = 64
"""The most cells a distribution holds (spec.users.cells, status.users.cells)."""
PROM_LABEL = r"^[a-zA-Z_][a-zA-Z0-9_]*$"


class CellShare(K8sModel):
    """The fraction of the workload's users attached to one radio cell."""

    cell: str = Field(
        min_length=1, max_length=63, pattern=DNS_LABEL,
        description="Name of the radio cell (e.g. cell-eixample-1).",
    )
    share: float = Field(gt=0, le=1, description="Fraction of users in this cell (0 < share <= 1).")


def _shares_sum_to_one(users: UserDistribution) -> bool:
    total = sum(c.share for c in users.cells)
    return not users.cells or 1 - SHARE_TOLERANCE <= total <= 1 + SHARE_TOLERANCE


class UsersFromMetric(K8sModel):
    """A user distribution measured by a PromQL expression, one series per cell, read again and again."""

    query: str = Field(
        min_length=1, max_length=4096, pattern=r"\S",
        description="PromQL giving the users (or the traffic) per radio cell, one series per cell labelled by "
        "cellLabel, e.g. sum by (cell) (rate(my_app_requests_total[1m])); $workload (namespace/name), $namespace "
        "and $name are replaced. Prometheus' own parser checks it: one it refuses gives the condition "
        "UsersMeasured=False (QueryInvalid) and a Warning Event, and the distribution in use stays.",
    )
    cell_label: str = Field(
        default="cell", min_length=1, max_length=128, pattern=PROM_LABEL,
        description="The label of the query's series that names the radio cell (a Prometheus label name).",
    )
    interval_seconds: int = Field(default=5, ge=1, le=3600, description="How often the query is read (1..3600 s).")
    smoothing_seconds: int = Field(
        default=60, ge=0, le=86400,
        description="Time constant of the exponential smoothing of the readings in seconds (0: each reading as it "
        "is); a group of users that moved counts fully after a few of these.",
    )
    min_share: float = Field(
        default=0.02, ge=0, le=0.5,
        description="Cells with a smaller share of the smoothed users are left out (the others renormalised).",
    )
    move_threshold: float = Field(
        default=0.2, gt=0, le=1,
        description="How far the smoothed distribution must have moved from the one in use (status.users), as "
        "a total variation distance (0.2: a fifth of the users are elsewhere), before the workload is solved "
        "again (less, from 0.05, when the best allowed site would serve them better by more than a move costs); "
        "replicas then move make-before-break within spec.migration's budget and cool-down.",
    )


class UserDistribution(K8sModel):
    """Where the workload's users are: fixed shares of radio cells, or a metric that measures them (or both:
    the cells until the metric has given a distribution)."""

    __cel__: ClassVar[tuple[CelRule, ...]] = (
        CelRule(
            rule="(has(self.cells) && size(self.cells) > 0) || has(self.fromMetric)",
            message="spec.users.cells: give the cells (a fixed distribution), spec.users.fromMetric (a measured "
                    "one) or both",
            field_path=".cells",
            check=lambda u: bool(u.cells) or u.from_metric is not None,
        ),
        CelRule(
            rule=f"!has(self.cells) || size(self.cells) == 0 || (self.cells.map(c, c.share).sum() >= "
            f"{1 - SHARE_TOLERANCE} && self.cells.map(c, c.share).sum() <= {1 + SHARE_TOLERANCE})",
            message=f"spec.users.cells: the shares must sum to 1 (tolerance {SHARE_TOLERANCE})",
            field_path=".cells",
            check=_shares_sum_to_one,
        ),
        CelRule(
            rule="!has(self.cells) || self.cells.all(a, self.cells.exists_one(b, b.cell == a.cell))",
            message="spec.users.cells: each cell may appear only once",
            field_path=".cells",
            check=lambda u: len({c.cell for c in u.cells}) == len(u.cells),
        ),
    )

    cells: list[CellShare] = Field(
        default_factory=list, max_length=MAX_CELLS,
        description="Cells with their share of users; the shares must sum to 1 and each cell appears once. With "
        "fromMetric: the distribution until the metric gives one.",
    )
    from_metric: UsersFromMetric | None = Field(
        default=None,
        description="Measure the distribution instead (users who move: a bus route, a crowd at an event): "
        "status.users shows the one in use.",
    )


class UsersInUse(K8sModel):
    """The user distribution the current placement was solved for (spec.users.fromMetric's, smoothed)."""

    model_config = ConfigDict(extra="ignore")

    cells: list[CellShare] = Field(
        default_factory=list, max_length=MAX_CELLS,
        description="Cells and their share of the users, largest first.",
    )
    read_time: datetime | None = Field(default=None, description="When the metric was read for it.")
    distance: float | None = Field(
        default=None, ge=0, le=1,
        description="Total variation distance from the distribution in use before (how far the users moved).",
    )

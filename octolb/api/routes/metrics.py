"""GET /metrics: the controller's own metrics for Prometheus (octolb extension). Cloud-wide
counts, so the rule `metrics:get` (octolb/api/policy.py) allows admins and global observers
only; in noauth mode the default caller is an admin."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import PlainTextResponse
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from octolb import metrics
from octolb.api import auth, deps
from octolb.db.models import Amphora, LoadBalancer

router = APIRouter()


@router.get("/metrics", response_class=PlainTextResponse)
def get_metrics(session: Session = Depends(deps.db),
                _ctx: auth.Context = Depends(auth.require("metrics:get"))):
    lbs = session.execute(select(LoadBalancer.provisioning_status,
                                 LoadBalancer.operating_status, func.count())
                          .where(LoadBalancer.provisioning_status != "DELETED")
                          .group_by(LoadBalancer.provisioning_status,
                                    LoadBalancer.operating_status)).all()
    amps = session.execute(select(Amphora.status, func.count())
                           .where(Amphora.status != "DELETED")
                           .group_by(Amphora.status)).all()
    gauges = {
        "octolb_load_balancers": (
            "Load balancers by provisioning and operating status.",
            {(("operating_status", o), ("provisioning_status", p)): n for p, o, n in lbs}),
        "octolb_amphorae": ("Amphorae by status.", {(("status", st),): n for st, n in amps}),
    }
    return PlainTextResponse(metrics.render(gauges),
                             media_type="text/plain; version=0.0.4; charset=utf-8")

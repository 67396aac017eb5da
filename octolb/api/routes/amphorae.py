"""/v2/octavia/amphorae (admin): list, show, stats, failover."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from octolb import constants as c
from octolb.api import auth, deps, locking
from octolb.api.errors import Forbidden, NotFound
from octolb.api.query import list_resources, select_fields
from octolb.api.schemas import amphora as schema
from octolb.db.models import Amphora, Listener, ListenerStatistics

router = APIRouter()

COLUMNS = {
    "id": Amphora.id, "loadbalancer_id": Amphora.load_balancer_id,
    "compute_id": Amphora.compute_id, "lb_network_ip": Amphora.lb_network_ip,
    "vrrp_ip": Amphora.vrrp_ip, "ha_ip": Amphora.ha_ip, "role": Amphora.role,
    "status": Amphora.status, "cert_busy": Amphora.cert_busy,
    "created_at": Amphora.created_at, "updated_at": Amphora.updated_at,
}


def _admin(ctx: auth.Context) -> None:
    if not ctx.is_admin:
        raise Forbidden()


def get_amphora(session: Session, amp_id: str) -> Amphora:
    amp = session.get(Amphora, amp_id)
    if amp is None or amp.status == c.DELETED:
        raise NotFound("Amphora", amp_id)
    return amp


@router.get("/amphorae")
def list_amphorae(request: Request, session: Session = Depends(deps.db),
                  ctx: auth.Context = Depends(auth.context)):
    _admin(ctx)
    return list_resources(request, session, Amphora, plural="amphorae", columns=COLUMNS,
                          render=schema.render, where=[Amphora.status != c.DELETED])


@router.get("/amphorae/{amp_id}")
def show_amphora(amp_id: str, request: Request, session: Session = Depends(deps.db),
                 ctx: auth.Context = Depends(auth.context)):
    _admin(ctx)
    return {"amphora": select_fields(schema.render(get_amphora(session, amp_id)), request)}


@router.get("/amphorae/{amp_id}/stats")
def amphora_stats(amp_id: str, session: Session = Depends(deps.db),
                  ctx: auth.Context = Depends(auth.context)):
    _admin(ctx)
    amp = get_amphora(session, amp_id)
    rows = session.execute(
        select(ListenerStatistics, Listener.load_balancer_id)
        .join(Listener, Listener.id == ListenerStatistics.listener_id)
        .where(ListenerStatistics.amphora_id == amp.id)).all()
    if not rows:
        raise NotFound("Amphora stats for", amp_id)
    return {"amphora_stats": [
        {"id": amp.id, "loadbalancer_id": lb_id, "listener_id": st.listener_id,
         "active_connections": st.active_connections, "bytes_in": st.bytes_in,
         "bytes_out": st.bytes_out, "request_errors": st.request_errors,
         "total_connections": st.total_connections} for st, lb_id in rows]}


@router.put("/amphorae/{amp_id}/config", status_code=202)
def configure_amphora(amp_id: str, request: Request, session: Session = Depends(deps.db),
                      ctx: auth.Context = Depends(auth.context)):
    _admin(ctx)
    get_amphora(session, amp_id)
    request.app.state.bus.configure_amphora(amp_id)
    return Response(status_code=202)


@router.put("/amphorae/{amp_id}/failover", status_code=202)
def failover_amphora(amp_id: str, request: Request, session: Session = Depends(deps.db),
                     ctx: auth.Context = Depends(auth.context)):
    _admin(ctx)
    amp = get_amphora(session, amp_id)
    if amp.load_balancer is None:
        raise NotFound("Amphora", amp_id)
    locking.take_lb(session, amp.load_balancer)
    amp.load_balancer.failover_requested = True
    session.commit()
    deps.notify(request, amp.load_balancer_id)
    return Response(status_code=202)

"""/v2/octavia/amphorae (admin): list, show, stats, failover."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from octolb import constants as c
from octolb.api import auth, deps, locking
from octolb.api.errors import Immutable, NotFound
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


def _admin(ctx: auth.Context, action: str, project_id: str | None = None) -> None:
    """`amphora:<action>` (admin by default) for the given project, else the caller's."""
    auth.enforce(ctx, f"amphora:{action}", project_id or ctx.project_id)


def get_amphora(session: Session, amp_id: str) -> Amphora:
    amp = session.get(Amphora, amp_id)
    if amp is None or amp.status == c.DELETED:
        raise NotFound("Amphora", amp_id)
    return amp


@router.get("/amphorae")
def list_amphorae(request: Request, session: Session = Depends(deps.db),
                  ctx: auth.Context = Depends(auth.context)):
    _admin(ctx, "get_all")
    return list_resources(request, session, Amphora, plural="amphorae", columns=COLUMNS,
                          render=schema.render, where=[Amphora.status != c.DELETED])


@router.get("/amphorae/{amp_id}")
def show_amphora(amp_id: str, request: Request, session: Session = Depends(deps.db),
                 ctx: auth.Context = Depends(auth.context)):
    _admin(ctx, "get_one")
    return {"amphora": select_fields(schema.render(get_amphora(session, amp_id)), request)}


@router.get("/amphorae/{amp_id}/stats")
def amphora_stats(amp_id: str, session: Session = Depends(deps.db),
                  ctx: auth.Context = Depends(auth.context)):
    _admin(ctx, "get_stats")
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
    amp = get_amphora(session, amp_id)
    _admin(ctx, "put_config", amp.load_balancer.project_id if amp.load_balancer else None)
    request.app.state.bus.configure_amphora(amp_id)
    return Response(status_code=202)


@router.delete("/amphorae/{amp_id}", status_code=204)
def delete_amphora(amp_id: str, request: Request, session: Session = Depends(deps.db),
                   ctx: auth.Context = Depends(auth.context)):
    """v2.21: only an amphora in ERROR may be deleted; the worker removes it."""
    amp = get_amphora(session, amp_id)
    _admin(ctx, "delete", amp.load_balancer.project_id if amp.load_balancer else None)
    res = session.execute(update(Amphora).where(Amphora.id == amp_id,
                                                Amphora.status == c.ERROR)
                          .values(status=c.PENDING_DELETE)
                          .execution_options(synchronize_session=False))
    if res.rowcount != 1:
        raise Immutable("Amphora", amp_id)
    session.commit()
    request.app.state.bus.delete_amphora(amp_id)
    return Response(status_code=204)


@router.put("/amphorae/{amp_id}/failover", status_code=202)
def failover_amphora(amp_id: str, request: Request, session: Session = Depends(deps.db),
                     ctx: auth.Context = Depends(auth.context)):
    amp = get_amphora(session, amp_id)
    _admin(ctx, "put_failover", amp.load_balancer.project_id if amp.load_balancer else None)
    if amp.load_balancer is None:
        raise NotFound("Amphora", amp_id)
    locking.take_lb(session, amp.load_balancer)
    amp.load_balancer.failover_requested = True
    session.commit()
    deps.notify(request, amp.load_balancer_id)
    return Response(status_code=202)

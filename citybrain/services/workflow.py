"""Taking a step of a case's workflow (``citybrain.workflow.STEPS``): checked against the
declaration, applied, and written to the audit trail, in one transaction.

The order of the checks is the order of the answers: an unknown step is 404; a role that may
not take it, 403 before anything is read; a case outside the caller's view, 404 (row-level
security decides); a case in a status the step is not taken from, 409 naming the steps that
are; an actor who does not hold the case (a responder's step) or who handled it (a check),
403; what the step needs and the request lacks, 400; a team or department that cannot take
the case, an extension asked twice, a second evaluation, 409. A refused step changes nothing.

Writes lock the incident row, then the team rows a step touches in id order (the old and the
new team of a reassignment), before the UPDATE whose tile-version trigger locks rows every
incident write shares: concurrent writers take locks in one order and cannot deadlock, and a
dispatch never puts a team over its capacity however many dispatchers race (a failed check
makes its case active again, full team or not). A merge holds the case it merges into. A step
changes its case in one UPDATE (``sql/workflow/update.sql``): each statement on incidents runs
its triggers.
"""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from citybrain.domain import (
    STATUS_TIMESTAMPS,
    UNCLOSED,
    Actor,
    Role,
    Status,
    Tier,
    why_department_cannot_take,
    why_team_cannot_take,
)
from citybrain.errors import Conflict, Forbidden, InvalidInput, NotFound
from citybrain.people.caller import Caller, Who, acting_as
from citybrain.services import idempotency, photos
from citybrain.sql import load
from citybrain.workflow import NEXT, STEPS, Holder, Need, Step, roles_text

# The body fields each need is met by.
_FIELDS: dict[Need, tuple[str, ...]] = {
    Need.note: ("note",),
    Need.reason: ("reason",),
    Need.photos: ("photos",),
    Need.responder: ("team_id", "department_id"),
    Need.duplicate_of: ("duplicate_of",),
    Need.minutes: ("minutes",),
    Need.satisfaction: ("satisfaction",),
}
_DETAIL = ("reason", "photos", "minutes", "satisfaction", "duplicate_of", "position")
_SPEAKS_FOR_RESPONDERS = (Role.dispatcher, Role.admin)


def step_of(name: str) -> Step:
    step = STEPS.get(name)
    if step is None:
        raise NotFound(f"no step {name!r}; the steps are: {', '.join(STEPS)}")
    return step


def _given(body: dict[str, Any], field: str) -> bool:
    value = body.get(field)
    return value is not None and value != "" and value != []


def check_role(step: Step, role: str) -> None:
    """What can be said before reading the case: whether the role may take the step (403)."""
    if role not in step.roles:
        raise Forbidden(
            f"{step.name} ({step.label}) is taken by {roles_text(step)}; you are {role}",
            step=step.name,
        )


def check_needs(step: Step, body: dict[str, Any]) -> None:
    """Whether the request carries what the step needs (400)."""
    missing = [
        " or ".join(_FIELDS[need])
        for need in step.needs
        if not any(_given(body, f) for f in _FIELDS[need])
    ]
    if missing:
        raise InvalidInput(f"{step.name} ({step.label}) needs {', '.join(missing)}")
    if Need.responder in step.needs and _given(body, "team_id") and _given(body, "department_id"):
        raise InvalidInput(f"{step.name} sends a case to a team_id or a department_id, not both")


async def take(
    conn: AsyncConnection,
    who: Who,
    incident_id: int,
    name: str,
    body: dict[str, Any],
    idempotency_key: str | None = None,
) -> tuple[str, bool]:
    """Take step ``name`` of the case; return the status it is in afterwards, and whether
    this was the step sent before with ``idempotency_key`` (not taken again: the case's
    status now)."""
    step = step_of(name)
    check_role(step, who.actor.role)
    async with acting_as(conn, who.caller):
        if idempotency_key is not None:
            request = {"incident": incident_id, "step": name, **body}
            new, _ = await idempotency.claim(conn, who.actor.name, idempotency_key, request)
            if not new:
                inc = await locked_case(conn, incident_id, lock=False)
                return inc["status"], True
        inc = await locked_case(conn, incident_id)
        status = Status(inc["status"])
        if status not in step.sources:
            after = ", ".join(NEXT[status]) or "none (it is final)"
            raise Conflict(
                f"cannot {step.name} ({step.label}) a case that is {status}; from {status} the "
                f"steps are: {after}",
                status=str(status),
            )
        await _may_act(conn, step, who, inc)
        check_needs(step, body)
        sent = body.get("photos") or []
        await photos.check_own(conn, who.actor.name, sent)
        after = await _apply(conn, step, who.actor, inc, body)
        await photos.attach(conn, who.actor.name, incident_id, sent, name)
        if idempotency_key is not None:
            await idempotency.keep(conn, who.actor.name, idempotency_key, incident_id)
        return after, False


async def locked_case(conn: AsyncConnection, incident_id: int, lock: bool = True) -> dict[str, Any]:
    """The incident (locked, unless ``lock`` is false), if the caller may see its case (404
    otherwise)."""
    cur = conn.cursor(row_factory=dict_row)
    statement = load("incidents/case") + (" FOR UPDATE OF i" if lock else "")
    row = await (await cur.execute(statement, {"id": incident_id})).fetchone()
    seen = await (await conn.execute(load("incidents/visible"), {"id": incident_id})).fetchone()
    if row is None or not seen[0]:
        raise NotFound(f"no incident {incident_id} in your area")
    return row


def holds(caller: Caller, role: str, inc: dict[str, Any]) -> bool:
    """Whether the caller holds the case: a member of its team, a handler of its department."""
    if role == Role.member:
        return inc["team_id"] is not None and inc["team_id"] == caller.team_id
    if role == Role.handler:
        return inc["department_id"] is not None and inc["department_id"] == caller.department_id
    return False


async def _may_act(conn: AsyncConnection, step: Step, who: Who, inc: dict[str, Any]) -> None:
    role = who.actor.role
    if (
        step.holder == Holder.holder
        and role not in _SPEAKS_FOR_RESPONDERS
        and not holds(who.caller, role, inc)
    ):
        holder = (
            f"team {inc['team_id']}"
            if inc["team_id"] is not None
            else f"department {inc['department_id']}"
            if inc["department_id"] is not None
            else "nobody"
        )
        raise Forbidden(
            f"{step.name} ({step.label}) is taken by the case's holder ({holder}) or a "
            f"dispatcher; you do not hold incident {inc['id']}",
            step=step.name,
        )
    if step.holder == Holder.not_handler:
        handled = await (
            await conn.execute(
                load("workflow/handled_by"),
                {"id": inc["id"], "actor": who.actor.name, "failed_check": "fail_check"},
            )
        ).fetchone()
        if handled[0]:
            raise Forbidden(
                f"{step.name} ({step.label}) is taken by someone who did not handle the case; "
                f"{who.actor.name} handled incident {inc['id']}",
                step=step.name,
            )


async def _apply(
    conn: AsyncConnection, step: Step, actor: Actor, inc: dict[str, Any], body: dict[str, Any]
) -> str:
    change: dict[str, Any] = {
        "set_holder": False,
        "team_id": None,
        "department_id": None,
        "register": False,
        "tier": None,
        "merged_into": None,
        "satisfaction": None,
        "supervise": False,
        "extend": 0,
        "set_asked": False,
        "asked": None,
        "accept": False,
        "ask_escalation": None,
        "unresolve": step.name == "fail_check",  # 核查不通过: not resolved after all
        "at": actor.at,
    }
    event: dict[str, Any] = {"team_id": inc["team_id"], "department_id": inc["department_id"]}
    old_team = inc["team_id"]
    name = step.name
    body = await _specifics(conn, name, inc, body, change, event)
    if change["set_holder"]:  # an extension asked by the holder goes with it
        change.update(set_asked=True, asked=None)
    if step.target is not None and old_team is not None and name not in ("dispatch", "reassign"):
        # The team's row before the UPDATE (whose tile-version trigger locks rows every
        # incident write shares): the order dispatch takes them in, so writers cannot deadlock.
        await conn.execute(load("incidents/lock_team"), {"ids": [old_team]})
    target = step.target or Status(inc["status"])
    change["status"] = None if step.target is None else str(step.target)
    change["stamp"] = STATUS_TIMESTAMPS.get(step.target) if step.target is not None else None
    await conn.execute(load("workflow/update"), {"id": inc["id"], **change})
    detail = {k: body[k] for k in _DETAIL if _given(body, k)}
    await event_row(
        conn,
        actor,
        incident_id=inc["id"],
        action=name,
        from_status=inc["status"],
        to_status=str(target),
        note=body.get("note"),
        detail=Jsonb(detail) if detail else None,
        **event,
    )
    if step.target is not None:  # a team's load follows its cases' statuses
        for team in sorted({old_team, change["team_id"]} - {None}):
            await conn.execute(load("incidents/team_load"), {"id": team})
    return str(target)


async def _specifics(
    conn: AsyncConnection,
    name: str,
    inc: dict[str, Any],
    body: dict[str, Any],
    change: dict[str, Any],
    event: dict[str, Any],
) -> dict[str, Any]:
    """What step ``name`` checks and changes beyond its status (into ``change`` and the trail's
    ``event``); the body as the trail records it."""
    if name in ("dispatch", "reassign"):
        await _responder(conn, inc, body, change)
        change["register"] = True
        event.update(team_id=change["team_id"], department_id=change["department_id"])
    elif name == "register":
        change["register"] = True
    elif name == "handle" and body.get("position") and inc["team_id"] is not None:
        lon, lat = body["position"]  # 到场: where the team is now
        at = {"id": inc["team_id"], "lon": lon, "lat": lat, "at": change["at"], "now": change["at"]}
        await conn.execute(load("teams/seen"), at)
    elif name in ("return", "escalate"):
        change.update(set_holder=True)
        if name == "escalate":
            _below_county(inc)
            change["tier"] = str(Tier(inc["tier"]).up())
            event.update(from_tier=inc["tier"], to_tier=change["tier"])
    elif name == "merge":
        change["merged_into"] = await _duplicate_target(conn, inc, body["duplicate_of"])
    elif name == "evaluate":
        if inc["satisfaction"] is not None:
            raise Conflict(
                f"incident {inc['id']} was evaluated already ({inc['satisfaction']})",
                status=inc["status"],
            )
        change["satisfaction"] = str(body["satisfaction"])
    elif name == "supervise":
        change["supervise"] = True
    elif name == "accept":
        if inc["accepted_at"] is not None:
            raise Conflict(
                f"incident {inc['id']} was taken (签收) at {inc['accepted_at'].isoformat()}",
                status=inc["status"],
            )
        change["accept"] = True
    elif name == "ask_escalation":
        if inc["escalation_asked"] is not None:
            raise Conflict(
                f"escalation of incident {inc['id']} is already asked: the dispatcher decides",
                status=inc["status"],
            )
        _below_county(inc)
        change["ask_escalation"] = body["reason"]
    elif name == "ask_extension":
        if inc["extension_asked"] is not None:
            raise Conflict(
                f"an extension of {inc['extension_asked']} minutes is already asked for "
                f"incident {inc['id']}: it is approved or refused first",
                status=inc["status"],
            )
        change.update(set_asked=True, asked=int(body["minutes"]))
    elif name in ("approve_extension", "refuse_extension"):
        if inc["extension_asked"] is None:
            raise Conflict(f"no extension is asked for incident {inc['id']}", status=inc["status"])
        change.update(set_asked=True, asked=None)
        if name == "approve_extension":
            change["extend"] = inc["extension_asked"]
            body = {**body, "minutes": inc["extension_asked"]}
    return body


def _below_county(inc: dict[str, Any]) -> None:
    """409 for a case at the county tier: there is no tier above it to escalate to."""
    if inc["tier"] == Tier.county:
        raise Conflict(f"incident {inc['id']} is already at the county tier", status="county")


def department_refusal(dept: dict[str, Any], inc: dict[str, Any]) -> str | None:
    """Why a department (a ``departments`` row) cannot take a case (a ``case.sql`` row), or
    None: ``domain.why_department_cannot_take`` on their columns."""
    return why_department_cannot_take(
        dept["kind"],
        dept["town_id"],
        dept["categories"],
        inc["town_id"],
        inc["category"],
        inc["tier"],
    )


async def _responder(
    conn: AsyncConnection, inc: dict[str, Any], body: dict[str, Any], change: dict[str, Any]
) -> None:
    """Check that the team or department named can take the case; set it as its holder."""
    change["set_holder"] = True
    team_id, department_id = body.get("team_id"), body.get("department_id")
    if department_id is not None:
        if inc["department_id"] == department_id:
            raise Conflict(f"incident {inc['id']} is already with department {department_id}")
        cur = conn.cursor(row_factory=dict_row)
        dept = await (
            await cur.execute(load("workflow/department"), {"id": department_id})
        ).fetchone()
        if dept is None:
            raise NotFound(f"no department {department_id}")
        why = department_refusal(dept, inc)
        if why is not None:
            raise Conflict(
                f"department {department_id} ({dept['name']}) {why}", department_id=department_id
            )
        change["department_id"] = department_id
        if inc["team_id"] is not None:  # its old team is released: lock it first
            await conn.execute(load("incidents/lock_team"), {"ids": [inc["team_id"]]})
        return
    cur = conn.cursor(row_factory=dict_row)
    ids = sorted({team_id, inc["team_id"]} - {None})
    locked = await (await cur.execute(load("incidents/lock_team"), {"ids": ids})).fetchall()
    team = next((t for t in locked if t["id"] == team_id), None)
    if team is None:
        raise NotFound(f"no team {team_id}")
    if inc["team_id"] == team_id:
        raise Conflict(f"incident {inc['id']} is already with team {team_id}")
    active = await (await conn.execute(load("incidents/active"), {"id": team_id})).fetchone()
    why = why_team_cannot_take(
        team["status"], team["skills"], active[0], team["capacity"], inc["category"]
    )
    if why is not None:
        raise Conflict(f"team {team_id} {why}", team_id=team_id)
    change["team_id"] = team_id


async def _duplicate_target(conn: AsyncConnection, inc: dict[str, Any], target: int) -> int:
    if target == inc["id"]:
        raise Conflict(f"incident {inc['id']} cannot duplicate itself")
    cur = conn.cursor(row_factory=dict_row)
    other = await (await cur.execute(load("workflow/duplicate_target"), {"id": target})).fetchone()
    if other is None:
        raise NotFound(f"no incident {target} in your area")
    if other["status"] not in UNCLOSED:
        raise Conflict(
            f"incident {target} is {other['status']}: a report merges into an unclosed case",
            status=other["status"],
        )
    if other["category"] != inc["category"]:
        raise Conflict(
            f"incident {target} is {other['category']}, this report {inc['category']}: a "
            "duplicate is of the same category"
        )
    return target


async def event_row(conn: AsyncConnection, actor: Actor, **fields: Any) -> None:
    """Append a step to the audit trail, with its actor."""
    row = {
        "from_status": None,
        "to_status": None,
        "from_tier": None,
        "to_tier": None,
        "team_id": None,
        "department_id": None,
        "note": None,
        "detail": None,
        **fields,
    }
    await conn.execute(
        load("incidents/event"), {"actor": actor.name, "role": actor.role, "at": actor.at, **row}
    )

"""The case workflow, declared once: its steps, the statuses each may be taken from and leads
to, who may take it, and what it needs. The service (``services.workflow``) takes every step
through this table, the API lists it (``GET /workflow``) and docs/workflow.md describes it.

The county's closed loop (GB/T 30428's 信息收集 → 案卷建立 → 任务派遣 → 任务处理 → 处理反馈 →
核查结案 → 综合评价)::

    reported ─register─▶ registered ─dispatch─▶ dispatched ─handle─▶ on_site ─report_done─▶
    resolved ─verify─▶ checked ─close─▶ closed ─evaluate─▶ (closed, with a satisfaction)

with ``reject`` and ``merge`` beside registration, ``fail_check`` (resolved → on_site),
``return`` (a responder hands back a case that is not its own: → registered), ``reassign``,
``escalate`` (a tier up: → escalated, dispatched again there) and the holder's
``ask_escalation`` (申请上报), ``accept`` (签收: the holder has it), ``supervise`` (督办),
``ask_extension`` / ``approve_extension`` / ``refuse_extension`` (延期).

Who may take a step is said by roles and, for the responders' steps, by holding the case: a
member of the team it was sent to, or a handler of the department. Dispatchers and admins may
take a responder's step for it (a phone call to the command centre), and the audit trail
records who did.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from citybrain.domain import IN_HAND, Role, Status


class Need(StrEnum):
    """What a step needs besides the case."""

    note = "note"  # what was done or found (反馈, 督办)
    reason = "reason"  # why (退回, 不予立案, 核查不通过, 延期)
    photos = "photos"  # at least one photo (核查): references the field app uploaded
    responder = "responder"  # a team_id or a department_id (派遣, 转办)
    duplicate_of = "duplicate_of"  # the open case it duplicates (并案)
    minutes = "minutes"  # how much more time (延期)
    satisfaction = "satisfaction"  # the reporter's verdict (评价)


class Holder(StrEnum):
    """How the actor must stand to the case, beyond their role."""

    anyone = "anyone"  # the role is enough (and row-level security: the case is in their view)
    holder = "holder"  # a member of its team or a handler of its department (or a dispatcher)
    not_handler = "not_handler"  # anyone who did not handle it (核查: checked by another)


_DISPATCH = frozenset({Role.dispatcher, Role.admin})
_RESPONDERS = frozenset({Role.member, Role.handler, Role.dispatcher, Role.admin})
# Open for the steps that keep a case where it is (supervision, extensions, escalation).
_HELD = frozenset(IN_HAND)
_OPEN = frozenset(
    {Status.reported, Status.registered, Status.dispatched, Status.on_site, Status.escalated}
)


@dataclass(frozen=True)
class Step:
    name: str
    label: str  # its Chinese name, as the county says it
    sources: frozenset[Status]
    target: Status | None  # None: the status stays
    roles: frozenset[Role]
    needs: tuple[Need, ...] = ()
    holder: Holder = Holder.anyone
    description: str = ""


STEPS: dict[str, Step] = {
    s.name: s
    for s in (
        Step(
            "register",
            "立案",
            frozenset({Status.reported}),
            Status.registered,
            _DISPATCH,
            description="accept a report as a case",
        ),
        Step(
            "reject",
            "不予立案",
            frozenset({Status.reported}),
            Status.rejected,
            _DISPATCH,
            (Need.reason,),
            description="refuse a report as out of scope, saying why",
        ),
        Step(
            "merge",
            "并案",
            frozenset({Status.reported}),
            Status.merged,
            _DISPATCH,
            (Need.duplicate_of,),
            description="merge a report into an unclosed case of its category as a duplicate",
        ),
        Step(
            "dispatch",
            "派遣",
            frozenset({Status.reported, Status.registered, Status.escalated}),
            Status.dispatched,
            _DISPATCH,
            (Need.responder,),
            description="send to a grid team or a department (a report is registered with it)",
        ),
        Step(
            "reassign",
            "转办",
            _HELD,
            Status.dispatched,
            _DISPATCH,
            (Need.responder,),
            description="send a dispatched case to another team or department",
        ),
        Step(
            "return",
            "退回",
            _HELD,
            Status.registered,
            _RESPONDERS,
            (Need.reason,),
            Holder.holder,
            "hand a case that is not its own back to the dispatcher, saying why",
        ),
        Step(
            "accept",
            "签收",
            frozenset({Status.dispatched}),
            None,
            _RESPONDERS,
            (),
            Holder.holder,
            "take the case sent: its holder has it in hand (once per holder)",
        ),
        Step(
            "handle",
            "处置",
            frozenset({Status.dispatched}),
            Status.on_site,
            _RESPONDERS,
            (),
            Holder.holder,
            "start handling on site (到场: the field app sends the position, lon and lat)",
        ),
        Step(
            "report_done",
            "反馈",
            frozenset({Status.on_site}),
            Status.resolved,
            _RESPONDERS,
            (Need.note,),
            Holder.holder,
            "report it done, with a note and photos",
        ),
        Step(
            "verify",
            "核查",
            frozenset({Status.resolved}),
            Status.checked,
            _RESPONDERS,
            (Need.photos,),
            Holder.not_handler,
            "check on the ground that it is done, with a photo (not by who handled it)",
        ),
        Step(
            "fail_check",
            "核查不通过",
            frozenset({Status.resolved}),
            Status.on_site,
            _RESPONDERS,
            (Need.reason,),
            Holder.not_handler,
            "find on the ground that it is not done: back to its handler",
        ),
        Step(
            "close",
            "结案",
            frozenset({Status.checked}),
            Status.closed,
            _DISPATCH,
            description="close a checked case",
        ),
        Step(
            "evaluate",
            "评价",
            frozenset({Status.closed}),
            None,
            _DISPATCH,
            (Need.satisfaction,),
            description="record the reporter's satisfaction from the return visit (回访), once",
        ),
        Step(
            "escalate",
            "上报",
            _OPEN,
            Status.escalated,
            _DISPATCH,
            description="hand a case a tier up (village → town → county), releasing its holder",
        ),
        Step(
            "ask_escalation",
            "申请上报",
            _HELD,
            None,
            _RESPONDERS,
            (Need.reason,),
            Holder.holder,
            "ask the dispatcher to escalate it a tier, saying why (once, until escalated)",
        ),
        Step(
            "supervise",
            "督办",
            _OPEN | {Status.resolved, Status.checked},
            None,
            frozenset({Role.leader, Role.dispatcher, Role.admin}),
            (Need.note,),
            description="flag a case for attention, with a note",
        ),
        Step(
            "ask_extension",
            "延期申请",
            _HELD,
            None,
            _RESPONDERS,
            (Need.minutes, Need.reason),
            Holder.holder,
            "ask for more time to resolve it (minutes of its limit's kind), saying why",
        ),
        Step(
            "approve_extension",
            "延期批准",
            _HELD,
            None,
            _DISPATCH,
            description="grant the extension asked: the resolution limit grows by it",
        ),
        Step(
            "refuse_extension",
            "延期驳回",
            _HELD,
            None,
            _DISPATCH,
            (Need.reason,),
            description="refuse the extension asked, saying why",
        ),
    )
}

# The statuses a step leads to, per status: what the 409 of a wrong step lists.
NEXT: dict[Status, tuple[str, ...]] = {
    status: tuple(name for name, step in STEPS.items() if status in step.sources)
    for status in Status
}


def roles_text(step: Step) -> str:
    names = [str(r) for r in Role if r in step.roles]
    return ", ".join(names[:-1]) + (" or " if len(names) > 1 else "") + names[-1]


def declared() -> list[dict]:
    """The workflow as the API lists it."""
    return [
        {
            "step": s.name,
            "label": s.label,
            "from": sorted(s.sources),
            "to": s.target,
            "roles": [str(r) for r in Role if r in s.roles],
            "needs": [str(n) for n in s.needs],
            "holder": str(s.holder),
            "description": s.description,
        }
        for s in STEPS.values()
    ]

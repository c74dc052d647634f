-- One step's change to its case, in one statement (each statement on incidents runs its
-- triggers: tile versions, announcements, the case file's scope): the status it leads to
-- (%(status)s; NULL: it stays), the time stamped the first time that status is reached
-- (%(stamp)s: its column, domain.STATUS_TIMESTAMPS), and what else the step gives; each
-- column set only when the step gives it (the workflow service says which). A new holder
-- (or none) has not taken the case (accepted_at) nor asked for escalation.
UPDATE citybrain.incidents SET
    status = coalesce(%(status)s, status),
    registered_at = CASE WHEN %(register)s OR %(stamp)s = 'registered_at'
                         THEN coalesce(registered_at, %(at)s) ELSE registered_at END,
    dispatched_at = CASE WHEN %(stamp)s = 'dispatched_at'
                         THEN coalesce(dispatched_at, %(at)s) ELSE dispatched_at END,
    on_site_at = CASE WHEN %(stamp)s = 'on_site_at'
                      THEN coalesce(on_site_at, %(at)s) ELSE on_site_at END,
    -- (a failed check, %(unresolve)s: it was not resolved after all; stamped again when it is)
    resolved_at = CASE WHEN %(unresolve)s THEN NULL
                       WHEN %(stamp)s = 'resolved_at'
                       THEN coalesce(resolved_at, %(at)s) ELSE resolved_at END,
    checked_at = CASE WHEN %(stamp)s = 'checked_at'
                      THEN coalesce(checked_at, %(at)s) ELSE checked_at END,
    closed_at = CASE WHEN %(stamp)s = 'closed_at'
                     THEN coalesce(closed_at, %(at)s) ELSE closed_at END,
    escalated_at = CASE WHEN %(stamp)s = 'escalated_at'
                        THEN coalesce(escalated_at, %(at)s) ELSE escalated_at END,
    team_id = CASE WHEN %(set_holder)s THEN %(team_id)s ELSE team_id END,
    department_id = CASE WHEN %(set_holder)s THEN %(department_id)s ELSE department_id END,
    tier = coalesce(%(tier)s, tier),
    merged_into = coalesce(%(merged_into)s, merged_into),
    satisfaction = coalesce(%(satisfaction)s, satisfaction),
    supervised_at = CASE WHEN %(supervise)s THEN %(at)s ELSE supervised_at END,
    extension_minutes = extension_minutes + %(extend)s,
    accepted_at = CASE WHEN %(set_holder)s THEN NULL
                       WHEN %(accept)s THEN coalesce(accepted_at, %(at)s) ELSE accepted_at END,
    escalation_asked = CASE WHEN %(set_holder)s THEN NULL
                            ELSE coalesce(%(ask_escalation)s, escalation_asked) END,
    extension_asked = CASE WHEN %(set_asked)s THEN %(asked)s ELSE extension_asked END,
    updated_at = %(at)s
WHERE id = %(id)s

// Package auth is backupbot's policy: who may request, approve and break the
// glass for which account. It parses the policy file strictly and decides
// with pure functions; the only outside input is user group membership,
// asked of an injected GroupLookup. It fails closed: anything the file does
// not allow is denied, and so is any decision that needs a group lookup that
// fails.
//
// # File format
//
//	approval_timeout: 30m              # Go duration; default 30m
//	audit_channel: C0BACKUPAUDIT       # optional: break-glass uses and approval decisions are announced here (C…/G…)
//	accounts:                          # required, at least one; file order is kept
//	  prod:                            # the <account> word users type (letters, digits, - _; any case)
//	    client: aws-prod-account       # Commvault clientName; default: the key
//	    requesters: [S01ONCALL, U01ALICE]  # required: user IDs (U…/W…), user group IDs (S…), or ["*"] for anyone
//	    approvers: [S02SRELEADS]       # optional: every request needs one approval from here; no "*"
//	    channels: [C01OPS]             # optional: requests only from these channels (C…/G…)
//	    tablegroups: [orders, payments]  # optional: only these table groups; default all
//	    levels: [full]                 # optional: subset of [full, incremental]; default both
//	    require_reason: true           # optional: a reason is mandatory; default false
//	    breakglass: [S01ONCALL]        # optional: may use /backup emergency (needs approvers; no "*")
//	    approval_timeout: 1h           # optional: overrides the top-level value (needs approvers)
//	  staging:
//	    requesters: ["*"]
//	groups:                            # optional: static membership for the console and tests
//	  S01ONCALL: [U01ALICE, U02BOB]
//	  S02SRELEADS: [U03CAROL]
//
// Unknown keys, duplicate keys, wrong types, malformed Slack IDs, "*" outside
// requesters, empty lists (omit the key instead), an account without
// requesters, account names that differ only by case, non-positive or
// unit-less durations, unknown levels, breakglass or approval_timeout on
// an account without approvers, and two accounts on one Commvault client
// that cover a table group in common under different approvers,
// breakglass, channels, levels or require_reason (whoever may use the
// weaker would skip the stronger's rules) are all errors, reported with
// the file, line and field path:
//
//	policy.yaml:12: accounts.prod.aprovers: unknown field (did you mean "approvers"?)
//
// # Decisions
//
// CheckRequest, CheckBreakglass, CheckApprove, CheckView (a table group's
// history), CheckCancel (withdrawing a request, killing its job) and
// CheckRecorded (a recorded request, again, before it runs) return
// a Decision whose Rule names the rule that decided; each method's documentation gives the order
// in which rules apply. A user is in a list when the list holds the user's
// ID, or "*" (requesters only), or a user group (S…) that GroupLookup says
// has the user. Nobody may approve their own request.
package auth

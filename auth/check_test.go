package auth

import (
	"context"
	"errors"
	"testing"
)

// testPolicy has one account of each kind the decision table covers.
const testPolicy = `
accounts:
  sandbox:       # "*" requesters; no approvers, channels, tablegroups, levels, reason
    requesters: ["*"]
  staging:       # group requesters only; no approvers
    requesters: [S01ONCALL]
  prod:          # every restriction
    requesters: [S01ONCALL, U05ERIN]
    approvers: [S02SRELEADS, S04DBAS, U06FRANK]
    channels: [C01OPS]
    tablegroups: [orders, payments]
    levels: [full]
    require_reason: true
    breakglass: [S01ONCALL, U09GRACE]
  analytics:     # approvers (one of them also a requester); no other limit
    requesters: [U05ERIN, U06FRANK]
    approvers: [U06FRANK, S02SRELEADS]
  billing:       # breakglass on an account that does not require a reason
    requesters: [U05ERIN]
    approvers: [U06FRANK]
    breakglass: [U05ERIN]
groups:
  S01ONCALL: [U02BOB]
  S02SRELEADS: [U03CAROL]
  S04DBAS: [U08HEIDI]
`

// The kinds of user in the decision table.
const (
	erin   = "U05ERIN"   // a requester by ID (prod, analytics, billing); break-glass on billing
	bob    = "U02BOB"    // a requester through S01ONCALL (staging, prod); break-glass on prod through it
	nobody = "U07NOBODY" // in no list and no group: only "*" lets them in
	carol  = "U03CAROL"  // an approver through S02SRELEADS (prod, analytics)
	frank  = "U06FRANK"  // an approver by ID (prod, analytics, billing); requester on analytics
	heidi  = "U08HEIDI"  // an approver through S04DBAS (prod)
	grace  = "U09GRACE"  // break-glass by ID on prod, nothing else

	ops    = "C01OPS"
	random = "C09RANDOM"
)

var errLookup = errors.New("usergroups.users.list: ratelimited")

// brokenGroups fails the lookup of the groups in fail (every group when fail
// is nil) and answers the others from Policy.Groups.
type brokenGroups struct {
	fail map[string]bool
	ok   GroupLookup
}

func (b brokenGroups) Members(ctx context.Context, id string) ([]string, error) {
	if b.fail == nil || b.fail[id] {
		return nil, errLookup
	}
	return b.ok.Members(ctx, id)
}

// lookupKind names the GroupLookup a case runs with.
type lookupKind int

const (
	lookupOK      lookupKind = iota // StaticGroups(Policy.Groups)
	lookupBroken                    // every lookup fails
	lookupPartial                   // only S04DBAS fails
	lookupNone                      // nil GroupLookup
)

func mustParse(t *testing.T) (*Policy, func(lookupKind) GroupLookup) {
	t.Helper()
	p, err := Parse("policy.yaml", []byte(testPolicy))
	if err != nil {
		t.Fatalf("Parse(testPolicy): %v", err)
	}
	static := StaticGroups(p.Groups)
	return p, func(k lookupKind) GroupLookup {
		switch k {
		case lookupBroken:
			return brokenGroups{ok: static}
		case lookupPartial:
			return brokenGroups{fail: map[string]bool{"S04DBAS": true}, ok: static}
		case lookupNone:
			return nil
		}
		return static
	}
}

// targetCase is one cell of the request and break-glass tables.
type targetCase struct {
	name      string
	lookup    lookupKind
	user      string
	channel   string
	account   string
	group     string // table group
	level     string
	reason    string
	wantAllow bool
	wantRule  string
}

func TestCheckRequest(t *testing.T) {
	tests := []targetCase{
		// sandbox: "*" lets anyone in, without a lookup.
		{name: "sandbox/direct requester elsewhere", user: erin, channel: random, account: "sandbox", group: "anything", level: "incremental", wantAllow: true, wantRule: "requesters"},
		{name: "sandbox/group member", user: bob, channel: random, account: "sandbox", group: "orders", level: "full", wantAllow: true, wantRule: "requesters"},
		{name: "sandbox/anyone", user: nobody, channel: random, account: "sandbox", group: "orders", level: "full", wantAllow: true, wantRule: "requesters"},
		{name: "sandbox/approver", user: carol, channel: ops, account: "sandbox", group: "orders", level: "full", wantAllow: true, wantRule: "requesters"},
		{name: "sandbox/breakglass member", user: grace, channel: ops, account: "sandbox", group: "orders", level: "full", wantAllow: true, wantRule: "requesters"},
		{name: "sandbox/lookup error needs no lookup", lookup: lookupBroken, user: nobody, channel: random, account: "sandbox", group: "orders", level: "full", wantAllow: true, wantRule: "requesters"},
		{name: "sandbox/no user", user: "", channel: random, account: "sandbox", group: "orders", level: "full", wantRule: "requesters"},
		{name: "sandbox/unknown level", user: nobody, channel: random, account: "sandbox", group: "orders", level: "differential", wantRule: "levels"},
		{name: "sandbox/no table group", user: nobody, channel: random, account: "sandbox", group: "", level: "full", wantRule: "tablegroups"},

		// staging: a group is the only way in.
		{name: "staging/direct requester elsewhere", user: erin, channel: ops, account: "staging", group: "orders", level: "full", wantRule: "requesters"},
		{name: "staging/group member", user: bob, channel: random, account: "staging", group: "sessions", level: "incremental", wantAllow: true, wantRule: "requesters"},
		{name: "staging/non-member", user: nobody, channel: ops, account: "staging", group: "orders", level: "full", wantRule: "requesters"},
		{name: "staging/approver", user: carol, channel: ops, account: "staging", group: "orders", level: "full", wantRule: "requesters"},
		{name: "staging/breakglass member", user: grace, channel: ops, account: "staging", group: "orders", level: "full", wantRule: "requesters"},
		{name: "staging/lookup error denies member", lookup: lookupBroken, user: bob, channel: ops, account: "staging", group: "orders", level: "full", wantRule: "group-lookup"},
		{name: "staging/lookup error denies non-member", lookup: lookupBroken, user: nobody, channel: ops, account: "staging", group: "orders", level: "full", wantRule: "group-lookup"},
		{name: "staging/no lookup configured", lookup: lookupNone, user: bob, channel: ops, account: "staging", group: "orders", level: "full", wantRule: "group-lookup"},

		// prod: every restriction.
		{name: "prod/direct requester", user: erin, channel: ops, account: "prod", group: "orders", level: "full", reason: "INC-4711", wantAllow: true, wantRule: "requesters"},
		{name: "prod/group member", user: bob, channel: ops, account: "prod", group: "payments", level: "full", reason: "INC-4711", wantAllow: true, wantRule: "requesters"},
		{name: "prod/non-member", user: nobody, channel: ops, account: "prod", group: "orders", level: "full", reason: "INC-4711", wantRule: "requesters"},
		{name: "prod/group approver", user: carol, channel: ops, account: "prod", group: "orders", level: "full", reason: "INC-4711", wantRule: "requesters"},
		{name: "prod/direct approver", user: frank, channel: ops, account: "prod", group: "orders", level: "full", reason: "INC-4711", wantRule: "requesters"},
		{name: "prod/breakglass member", user: grace, channel: ops, account: "prod", group: "orders", level: "full", reason: "INC-4711", wantRule: "requesters"},
		{name: "prod/lookup error, listed by ID", lookup: lookupBroken, user: erin, channel: ops, account: "prod", group: "orders", level: "full", reason: "INC-4711", wantAllow: true, wantRule: "requesters"},
		{name: "prod/lookup error, group member", lookup: lookupBroken, user: bob, channel: ops, account: "prod", group: "orders", level: "full", reason: "INC-4711", wantRule: "group-lookup"},
		{name: "prod/other channel", user: erin, channel: random, account: "prod", group: "orders", level: "full", reason: "INC-4711", wantRule: "channels"},
		{name: "prod/no channel", user: erin, channel: "", account: "prod", group: "orders", level: "full", reason: "INC-4711", wantRule: "channels"},
		{name: "prod/direct message", user: erin, channel: "D01ERIN", account: "prod", group: "orders", level: "full", reason: "INC-4711", wantRule: "channels"},
		{name: "prod/table group not listed", user: erin, channel: ops, account: "prod", group: "inventory", level: "full", reason: "INC-4711", wantRule: "tablegroups"},
		{name: "prod/table group in other case", user: erin, channel: ops, account: "prod", group: "ORDERS", level: "full", reason: "INC-4711", wantAllow: true, wantRule: "requesters"},
		{name: "prod/no table group", user: erin, channel: ops, account: "prod", group: "", level: "full", reason: "INC-4711", wantRule: "tablegroups"},
		{name: "prod/level not allowed", user: erin, channel: ops, account: "prod", group: "orders", level: "incremental", reason: "INC-4711", wantRule: "levels"},
		{name: "prod/level in upper case", user: erin, channel: ops, account: "prod", group: "orders", level: "FULL", reason: "INC-4711", wantAllow: true, wantRule: "requesters"},
		{name: "prod/no level", user: erin, channel: ops, account: "prod", group: "orders", level: "", reason: "INC-4711", wantRule: "levels"},
		{name: "prod/no reason", user: erin, channel: ops, account: "prod", group: "orders", level: "full", reason: "", wantRule: "require_reason"},
		{name: "prod/blank reason", user: erin, channel: ops, account: "prod", group: "orders", level: "full", reason: " \t ", wantRule: "require_reason"},
		{name: "prod/account in upper case", user: erin, channel: ops, account: "PROD", group: "orders", level: "full", reason: "INC-4711", wantAllow: true, wantRule: "requesters"},

		// Order: who, then where, then what, then why.
		{name: "order/non-member in wrong channel", user: nobody, channel: random, account: "prod", group: "inventory", level: "incremental", wantRule: "requesters"},
		{name: "order/channel before table group", user: erin, channel: random, account: "prod", group: "inventory", level: "incremental", wantRule: "channels"},
		{name: "order/table group before level", user: erin, channel: ops, account: "prod", group: "inventory", level: "incremental", wantRule: "tablegroups"},
		{name: "order/level before reason", user: erin, channel: ops, account: "prod", group: "orders", level: "incremental", wantRule: "levels"},

		// analytics: approvers, but no other limit and no reason needed.
		{name: "analytics/direct requester", user: erin, channel: random, account: "analytics", group: "events", level: "incremental", wantAllow: true, wantRule: "requesters"},
		{name: "analytics/requester who is an approver", user: frank, channel: random, account: "analytics", group: "events", level: "full", wantAllow: true, wantRule: "requesters"},
		{name: "analytics/approver only", user: carol, channel: random, account: "analytics", group: "events", level: "full", wantRule: "requesters"},
		{name: "analytics/lookup error, listed by ID", lookup: lookupBroken, user: erin, channel: random, account: "analytics", group: "events", level: "full", wantAllow: true, wantRule: "requesters"},

		// Unknown accounts.
		{name: "unknown account", user: erin, channel: ops, account: "qa", group: "orders", level: "full", reason: "x", wantRule: "unknown-account"},
		{name: "no account", user: erin, channel: ops, account: "", group: "orders", level: "full", reason: "x", wantRule: "unknown-account"},
	}
	p, lookup := mustParse(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Subject{User: tt.user, Channel: tt.channel}
			tg := Target{Account: tt.account, TableGroup: tt.group, Level: tt.level, Reason: tt.reason}
			d := p.CheckRequest(context.Background(), lookup(tt.lookup), s, tg)
			if d.Allow != tt.wantAllow || d.Rule != tt.wantRule || d.Reason == "" {
				t.Errorf("CheckRequest(%+v, %+v) = %+v, want Allow %v Rule %q with a reason", s, tg, d, tt.wantAllow, tt.wantRule)
			}
			checkLookupErr(t, d)
		})
	}
}

func TestCheckBreakglass(t *testing.T) {
	tests := []targetCase{
		{name: "prod/direct member", user: grace, channel: ops, account: "prod", group: "orders", level: "full", reason: "outage", wantAllow: true, wantRule: "breakglass"},
		{name: "prod/group member", user: bob, channel: ops, account: "prod", group: "payments", level: "full", reason: "outage", wantAllow: true, wantRule: "breakglass"},
		{name: "prod/requester not in breakglass", user: erin, channel: ops, account: "prod", group: "orders", level: "full", reason: "outage", wantRule: "breakglass"},
		{name: "prod/non-member", user: nobody, channel: ops, account: "prod", group: "orders", level: "full", reason: "outage", wantRule: "breakglass"},
		{name: "prod/group approver", user: carol, channel: ops, account: "prod", group: "orders", level: "full", reason: "outage", wantRule: "breakglass"},
		{name: "prod/direct approver", user: frank, channel: ops, account: "prod", group: "orders", level: "full", reason: "outage", wantRule: "breakglass"},
		{name: "prod/lookup error, listed by ID", lookup: lookupBroken, user: grace, channel: ops, account: "prod", group: "orders", level: "full", reason: "outage", wantAllow: true, wantRule: "breakglass"},
		{name: "prod/lookup error, group member", lookup: lookupBroken, user: bob, channel: ops, account: "prod", group: "orders", level: "full", reason: "outage", wantRule: "group-lookup"},
		{name: "prod/lookup error, non-member", lookup: lookupBroken, user: nobody, channel: ops, account: "prod", group: "orders", level: "full", reason: "outage", wantRule: "group-lookup"},
		{name: "prod/no reason", user: grace, channel: ops, account: "prod", group: "orders", level: "full", reason: "", wantRule: "require_reason"},
		{name: "prod/other channel", user: grace, channel: random, account: "prod", group: "orders", level: "full", reason: "outage", wantRule: "channels"},
		{name: "prod/table group not listed", user: grace, channel: ops, account: "prod", group: "inventory", level: "full", reason: "outage", wantRule: "tablegroups"},
		{name: "prod/level not allowed", user: grace, channel: ops, account: "prod", group: "orders", level: "incremental", reason: "outage", wantRule: "levels"},
		{name: "prod/no user", user: "", channel: ops, account: "prod", group: "orders", level: "full", reason: "outage", wantRule: "breakglass"},
		{name: "billing/reason required though require_reason is false", user: erin, channel: random, account: "billing", group: "invoices", level: "full", reason: "", wantRule: "require_reason"},
		{name: "billing/with reason", user: erin, channel: random, account: "billing", group: "invoices", level: "incremental", reason: "outage", wantAllow: true, wantRule: "breakglass"},
		{name: "billing/approver", user: frank, channel: random, account: "billing", group: "invoices", level: "full", reason: "outage", wantRule: "breakglass"},
		{name: "sandbox/anyone may request but nobody break the glass", user: nobody, channel: random, account: "sandbox", group: "orders", level: "full", reason: "outage", wantRule: "breakglass"},
		{name: "staging/group member, no breakglass", user: bob, channel: random, account: "staging", group: "orders", level: "full", reason: "outage", wantRule: "breakglass"},
		{name: "analytics/requester, no breakglass", user: erin, channel: random, account: "analytics", group: "events", level: "full", reason: "outage", wantRule: "breakglass"},
		{name: "unknown account", user: grace, channel: ops, account: "qa", group: "orders", level: "full", reason: "outage", wantRule: "unknown-account"},
	}
	p, lookup := mustParse(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Subject{User: tt.user, Channel: tt.channel}
			tg := Target{Account: tt.account, TableGroup: tt.group, Level: tt.level, Reason: tt.reason}
			d := p.CheckBreakglass(context.Background(), lookup(tt.lookup), s, tg)
			if d.Allow != tt.wantAllow || d.Rule != tt.wantRule || d.Reason == "" {
				t.Errorf("CheckBreakglass(%+v, %+v) = %+v, want Allow %v Rule %q with a reason", s, tg, d, tt.wantAllow, tt.wantRule)
			}
			checkLookupErr(t, d)
		})
	}
}

// checkLookupErr asserts that a group-lookup denial, and only that, carries
// the lookup error.
func checkLookupErr(t *testing.T, d Decision) {
	t.Helper()
	if (d.Rule == RuleGroupLookup) != (d.Err != nil) {
		t.Errorf("Decision %+v: Err must be set exactly for group-lookup", d)
	}
	if d.Allow && d.Err != nil {
		t.Errorf("Decision %+v allows with an error", d)
	}
}

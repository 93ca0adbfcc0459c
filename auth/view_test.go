package auth

import (
	"context"
	"testing"
)

func TestCheckView(t *testing.T) {
	tests := []struct {
		name      string
		lookup    lookupKind
		user      string
		channel   string
		account   string
		group     string
		wantAllow bool
		wantRule  string
	}{
		// prod: requesters [S01ONCALL, U05ERIN], approvers [S02SRELEADS, S04DBAS, U06FRANK],
		// channels [C01OPS], tablegroups [orders, payments], breakglass [S01ONCALL, U09GRACE].
		{name: "prod/direct requester", user: erin, channel: ops, account: "prod", group: "orders", wantAllow: true, wantRule: "view"},
		{name: "prod/group requester", user: bob, channel: ops, account: "prod", group: "payments", wantAllow: true, wantRule: "view"},
		{name: "prod/direct approver", user: frank, channel: ops, account: "prod", group: "orders", wantAllow: true, wantRule: "view"},
		{name: "prod/group approver", user: carol, channel: ops, account: "prod", group: "orders", wantAllow: true, wantRule: "view"},
		{name: "prod/table group in other case", user: carol, channel: ops, account: "PROD", group: "Orders", wantAllow: true, wantRule: "view"},
		{name: "prod/breakglass member only", user: grace, channel: ops, account: "prod", group: "orders", wantRule: "view"},
		{name: "prod/non-member", user: nobody, channel: ops, account: "prod", group: "orders", wantRule: "view"},
		{name: "prod/no user", user: "", channel: ops, account: "prod", group: "orders", wantRule: "view"},
		{name: "prod/requester, wrong channel", user: erin, channel: random, account: "prod", group: "orders", wantRule: "channels"},
		{name: "prod/approver, wrong channel", user: frank, channel: random, account: "prod", group: "orders", wantRule: "channels"},
		{name: "prod/table group outside the policy", user: erin, channel: ops, account: "prod", group: "inventory", wantRule: "tablegroups"},
		{name: "prod/no table group", user: erin, channel: ops, account: "prod", group: "", wantRule: "tablegroups"},
		{name: "prod/non-member, table group outside the policy: who comes first", user: nobody, channel: ops, account: "prod", group: "inventory", wantRule: "view"},
		{name: "prod/lookup error, requester by ID", lookup: lookupBroken, user: erin, channel: ops, account: "prod", group: "orders", wantAllow: true, wantRule: "view"},
		{name: "prod/lookup error, approver by ID", lookup: lookupBroken, user: frank, channel: ops, account: "prod", group: "orders", wantAllow: true, wantRule: "view"},
		{name: "prod/lookup error, group member", lookup: lookupBroken, user: carol, channel: ops, account: "prod", group: "orders", wantRule: "group-lookup"},
		{name: "prod/lookup error, non-member", lookup: lookupBroken, user: nobody, channel: ops, account: "prod", group: "orders", wantRule: "group-lookup"},
		{name: "prod/approver lookup fails, requester group answers", lookup: lookupPartial, user: bob, channel: ops, account: "prod", group: "orders", wantAllow: true, wantRule: "view"},
		{name: "prod/approver lookup fails for an approver", lookup: lookupPartial, user: heidi, channel: ops, account: "prod", group: "orders", wantRule: "group-lookup"},
		{name: "prod/no lookup configured", lookup: lookupNone, user: carol, channel: ops, account: "prod", group: "orders", wantRule: "group-lookup"},

		// sandbox: "*" requesters, no other limit.
		{name: "sandbox/anyone anywhere", user: nobody, channel: random, account: "sandbox", group: "anything", wantAllow: true, wantRule: "view"},
		{name: "sandbox/lookup error needs no lookup", lookup: lookupBroken, user: nobody, channel: random, account: "sandbox", group: "x", wantAllow: true, wantRule: "view"},
		// staging: group requesters, no approvers.
		{name: "staging/group member", user: bob, channel: random, account: "staging", group: "orders", wantAllow: true, wantRule: "view"},
		{name: "staging/approver elsewhere", user: carol, channel: random, account: "staging", group: "orders", wantRule: "view"},
		// analytics: frank requests and approves.
		{name: "analytics/requester and approver", user: frank, channel: random, account: "analytics", group: "events", wantAllow: true, wantRule: "view"},
		{name: "analytics/group approver", user: carol, channel: random, account: "analytics", group: "events", wantAllow: true, wantRule: "view"},
		{name: "analytics/prod-only approver", user: heidi, channel: random, account: "analytics", group: "events", wantRule: "view"},

		{name: "unknown account", user: erin, channel: ops, account: "qa", group: "orders", wantRule: "unknown-account"},
		{name: "no account", user: erin, channel: ops, account: "", group: "orders", wantRule: "unknown-account"},
	}
	p, lookup := mustParse(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := p.CheckView(context.Background(), lookup(tt.lookup), Subject{User: tt.user, Channel: tt.channel}, tt.account, tt.group)
			if d.Allow != tt.wantAllow || d.Rule != tt.wantRule || d.Reason == "" {
				t.Errorf("CheckView(%s in %s, %q, %q) = %+v, want Allow %v Rule %q with a reason",
					tt.user, tt.channel, tt.account, tt.group, d, tt.wantAllow, tt.wantRule)
			}
			if (d.Rule == RuleGroupLookup) != (d.Err != nil) {
				t.Errorf("CheckView: rule %q with Err %v: a lookup error is kept exactly for group-lookup", d.Rule, d.Err)
			}
		})
	}
	var nilPolicy *Policy
	if d := nilPolicy.CheckView(context.Background(), nil, Subject{User: erin}, "prod", "orders"); d.Allow {
		t.Errorf("a nil policy allowed a view: %+v", d)
	}
}

func TestCheckCancel(t *testing.T) {
	tests := []struct {
		name      string
		lookup    lookupKind
		user      string
		requester string // "" for a job the bot did not start
		account   string
		emergency bool
		wantAllow bool
		wantRule  string
	}{
		// prod: requesters [S01ONCALL, U05ERIN], approvers [S02SRELEADS, S04DBAS, U06FRANK], breakglass [S01ONCALL, U09GRACE].
		{name: "prod/own request, requester by ID", user: erin, requester: erin, account: "prod", wantAllow: true, wantRule: "requesters"},
		{name: "prod/own request, requester by group", user: bob, requester: bob, account: "prod", wantAllow: true, wantRule: "requesters"},
		{name: "prod/own request, ID in other case", user: erin, requester: "u05erin", account: "prod", wantAllow: true, wantRule: "requesters"},
		{name: "prod/someone else's request", user: bob, requester: erin, account: "prod", wantRule: "cancel"},
		{name: "prod/direct approver, anyone's request", user: frank, requester: erin, account: "prod", wantAllow: true, wantRule: "approvers"},
		{name: "prod/group approver, anyone's request", user: carol, requester: bob, account: "prod", wantAllow: true, wantRule: "approvers"},
		{name: "prod/approver, a job the bot did not start", user: heidi, requester: "", account: "prod", wantAllow: true, wantRule: "approvers"},
		{name: "prod/requester, a job the bot did not start", user: erin, requester: "", account: "prod", wantRule: "cancel"},
		{name: "prod/non-member, a job the bot did not start", user: nobody, requester: "", account: "prod", wantRule: "cancel"},
		{name: "prod/no user, no requester", user: "", requester: "", account: "prod", wantRule: "cancel"},
		{name: "prod/own emergency, breakglass by ID", user: grace, requester: grace, account: "prod", emergency: true, wantAllow: true, wantRule: "breakglass"},
		{name: "prod/own emergency, breakglass by group", user: bob, requester: bob, account: "prod", emergency: true, wantAllow: true, wantRule: "breakglass"},
		{name: "prod/own emergency, no longer breakglass", user: erin, requester: erin, account: "prod", emergency: true, wantRule: "cancel"},
		{name: "prod/someone else's emergency, breakglass member", user: grace, requester: bob, account: "prod", emergency: true, wantRule: "cancel"},
		{name: "prod/someone else's emergency, approver", user: carol, requester: bob, account: "prod", emergency: true, wantAllow: true, wantRule: "approvers"},
		{name: "prod/breakglass member, ordinary request of someone else", user: grace, requester: erin, account: "prod", wantRule: "cancel"},
		{name: "prod/lookup error, requester by ID", lookup: lookupBroken, user: erin, requester: erin, account: "prod", wantAllow: true, wantRule: "requesters"},
		{name: "prod/lookup error, approver by ID", lookup: lookupBroken, user: frank, requester: erin, account: "prod", wantAllow: true, wantRule: "approvers"},
		{name: "prod/lookup error, group requester", lookup: lookupBroken, user: bob, requester: bob, account: "prod", wantRule: "group-lookup"},
		{name: "prod/lookup error, group approver", lookup: lookupBroken, user: carol, requester: erin, account: "prod", wantRule: "group-lookup"},
		{name: "prod/lookup error, non-member", lookup: lookupBroken, user: nobody, requester: erin, account: "prod", wantRule: "group-lookup"},
		{name: "prod/approver lookup fails, own request by group", lookup: lookupPartial, user: bob, requester: bob, account: "prod", wantAllow: true, wantRule: "requesters"},
		{name: "prod/no lookup configured", lookup: lookupNone, user: carol, requester: erin, account: "prod", wantRule: "group-lookup"},

		// sandbox: "*" requesters, no approvers: only your own.
		{name: "sandbox/own request", user: nobody, requester: nobody, account: "sandbox", wantAllow: true, wantRule: "requesters"},
		{name: "sandbox/someone else's", user: nobody, requester: erin, account: "sandbox", wantRule: "cancel"},
		{name: "sandbox/a job the bot did not start", user: nobody, requester: "", account: "sandbox", wantRule: "cancel"},
		// staging: group requesters, no approvers.
		{name: "staging/own request", user: bob, requester: bob, account: "staging", wantAllow: true, wantRule: "requesters"},
		{name: "staging/offboarded requester", user: erin, requester: erin, account: "staging", wantRule: "cancel"},
		// analytics: frank requests and approves.
		{name: "analytics/approver's own request", user: frank, requester: frank, account: "analytics", wantAllow: true, wantRule: "requesters"},
		{name: "analytics/approver, another's request", user: carol, requester: frank, account: "analytics", wantAllow: true, wantRule: "approvers"},
		// billing: breakglass [U05ERIN].
		{name: "billing/own emergency", user: erin, requester: erin, account: "billing", emergency: true, wantAllow: true, wantRule: "breakglass"},
		{name: "billing/prod approver", user: carol, requester: erin, account: "billing", wantRule: "cancel"},

		{name: "unknown account", user: frank, requester: erin, account: "qa", wantRule: "unknown-account"},
	}
	p, lookup := mustParse(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := p.CheckCancel(context.Background(), lookup(tt.lookup), tt.user, tt.requester, tt.account, tt.emergency)
			if d.Allow != tt.wantAllow || d.Rule != tt.wantRule || d.Reason == "" {
				t.Errorf("CheckCancel(%q, %q, %q, emergency %v) = %+v, want Allow %v Rule %q with a reason",
					tt.user, tt.requester, tt.account, tt.emergency, d, tt.wantAllow, tt.wantRule)
			}
			if (d.Rule == RuleGroupLookup) != (d.Err != nil) {
				t.Errorf("CheckCancel: rule %q with Err %v", d.Rule, d.Err)
			}
		})
	}
}

package auth

import (
	"context"
	"errors"
	"slices"
	"testing"
)

func TestCheckApprove(t *testing.T) {
	tests := []struct {
		name      string
		lookup    lookupKind
		approver  string
		requester string
		account   string
		wantAllow bool
		wantRule  string
	}{
		// prod: approvers [S02SRELEADS, S04DBAS, U06FRANK].
		{name: "prod/direct approver", approver: frank, requester: erin, account: "prod", wantAllow: true, wantRule: "approvers"},
		{name: "prod/group approver", approver: carol, requester: erin, account: "prod", wantAllow: true, wantRule: "approvers"},
		{name: "prod/approver in second group", approver: heidi, requester: bob, account: "prod", wantAllow: true, wantRule: "approvers"},
		{name: "prod/non-member", approver: nobody, requester: erin, account: "prod", wantRule: "approvers"},
		{name: "prod/another requester", approver: bob, requester: erin, account: "prod", wantRule: "approvers"},
		{name: "prod/breakglass member", approver: grace, requester: erin, account: "prod", wantRule: "approvers"},
		{name: "prod/own request, not an approver", approver: erin, requester: erin, account: "prod", wantRule: "self-approval"},
		{name: "prod/lookup error, listed by ID", lookup: lookupBroken, approver: frank, requester: erin, account: "prod", wantAllow: true, wantRule: "approvers"},
		{name: "prod/lookup error, group approver", lookup: lookupBroken, approver: carol, requester: erin, account: "prod", wantRule: "group-lookup"},
		{name: "prod/lookup error, non-member", lookup: lookupBroken, approver: nobody, requester: erin, account: "prod", wantRule: "group-lookup"},
		{name: "prod/any failed lookup denies, though another group has the user", lookup: lookupPartial, approver: carol, requester: erin, account: "prod", wantRule: "group-lookup"},
		{name: "prod/no lookup configured", lookup: lookupNone, approver: carol, requester: erin, account: "prod", wantRule: "group-lookup"},
		{name: "prod/self-approval needs no lookup", lookup: lookupBroken, approver: erin, requester: erin, account: "prod", wantRule: "self-approval"},
		{name: "prod/no requester on record", approver: frank, requester: "", account: "prod", wantRule: "self-approval"},
		{name: "prod/no approver", approver: "", requester: erin, account: "prod", wantRule: "approvers"},
		{name: "prod/account in other case", approver: frank, requester: erin, account: "Prod", wantAllow: true, wantRule: "approvers"},

		// analytics: frank is requester and approver.
		{name: "analytics/approver approving own request", approver: frank, requester: frank, account: "analytics", wantRule: "self-approval"},
		{name: "analytics/self-approval whatever the case of the ID", approver: frank, requester: "u06frank", account: "analytics", wantRule: "self-approval"},
		{name: "analytics/approver, other requester", approver: frank, requester: erin, account: "analytics", wantAllow: true, wantRule: "approvers"},
		{name: "analytics/group approver", approver: carol, requester: frank, account: "analytics", wantAllow: true, wantRule: "approvers"},

		// Accounts without approvers: nothing to approve.
		{name: "staging/group member", approver: bob, requester: erin, account: "staging", wantRule: "default-deny"},
		{name: "staging/approver elsewhere", approver: carol, requester: bob, account: "staging", wantRule: "default-deny"},
		{name: "staging/own request", approver: bob, requester: bob, account: "staging", wantRule: "self-approval"},
		{name: "sandbox/anyone", approver: nobody, requester: erin, account: "sandbox", wantRule: "default-deny"},
		{name: "sandbox/lookup error", lookup: lookupBroken, approver: nobody, requester: erin, account: "sandbox", wantRule: "default-deny"},

		{name: "unknown account", approver: frank, requester: erin, account: "qa", wantRule: "unknown-account"},
	}
	p, lookup := mustParse(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := p.CheckApprove(context.Background(), lookup(tt.lookup), tt.approver, tt.requester, tt.account)
			if d.Allow != tt.wantAllow || d.Rule != tt.wantRule || d.Reason == "" {
				t.Errorf("CheckApprove(%q, %q, %q) = %+v, want Allow %v Rule %q with a reason",
					tt.approver, tt.requester, tt.account, d, tt.wantAllow, tt.wantRule)
			}
			checkLookupErr(t, d)
		})
	}
}

func TestRequestable(t *testing.T) {
	tests := []struct {
		name    string
		lookup  lookupKind
		user    string
		channel string
		want    []string
	}{
		{name: "group member in ops", user: bob, channel: ops, want: []string{"sandbox", "staging", "prod"}},
		{name: "group member elsewhere", user: bob, channel: random, want: []string{"sandbox", "staging"}},
		{name: "direct requester in ops", user: erin, channel: ops, want: []string{"sandbox", "prod", "analytics", "billing"}},
		{name: "direct requester elsewhere", user: erin, channel: random, want: []string{"sandbox", "analytics", "billing"}},
		{name: "anyone", user: nobody, channel: ops, want: []string{"sandbox"}},
		{name: "approver only", user: carol, channel: ops, want: []string{"sandbox"}},
		{name: "breakglass only", user: grace, channel: ops, want: []string{"sandbox"}},
		{name: "lookup error leaves group accounts out", lookup: lookupBroken, user: bob, channel: ops, want: []string{"sandbox"}},
		{name: "lookup error, listed by ID", lookup: lookupBroken, user: erin, channel: ops, want: []string{"sandbox", "prod", "analytics", "billing"}},
		{name: "no user", user: "", channel: ops, want: nil},
	}
	p, lookup := mustParse(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Subject{User: tt.user, Channel: tt.channel}
			var got []string
			for _, a := range p.Requestable(context.Background(), lookup(tt.lookup), s) {
				got = append(got, a.Name)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("Requestable(%+v) = %v, want %v", s, got, tt.want)
			}
		})
	}
}

func TestDecisionReasons(t *testing.T) {
	p, lookup := mustParse(t)
	ctx := context.Background()
	good := Target{Account: "prod", TableGroup: "orders", Level: "full", Reason: "INC-4711"}
	with := func(f func(*Target)) Target { t := good; f(&t); return t }
	tests := []struct {
		name string
		got  Decision
		want string
	}{
		{name: "unknown account", got: p.CheckRequest(ctx, lookup(lookupOK), Subject{User: erin, Channel: ops}, with(func(t *Target) { t.Account = "qa" })),
			want: `no account named "qa"`},
		{name: "not a requester", got: p.CheckRequest(ctx, lookup(lookupOK), Subject{User: nobody, Channel: ops}, good),
			want: "you are not a requester for prod"},
		{name: "channels", got: p.CheckRequest(ctx, lookup(lookupOK), Subject{User: erin, Channel: random}, good),
			want: "prod may only be requested from <#C01OPS>"},
		{name: "tablegroups", got: p.CheckRequest(ctx, lookup(lookupOK), Subject{User: erin, Channel: ops}, with(func(t *Target) { t.TableGroup = "inventory" })),
			want: `table group "inventory" is not allowed for prod (allowed: orders, payments)`},
		{name: "levels", got: p.CheckRequest(ctx, lookup(lookupOK), Subject{User: erin, Channel: ops}, with(func(t *Target) { t.Level = "incremental" })),
			want: `level "incremental" is not allowed for prod (allowed: full)`},
		{name: "require_reason", got: p.CheckRequest(ctx, lookup(lookupOK), Subject{User: erin, Channel: ops}, with(func(t *Target) { t.Reason = "" })),
			want: "a backup of prod needs a reason: write it after the level"},
		{name: "group-lookup hides the error", got: p.CheckRequest(ctx, lookup(lookupBroken), Subject{User: bob, Channel: ops}, good),
			want: "your user groups could not be checked right now; try again in a minute"},
		{name: "self-approval", got: p.CheckApprove(ctx, lookup(lookupOK), frank, frank, "analytics"),
			want: "you cannot approve your own request"},
		{name: "approvers", got: p.CheckApprove(ctx, lookup(lookupOK), bob, erin, "prod"),
			want: "you are not an approver for prod"},
		{name: "default-deny", got: p.CheckApprove(ctx, lookup(lookupOK), carol, bob, "staging"),
			want: "staging has no approvers, so nobody may approve its requests"},
		{name: "breakglass not enabled", got: p.CheckBreakglass(ctx, lookup(lookupOK), Subject{User: bob}, Target{Account: "staging"}),
			want: "break-glass is not enabled for staging"},
		{name: "breakglass member", got: p.CheckBreakglass(ctx, lookup(lookupOK), Subject{User: erin, Channel: ops}, good),
			want: "you are not a break-glass member for prod"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got.Reason != tt.want {
				t.Errorf("Reason = %q, want %q", tt.got.Reason, tt.want)
			}
		})
	}
}

func TestGroupLookupErrorIsKept(t *testing.T) {
	p, lookup := mustParse(t)
	d := p.CheckApprove(context.Background(), lookup(lookupBroken), carol, erin, "prod")
	if !errors.Is(d.Err, errLookup) {
		t.Errorf("CheckApprove with a failing lookup: Err = %v, want it to wrap %v", d.Err, errLookup)
	}
}

func TestNilPolicyDenies(t *testing.T) {
	var p *Policy
	ctx := context.Background()
	g := StaticGroups(nil)
	decisions := map[string]Decision{
		"request":    p.CheckRequest(ctx, g, Subject{User: erin, Channel: ops}, Target{Account: "prod", TableGroup: "orders", Level: "full", Reason: "x"}),
		"breakglass": p.CheckBreakglass(ctx, g, Subject{User: erin, Channel: ops}, Target{Account: "prod", TableGroup: "orders", Level: "full", Reason: "x"}),
		"approve":    p.CheckApprove(ctx, g, frank, erin, "prod"),
	}
	for action, d := range decisions {
		if d.Allow || d.Rule != RuleDefaultDeny {
			t.Errorf("nil policy %s = %+v, want deny by %q", action, d, RuleDefaultDeny)
		}
	}
	if got := p.Requestable(ctx, g, Subject{User: erin}); got != nil {
		t.Errorf("nil policy Requestable = %v, want nil", got)
	}
}

func TestStaticGroups(t *testing.T) {
	m := map[string][]string{"S01ONCALL": {"U01ALICE"}}
	g := StaticGroups(m)
	m["S01ONCALL"][0] = "U99MALLORY" // the lookup keeps its own copy
	ctx := context.Background()
	tests := []struct {
		name  string
		group string
		want  []string
	}{
		{name: "known group", group: "S01ONCALL", want: []string{"U01ALICE"}},
		{name: "unknown group is empty", group: "S09NOBODY", want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := g.Members(ctx, tt.group)
			if err != nil || !slices.Equal(got, tt.want) {
				t.Errorf("Members(%q) = %v, %v, want %v, nil", tt.group, got, err, tt.want)
			}
		})
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := g.Members(cancelled, "S01ONCALL"); !errors.Is(err, context.Canceled) {
		t.Errorf("Members with a cancelled context: err = %v, want context.Canceled", err)
	}
}

// Parse rejects "*" outside requesters; a Policy built some other way must
// still not let "*" approve or break the glass.
func TestWildcardOnlyForRequesters(t *testing.T) {
	p := &Policy{accounts: []*Account{{Name: "x", Requesters: []string{"*"}, Approvers: []string{"*"}, Breakglass: []string{"*"}}}}
	ctx := context.Background()
	g := StaticGroups(nil)
	tg := Target{Account: "x", TableGroup: "orders", Level: "full", Reason: "outage"}
	decisions := []struct {
		name     string
		got      Decision
		wantRule string
	}{
		{name: "request", got: p.CheckRequest(ctx, g, Subject{User: nobody}, tg), wantRule: RuleRequesters},
		{name: "approve", got: p.CheckApprove(ctx, g, nobody, erin, "x"), wantRule: RuleApprovers},
		{name: "breakglass", got: p.CheckBreakglass(ctx, g, Subject{User: nobody}, tg), wantRule: RuleBreakglass},
	}
	wantAllow := map[string]bool{"request": true}
	for _, tt := range decisions {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got.Allow != wantAllow[tt.name] || tt.got.Rule != tt.wantRule {
				t.Errorf("%s by anyone = %+v, want Allow %v Rule %q", tt.name, tt.got, wantAllow[tt.name], tt.wantRule)
			}
		})
	}
}

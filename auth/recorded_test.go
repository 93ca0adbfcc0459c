package auth

import (
	"context"
	"strings"
	"testing"
)

func TestCheckRecorded(t *testing.T) {
	ordersFull := Recorded{Requester: erin, Channel: ops, Account: "prod", TableGroup: "orders", Level: "full", Reason: "INC-1"}
	with := func(f func(*Recorded)) Recorded { r := ordersFull; f(&r); return r }
	tests := []struct {
		name      string
		lookup    lookupKind
		rec       Recorded
		wantAllow bool
		wantRule  string
	}{
		{"still allowed", lookupOK, ordersFull, true, "requesters"},
		{"requester by group", lookupOK, with(func(r *Recorded) { r.Requester = bob }), true, "requesters"},
		{"requester offboarded", lookupOK, with(func(r *Recorded) { r.Requester = nobody }), false, "requesters"},
		{"no requester on record", lookupOK, with(func(r *Recorded) { r.Requester = "" }), false, "requesters"},
		{"channel no longer allowed", lookupOK, with(func(r *Recorded) { r.Channel = random }), false, "channels"},
		{"table group no longer allowed", lookupOK, with(func(r *Recorded) { r.TableGroup = "inventory" }), false, "tablegroups"},
		{"level no longer allowed", lookupOK, with(func(r *Recorded) { r.Level = "incremental" }), false, "levels"},
		{"reason now required", lookupOK, with(func(r *Recorded) { r.Reason = " " }), false, "require_reason"},
		{"account gone", lookupOK, with(func(r *Recorded) { r.Account = "qa" }), false, "unknown-account"},
		{"lookup fails", lookupBroken, with(func(r *Recorded) { r.Requester = bob }), false, "group-lookup"},
		{"break-glass member", lookupOK, with(func(r *Recorded) { r.Requester, r.Emergency = grace, true }), true, "breakglass"},
		{"break-glass member by group", lookupOK, with(func(r *Recorded) { r.Requester, r.Emergency = bob, true }), true, "breakglass"},
		{"break-glass, no longer a member", lookupOK, with(func(r *Recorded) { r.Emergency = true }), false, "breakglass"},
		{"break-glass, reason always", lookupOK, with(func(r *Recorded) { r.Requester, r.Emergency, r.Reason = grace, true, "" }), false, "require_reason"},
	}
	p, lookup := mustParse(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := p.CheckRecorded(context.Background(), lookup(tt.lookup), tt.rec)
			if d.Allow != tt.wantAllow || d.Rule != tt.wantRule || d.Reason == "" {
				t.Errorf("CheckRecorded(%+v) = %+v, want Allow %v Rule %q with a reason", tt.rec, d, tt.wantAllow, tt.wantRule)
			}
		})
	}
}

func TestCheckRecordedInstanceName(t *testing.T) {
	p, err := Parse("policy.yaml", []byte("accounts:\n  prod:\n    requesters: [U05ERIN]\n    tablegroups: [DynamoDB-eu/default]\n"))
	if err != nil {
		t.Fatal(err)
	}
	r := Recorded{Requester: erin, Account: "prod", TableGroup: "default", Instance: "DynamoDB-eu", Level: "full"}
	if d := p.CheckRecorded(context.Background(), nil, r); !d.Allow {
		t.Errorf("CheckRecorded(DynamoDB-eu/default) = %+v, want allowed", d)
	}
	r.Instance = "DynamoDB"
	if d := p.CheckRecorded(context.Background(), nil, r); d.Allow || d.Rule != RuleTableGroups {
		t.Errorf("CheckRecorded(DynamoDB/default) = %+v, want tablegroups", d)
	}
}

func TestMayUseSome(t *testing.T) {
	p, lookup := mustParse(t)
	ctx := context.Background()
	strict, err := Parse("policy.yaml", []byte(strings.Replace(testPolicy, "  sandbox:       # \"*\" requesters; no approvers, channels, tablegroups, levels, reason\n    requesters: [\"*\"]\n", "", 1)))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		pol    *Policy
		lookup lookupKind
		user   string
		want   bool
		rule   string
	}{
		{"anyone, where requesters is *", p, lookupOK, nobody, true, "view"},
		{"nobody without *", strict, lookupOK, nobody, false, "view"},
		{"requester by ID", strict, lookupOK, erin, true, "view"},
		{"requester by group", strict, lookupOK, bob, true, "view"},
		{"approver only", strict, lookupOK, heidi, true, "view"},
		{"break-glass only is not enough", strict, lookupOK, grace, false, "view"},
		{"lookup fails", strict, lookupBroken, nobody, false, "group-lookup"},
		{"no policy", nil, lookupOK, erin, false, "default-deny"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, d := tt.pol.MayUseSome(ctx, lookup(tt.lookup), tt.user)
			if ok != tt.want || d.Rule != tt.rule || d.Allow != ok {
				t.Errorf("MayUseSome(%s) = %v, %+v; want %v, rule %q", tt.user, ok, d, tt.want, tt.rule)
			}
		})
	}
}

func TestAuditChannel(t *testing.T) {
	p, err := Parse("policy.yaml", []byte("audit_channel: C0AUDIT\naccounts:\n  prod:\n    requesters: [U05ERIN]\n    approvers: [U06FRANK]\n    breakglass: [U05ERIN]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if p.AuditChannel != "C0AUDIT" {
		t.Errorf("AuditChannel = %q, want C0AUDIT", p.AuditChannel)
	}
	if w := p.Warnings(); len(w) != 0 {
		t.Errorf("Warnings() = %q with an audit_channel, want none", w)
	}
	for _, tt := range []struct{ yaml, want string }{
		{"audit_channel: U0AUDIT\n", `policy.yaml:1: audit_channel: "U0AUDIT" is not a channel ID (C…/G…) (it looks like a Slack user ID (U…/W…))`},
		{"audit_channel: \"#audit\"\n", `policy.yaml:1: audit_channel: "#audit" is not a channel ID (C…/G…) (use the channel ID from its details, not the #name)`},
		{"audit_channel: [C0AUDIT]\n", "policy.yaml:1: audit_channel: expected one channel ID (C…/G…), got a list"},
		{"audit_channel: c0audit\n", `policy.yaml:1: audit_channel: "c0audit" is not a channel ID (C…/G…) (Slack IDs are upper case: "C0AUDIT")`},
		{"audit_chanel: C0AUDIT\n", `policy.yaml:1: audit_chanel: unknown field (did you mean "audit_channel"?)`},
	} {
		_, err := Parse("policy.yaml", []byte(tt.yaml+"accounts:\n  prod:\n    requesters: [U05ERIN]\n"))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Parse(%q) = %v, want %q", tt.yaml, err, tt.want)
		}
	}
}

func TestWarnings(t *testing.T) {
	p, _ := mustParse(t) // breakglass on prod and billing, no audit_channel
	w := p.Warnings()
	if len(w) != 1 || !strings.Contains(w[0], "prod, billing") || !strings.Contains(w[0], "audit_channel") {
		t.Errorf("Warnings() = %q, want one naming prod, billing and audit_channel", w)
	}
	quiet, err := Parse("policy.yaml", []byte("accounts:\n  sandbox:\n    requesters: [\"*\"]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if w := quiet.Warnings(); len(w) != 0 {
		t.Errorf("Warnings() without breakglass = %q, want none", w)
	}
}

package auth

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// The console and its tests rely on these names in the sample policy.
func TestSamplePolicy(t *testing.T) {
	p, err := Load(filepath.Join("..", "deploy", "policy.yaml"))
	if err != nil {
		t.Fatalf("Load(deploy/policy.yaml): %v", err)
	}
	want := []*Account{
		{Name: "demo", Client: "aws-demo-account", Requesters: []string{"*"}, defaultTimeout: 30 * time.Minute},
		{Name: "staging", Client: "aws-staging-account", Requesters: []string{"S01ONCALL"}, defaultTimeout: 30 * time.Minute},
		{
			Name:           "prod",
			Client:         "aws-prod-account",
			Requesters:     []string{"S01ONCALL", "U01ALICE"},
			Approvers:      []string{"S02SRELEADS"},
			Channels:       []string{"C01OPS"},
			TableGroups:    []string{"orders", "payments"},
			RequireReason:  true,
			Breakglass:     []string{"S01ONCALL"},
			defaultTimeout: 30 * time.Minute,
		},
	}
	if got := p.Accounts(); !reflect.DeepEqual(got, want) {
		t.Errorf("Accounts() =\n%+v\nwant\n%+v", deref(got), deref(want))
	}
	// It shows audit_channel, which its break-glass account wants.
	if p.AuditChannel != "C0BACKUPAUDIT" || len(p.Warnings()) != 0 {
		t.Errorf("AuditChannel = %q, warnings %q; want C0BACKUPAUDIT and none", p.AuditChannel, p.Warnings())
	}
	wantGroups := map[string][]string{
		"S01ONCALL":   {"U01ALICE", "U02BOB", "U0CONSOLE"},
		"S02SRELEADS": {"U03CAROL", "U04DAVE"},
	}
	if !reflect.DeepEqual(p.Groups, wantGroups) {
		t.Errorf("Groups = %v, want %v", p.Groups, wantGroups)
	}

	// What the console does with it.
	ctx := context.Background()
	g := StaticGroups(p.Groups)
	console := Subject{User: "U0CONSOLE", Channel: "C0CONSOLE"}
	demo := Target{Account: "demo", TableGroup: "customer profiles", Level: "full"}
	if d := p.CheckRequest(ctx, g, console, demo); !d.Allow {
		t.Errorf("console CheckRequest(demo) = %+v, want allowed", d)
	}
	if a, _ := p.Account("demo"); a.NeedsApproval() {
		t.Error("demo needs approval; the console must back it up without one")
	}
	prod := Target{Account: "prod", TableGroup: "orders", Level: "full", Reason: "INC-4711"}
	if d := p.CheckRequest(ctx, g, Subject{User: "U0CONSOLE", Channel: "C01OPS"}, prod); !d.Allow {
		t.Errorf("console CheckRequest(prod from C01OPS) = %+v, want allowed", d)
	}
	if d := p.CheckApprove(ctx, g, "U03CAROL", "U0CONSOLE", "prod"); !d.Allow {
		t.Errorf("CheckApprove(U03CAROL, U0CONSOLE, prod) = %+v, want allowed", d)
	}
}

func TestLoadMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "policy.yaml")
	_, err := Load(path)
	if err == nil || !strings.HasPrefix(err.Error(), "read policy: ") || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load(%q) = %v, want a read policy error for a missing file", path, err)
	}
}

func TestLoadNamesThePath(t *testing.T) {
	path := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(path, []byte("accounts:\n  prod:\n    aprovers: [U03CAROL]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path)
	want := path + `:3: accounts.prod.aprovers: unknown field (did you mean "approvers"?)`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Load(%q) = %v, want it to contain %q", path, err, want)
	}
}

func TestAccountTimeout(t *testing.T) {
	tests := []struct {
		name    string
		account *Account
		want    time.Duration
	}{
		{name: "account override", account: &Account{ApprovalTimeout: time.Hour, defaultTimeout: 45 * time.Minute}, want: time.Hour},
		{name: "policy default", account: &Account{defaultTimeout: 45 * time.Minute}, want: 45 * time.Minute},
		{name: "built by hand", account: &Account{}, want: 30 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.account.Timeout(); got != tt.want {
				t.Errorf("Timeout() = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestParsedTimeouts(t *testing.T) {
	src := "approval_timeout: 10m\naccounts:\n  a:\n    requesters: [U01ALICE]\n    approvers: [U03CAROL]\n    approval_timeout: 2h\n  b:\n    requesters: [U01ALICE]\n"
	p, err := Parse("policy.yaml", []byte(src))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	for name, want := range map[string]time.Duration{"a": 2 * time.Hour, "b": 10 * time.Minute} {
		a, _ := p.Account(name)
		if got := a.Timeout(); got != want {
			t.Errorf("account %s Timeout() = %v, want %v", name, got, want)
		}
	}
}

func TestAllows(t *testing.T) {
	restricted := &Account{TableGroups: []string{"orders", "customer profiles"}, Levels: []string{"full"}}
	open := &Account{}
	tests := []struct {
		name    string
		account *Account
		group   string
		level   string
		wantTG  bool
		wantLvl bool
	}{
		{name: "listed", account: restricted, group: "orders", level: "full", wantTG: true, wantLvl: true},
		{name: "listed, other case", account: restricted, group: "Customer Profiles", level: "FULL", wantTG: true, wantLvl: true},
		{name: "not listed", account: restricted, group: "inventory", level: "incremental"},
		{name: "open account", account: open, group: "anything", level: "incremental", wantTG: true, wantLvl: true},
		{name: "empty names", account: open, group: "", level: ""},
		{name: "abbreviated level", account: open, group: "orders", level: "incr", wantTG: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.account.AllowsTableGroup(tt.group); got != tt.wantTG {
				t.Errorf("AllowsTableGroup(%q) = %v, want %v", tt.group, got, tt.wantTG)
			}
			if got := tt.account.AllowsLevel(tt.level); got != tt.wantLvl {
				t.Errorf("AllowsLevel(%q) = %v, want %v", tt.level, got, tt.wantLvl)
			}
		})
	}
}

func TestAccountLookup(t *testing.T) {
	p, _ := mustParse(t)
	tests := []struct {
		name   string
		lookup string
		want   string
	}{
		{name: "exact", lookup: "prod", want: "prod"},
		{name: "other case", lookup: "PrOd", want: "prod"},
		{name: "unknown", lookup: "qa", want: ""},
		{name: "empty", lookup: "", want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, ok := p.Account(tt.lookup)
			got := ""
			if ok {
				got = a.Name
			}
			if got != tt.want {
				t.Errorf("Account(%q) = %q, want %q", tt.lookup, got, tt.want)
			}
		})
	}
	var names []string
	for _, a := range p.Accounts() {
		names = append(names, a.Name)
	}
	if want := []string{"sandbox", "staging", "prod", "analytics", "billing"}; !reflect.DeepEqual(names, want) {
		t.Errorf("Accounts() = %v, want file order %v", names, want)
	}
}

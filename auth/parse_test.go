package auth

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want string // the whole message, or the line of it that matters
	}{
		{
			name: "empty file",
			yaml: "",
			want: "policy.yaml:1: empty policy: it needs at least one account under accounts:",
		},
		{
			name: "only comments",
			yaml: "# nothing yet\n",
			want: "policy.yaml:1: empty policy: it needs at least one account under accounts:",
		},
		{
			name: "no accounts key",
			yaml: "approval_timeout: 30m\n",
			want: "policy.yaml:1: accounts: missing: the policy needs at least one account",
		},
		{
			name: "accounts empty",
			yaml: "approval_timeout: 30m\naccounts: {}\n",
			want: "policy.yaml:2: accounts: no accounts: the policy needs at least one",
		},
		{
			name: "accounts null",
			yaml: "accounts:\n",
			want: "policy.yaml:1: accounts: no accounts: the policy needs at least one",
		},
		{
			name: "top level is a list",
			yaml: "- prod\n",
			want: "policy.yaml:1: expected a mapping with accounts:, got a list",
		},
		{
			name: "syntax error keeps the line",
			yaml: "accounts:\n  prod:\n\trequesters: [U01ALICE]\n",
			want: "policy.yaml:3: invalid YAML: found character that cannot start any token",
		},
		{
			name: "two documents",
			yaml: "accounts:\n  prod:\n    requesters: [U01ALICE]\n---\naccounts: {}\n",
			want: "policy.yaml:4: a second YAML document: the policy is one document (remove the ---)",
		},
		{
			name: "typo in account field suggests the right one",
			yaml: "accounts:\n  prod:\n    requesters: [U01ALICE]\n    aprovers: [U03CAROL]\n",
			want: `policy.yaml:4: accounts.prod.aprovers: unknown field (did you mean "approvers"?)`,
		},
		{
			name: "dash instead of underscore",
			yaml: "accounts:\n  prod:\n    requesters: [U01ALICE]\n    require-reason: true\n",
			want: `policy.yaml:4: accounts.prod.require-reason: unknown field (did you mean "require_reason"?)`,
		},
		{
			name: "unknown field far from any lists them",
			yaml: "accounts:\n  prod:\n    requesters: [U01ALICE]\n    owner: U01ALICE\n",
			want: "policy.yaml:4: accounts.prod.owner: unknown field (known fields: client, requesters, approvers, channels, tablegroups, require_reason, breakglass, levels, approval_timeout)",
		},
		{
			name: "unknown top-level field",
			yaml: "approvaltimeout: 1h\naccounts:\n  prod:\n    requesters: [U01ALICE]\n",
			want: `policy.yaml:1: approvaltimeout: unknown field (did you mean "approval_timeout"?)`,
		},
		{
			name: "duplicate field",
			yaml: "accounts:\n  prod:\n    requesters: [U01ALICE]\n    approvers: [U03CAROL]\n    approvers: [U04DAVE]\n",
			want: "policy.yaml:5: accounts.prod.approvers: duplicate key (first at line 4)",
		},
		{
			name: "duplicate account",
			yaml: "accounts:\n  prod:\n    requesters: [U01ALICE]\n  prod:\n    requesters: [U02BOB]\n",
			want: "policy.yaml:4: accounts.prod: duplicate key (first at line 2)",
		},
		{
			name: "account names differing only by case",
			yaml: "accounts:\n  prod:\n    requesters: [U01ALICE]\n  Prod:\n    requesters: [U02BOB]\n",
			want: `policy.yaml:4: accounts.Prod: duplicate account name (same as "prod" at line 2; names are compared without regard to case)`,
		},
		{
			name: "empty account name",
			yaml: "accounts:\n  \"\":\n    requesters: [U01ALICE]\n",
			want: "policy.yaml:2: accounts: empty account name",
		},
		{
			name: "null account name",
			yaml: "accounts:\n  ~:\n    requesters: [U01ALICE]\n",
			want: "policy.yaml:2: accounts: empty account name",
		},
		{
			name: "account name with a space",
			yaml: "accounts:\n  prod eu:\n    requesters: [U01ALICE]\n",
			want: `policy.yaml:2: accounts.prod eu: account name "prod eu": use letters, digits, - and _ (it is the word users type)`,
		},
		{
			name: "account without requesters",
			yaml: "accounts:\n  prod:\n    approvers: [U03CAROL]\n",
			want: `policy.yaml:2: accounts.prod: requesters is required (use ["*"] to allow anyone)`,
		},
		{
			name: "account with nothing",
			yaml: "accounts:\n  prod:\n",
			want: "policy.yaml:2: accounts.prod: empty account: requesters is required",
		},
		{
			name: "empty requesters",
			yaml: "accounts:\n  prod:\n    requesters: []\n",
			want: `policy.yaml:3: accounts.prod.requesters: empty list: an account needs at least one requester (use ["*"] for anyone)`,
		},
		{
			name: "empty approvers list would silently drop approval",
			yaml: "accounts:\n  prod:\n    requesters: [U01ALICE]\n    approvers: []\n",
			want: "policy.yaml:4: accounts.prod.approvers: empty list: omit approvers if requests need no approval",
		},
		{
			name: "requesters as a scalar",
			yaml: "accounts:\n  prod:\n    requesters: U01ALICE\n",
			want: `policy.yaml:3: accounts.prod.requesters: expected a list, got the string "U01ALICE" (write [U01ALICE])`,
		},
		{
			name: "requester is a name",
			yaml: "accounts:\n  prod:\n    requesters: [U01ALICE, \"@bob\"]\n",
			want: `policy.yaml:3: accounts.prod.requesters[1]: "@bob" is not a Slack user ID (U…/W…) or a user group ID (S…) or "*" (use the member ID from the profile's ⋮ menu, not the @name)`,
		},
		{
			name: "lower-case user ID",
			yaml: "accounts:\n  prod:\n    requesters:\n      - U01ALICE\n      - u02bob\n",
			want: `policy.yaml:5: accounts.prod.requesters[1]: "u02bob" is not a Slack user ID (U…/W…) or a user group ID (S…) or "*" (Slack IDs are upper case: "U02BOB")`,
		},
		{
			name: "user ID too short",
			yaml: "accounts:\n  prod:\n    requesters: [U1]\n",
			want: `policy.yaml:3: accounts.prod.requesters[0]: "U1" is not a Slack user ID (U…/W…) or a user group ID (S…) or "*"`,
		},
		{
			name: "channel ID in requesters",
			yaml: "accounts:\n  prod:\n    requesters: [C01OPS]\n",
			want: `policy.yaml:3: accounts.prod.requesters[0]: "C01OPS" is not a Slack user ID (U…/W…) or a user group ID (S…) or "*" (it looks like a channel ID (C…/G…))`,
		},
		{
			name: "channel name instead of ID",
			yaml: "accounts:\n  prod:\n    requesters: [U01ALICE]\n    channels: [\"#ops\"]\n",
			want: `policy.yaml:4: accounts.prod.channels[0]: "#ops" is not a channel ID (C…/G…) (use the channel ID from its details, not the #name)`,
		},
		{
			name: "user ID in channels",
			yaml: "accounts:\n  prod:\n    requesters: [U01ALICE]\n    channels: [U01ALICE]\n",
			want: `policy.yaml:4: accounts.prod.channels[0]: "U01ALICE" is not a channel ID (C…/G…) (it looks like a Slack user ID (U…/W…))`,
		},
		{
			name: "wildcard among other requesters",
			yaml: "accounts:\n  prod:\n    requesters: [\"*\", U01ALICE]\n",
			want: `policy.yaml:3: accounts.prod.requesters: "*" already allows anyone: remove the other entries`,
		},
		{
			name: "wildcard approver",
			yaml: "accounts:\n  prod:\n    requesters: [U01ALICE]\n    approvers: [\"*\"]\n",
			want: `policy.yaml:4: accounts.prod.approvers[0]: "*" (anyone) is not allowed here: expected a Slack user ID (U…/W…) or a user group ID (S…)`,
		},
		{
			name: "wildcard breakglass",
			yaml: "accounts:\n  prod:\n    requesters: [U01ALICE]\n    approvers: [U03CAROL]\n    breakglass: [\"*\"]\n",
			want: `policy.yaml:5: accounts.prod.breakglass[0]: "*" (anyone) is not allowed here: expected a Slack user ID (U…/W…) or a user group ID (S…)`,
		},
		{
			name: "duplicate requester",
			yaml: "accounts:\n  prod:\n    requesters:\n      - U01ALICE\n      - U01ALICE\n",
			want: `policy.yaml:5: accounts.prod.requesters[1]: duplicate entry "U01ALICE" (first at line 4)`,
		},
		{
			name: "breakglass without approvers",
			yaml: "accounts:\n  prod:\n    requesters: [U01ALICE]\n    breakglass: [U01ALICE]\n",
			want: "policy.yaml:4: accounts.prod.breakglass: prod has no approvers, so there is no approval for break-glass to skip: add approvers or remove breakglass",
		},
		{
			name: "account timeout without approvers",
			yaml: "accounts:\n  prod:\n    requesters: [U01ALICE]\n    approval_timeout: 1h\n",
			want: "policy.yaml:4: accounts.prod.approval_timeout: prod has no approvers, so nothing waits for approval: add approvers or remove approval_timeout",
		},
		{
			name: "duration without unit",
			yaml: "approval_timeout: 30\naccounts:\n  prod:\n    requesters: [U01ALICE]\n",
			want: `policy.yaml:1: approval_timeout: invalid duration "30": use a number and a unit, such as 30m or 1h`,
		},
		{
			name: "negative account timeout",
			yaml: "accounts:\n  prod:\n    requesters: [U01ALICE]\n    approvers: [U03CAROL]\n    approval_timeout: -5m\n",
			want: "policy.yaml:5: accounts.prod.approval_timeout: duration must be positive, got -5m",
		},
		{
			name: "zero timeout",
			yaml: "approval_timeout: 0s\naccounts:\n  prod:\n    requesters: [U01ALICE]\n",
			want: "policy.yaml:1: approval_timeout: duration must be positive, got 0s",
		},
		{
			name: "require_reason yes is not a boolean",
			yaml: "accounts:\n  prod:\n    requesters: [U01ALICE]\n    require_reason: yes\n",
			want: `policy.yaml:4: accounts.prod.require_reason: expected true or false, got the string "yes"`,
		},
		{
			name: "client as a number",
			yaml: "accounts:\n  prod:\n    client: 1234\n    requesters: [U01ALICE]\n",
			want: "policy.yaml:3: accounts.prod.client: expected a string, got the number 1234 (write \"1234\" if it is a name)",
		},
		{
			name: "empty client",
			yaml: "accounts:\n  prod:\n    client: \"\"\n    requesters: [U01ALICE]\n",
			want: "policy.yaml:3: accounts.prod.client: empty string",
		},
		{
			name: "unknown level",
			yaml: "accounts:\n  prod:\n    requesters: [U01ALICE]\n    levels: [full, differential]\n",
			want: `policy.yaml:4: accounts.prod.levels[1]: unknown level "differential" (levels: full, incremental)`,
		},
		{
			name: "abbreviated level",
			yaml: "accounts:\n  prod:\n    requesters: [U01ALICE]\n    levels: [incr]\n",
			want: `policy.yaml:4: accounts.prod.levels[0]: unknown level "incr" (did you mean "incremental"?)`,
		},
		{
			name: "duplicate table group differing by case",
			yaml: "accounts:\n  prod:\n    requesters: [U01ALICE]\n    tablegroups: [orders, Orders]\n",
			want: `policy.yaml:4: accounts.prod.tablegroups[1]: duplicate entry "Orders" (first at line 4)`,
		},
		{
			name: "account is a list",
			yaml: "accounts:\n  prod: [U01ALICE]\n",
			want: "policy.yaml:2: accounts.prod: expected a mapping of account fields, got a list",
		},
		{
			name: "group key is not a group ID",
			yaml: "accounts:\n  prod:\n    requesters: [U01ALICE]\ngroups:\n  oncall: [U01ALICE]\n",
			want: `policy.yaml:5: groups.oncall: "oncall" is not a user group ID (S…)`,
		},
		{
			name: "group member is a group",
			yaml: "accounts:\n  prod:\n    requesters: [U01ALICE]\ngroups:\n  S01ONCALL: [S02SRELEADS]\n",
			want: `policy.yaml:5: groups.S01ONCALL[0]: "S02SRELEADS" is not a Slack user ID (U…/W…) (it looks like a user group ID (S…))`,
		},
		{
			name: "merge key",
			yaml: "base: &base\n  requesters: [U01ALICE]\naccounts:\n  prod:\n    <<: *base\n",
			want: "policy.yaml:5: accounts.prod.<<: merge keys (<<) are not supported: write the fields out",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse("policy.yaml", []byte(tt.yaml))
			if err == nil {
				t.Fatalf("Parse(%q) = %+v, nil; want error %q", tt.yaml, p, tt.want)
			}
			if !slices.Contains(strings.Split(err.Error(), "\n"), tt.want) {
				t.Errorf("Parse(%q) error =\n%s\nwant a line\n%s", tt.yaml, err, tt.want)
			}
		})
	}
}

func TestParseErrorIsTyped(t *testing.T) {
	_, err := Parse("/etc/backupbot/policy.yaml", []byte("accounts:\n  prod:\n    requesters: [U01ALICE]\n    aprovers: [U03CAROL]\n"))
	var pe *ParseError
	if !errors.As(err, &pe) {
		t.Fatalf("Parse error %v (%T) is not a *ParseError", err, err)
	}
	want := ParseError{File: "/etc/backupbot/policy.yaml", Line: 4, Path: "accounts.prod.aprovers", Problem: `unknown field (did you mean "approvers"?)`}
	if *pe != want {
		t.Errorf("ParseError = %+v, want %+v", *pe, want)
	}
}

func TestParseReportsEveryProblemInFileOrder(t *testing.T) {
	src := "accounts:\n  prod:\n    aprovers: [U03CAROL]\n    channels: [ops]\n"
	_, err := Parse("policy.yaml", []byte(src))
	want := strings.Join([]string{
		`policy.yaml:2: accounts.prod: requesters is required (use ["*"] to allow anyone)`,
		`policy.yaml:3: accounts.prod.aprovers: unknown field (did you mean "approvers"?)`,
		`policy.yaml:4: accounts.prod.channels[0]: "ops" is not a channel ID (C…/G…)`,
	}, "\n")
	if err == nil || err.Error() != want {
		t.Errorf("Parse(%q) error =\n%v\nwant\n%s", src, err, want)
	}
}

func TestParseValid(t *testing.T) {
	src := `approval_timeout: 45m
accounts:
  Prod:
    client: aws-prod-account
    requesters: [S01ONCALL, U01ALICE, W07GUEST]
    approvers: [S02SRELEADS, U03CAROL]
    channels: [C01OPS, G02PRIVATE]
    tablegroups: [orders, "customer profiles"]
    levels: [FULL]
    require_reason: true
    breakglass: [S01ONCALL]
    approval_timeout: 2h
  staging:
    requesters: ["*"]
    require_reason: false
groups:
  S01ONCALL: [U01ALICE, U02BOB]
  S03EMPTY: []
`
	p, err := Parse("policy.yaml", []byte(src))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	want := []*Account{
		{
			Name:            "Prod",
			Client:          "aws-prod-account",
			Requesters:      []string{"S01ONCALL", "U01ALICE", "W07GUEST"},
			Approvers:       []string{"S02SRELEADS", "U03CAROL"},
			Channels:        []string{"C01OPS", "G02PRIVATE"},
			TableGroups:     []string{"orders", "customer profiles"},
			Levels:          []string{"full"},
			RequireReason:   true,
			Breakglass:      []string{"S01ONCALL"},
			ApprovalTimeout: 2 * time.Hour,
			defaultTimeout:  45 * time.Minute,
		},
		{
			Name:           "staging",
			Client:         "staging",
			Requesters:     []string{"*"},
			defaultTimeout: 45 * time.Minute,
		},
	}
	if got := p.Accounts(); !reflect.DeepEqual(got, want) {
		t.Errorf("Accounts() =\n%+v\nwant\n%+v", deref(got), deref(want))
	}
	if p.ApprovalTimeout != 45*time.Minute {
		t.Errorf("ApprovalTimeout = %v, want 45m", p.ApprovalTimeout)
	}
	wantGroups := map[string][]string{"S01ONCALL": {"U01ALICE", "U02BOB"}, "S03EMPTY": {}}
	if !reflect.DeepEqual(p.Groups, wantGroups) {
		t.Errorf("Groups = %v, want %v", p.Groups, wantGroups)
	}
	sum := sha256.Sum256([]byte(src))
	if want := hex.EncodeToString(sum[:])[:12]; p.Hash != want {
		t.Errorf("Hash = %q, want %q", p.Hash, want)
	}
}

func TestParseAliases(t *testing.T) {
	src := "accounts:\n  prod:\n    requesters: &oncall [S01ONCALL, U01ALICE]\n  staging:\n    requesters: *oncall\n"
	p, err := Parse("policy.yaml", []byte(src))
	if err != nil {
		t.Fatalf("Parse(%q): %v", src, err)
	}
	a, _ := p.Account("staging")
	if want := []string{"S01ONCALL", "U01ALICE"}; !reflect.DeepEqual(a.Requesters, want) {
		t.Errorf("staging requesters = %v, want %v", a.Requesters, want)
	}
}

func deref(as []*Account) []Account {
	out := make([]Account, len(as))
	for i, a := range as {
		out[i] = *a
	}
	return out
}

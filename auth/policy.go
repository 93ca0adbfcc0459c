package auth

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"time"
)

// DefaultApprovalTimeout is how long a request waits for an approval when
// the policy sets no approval_timeout.
const DefaultApprovalTimeout = 30 * time.Minute

// Levels a policy may allow, as written in the file and in Target.Level.
const (
	LevelFull        = "full"
	LevelIncremental = "incremental"
)

// Policy is a parsed policy file: who may request, approve and break the
// glass for which account. It is read-only after Parse, so one Policy may be
// shared by any number of goroutines; a reload builds a new one.
type Policy struct {
	// ApprovalTimeout is the top-level approval_timeout: how long a request
	// waits for an approval before it expires. Default 30m.
	ApprovalTimeout time.Duration
	// Groups is the optional top-level `groups:` (S… → U…/W… members): static
	// membership used by `backupbot console` and tests. The Slack bot resolves
	// user groups through Slack instead.
	Groups map[string][]string
	// AuditChannel is the optional top-level audit_channel (C…/G…): every
	// break-glass use and every approval decision is announced there.
	AuditChannel string
	// Hash is the first 12 hex digits of the sha256 of the file bytes, to say
	// which policy is active.
	Hash string

	accounts []*Account // file order
}

// Account is one entry of the policy's `accounts:` map.
type Account struct {
	// Name is the key users type; it is compared without regard to case.
	Name string
	// Client is the Commvault clientName; Parse sets it to Name when the file
	// has no `client:`.
	Client string
	// Requesters are Slack user IDs (U…/W…), user group IDs (S…) or "*" for
	// anyone. Never empty in a parsed policy.
	Requesters []string
	// Approvers are user and user group IDs; when not empty, every request
	// needs one approval from here.
	Approvers []string
	// Channels are channel IDs (C…/G…) requests must come from; empty: any.
	Channels []string
	// TableGroups are the table groups that may be backed up; empty: all.
	TableGroups []string
	// Breakglass are the user and user group IDs that may use
	// `/backup emergency`: no approval, reason required.
	Breakglass []string
	// Levels are the allowed levels ("full", "incremental", lower case);
	// empty: both.
	Levels []string
	// RequireReason makes a reason mandatory for ordinary requests
	// (break-glass requests always need one).
	RequireReason bool
	// ApprovalTimeout is the per-account override of
	// Policy.ApprovalTimeout; 0 when the file sets none (see Timeout).
	ApprovalTimeout time.Duration

	defaultTimeout time.Duration // the policy's ApprovalTimeout, set by Parse
}

// Load reads the policy file at path and parses it with Parse, naming the
// path in every error.
func Load(path string) (*Policy, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read policy: %w", err)
	}
	return Parse(path, data)
}

// Accounts returns the policy's accounts in file order.
func (p *Policy) Accounts() []*Account {
	return slices.Clone(p.accounts)
}

// Account returns the account called name, compared without regard to case.
func (p *Policy) Account(name string) (*Account, bool) {
	if p == nil || name == "" {
		return nil, false
	}
	for _, a := range p.accounts {
		if strings.EqualFold(a.Name, name) {
			return a, true
		}
	}
	return nil, false
}

// NeedsApproval reports whether every request for the account needs an
// approval, that is whether it has approvers.
func (a *Account) NeedsApproval() bool {
	return len(a.Approvers) > 0
}

// Timeout is how long a request for this account waits for an approval: the
// account's approval_timeout, else the policy's, else 30m.
func (a *Account) Timeout() time.Duration {
	switch {
	case a.ApprovalTimeout > 0:
		return a.ApprovalTimeout
	case a.defaultTimeout > 0:
		return a.defaultTimeout
	default:
		return DefaultApprovalTimeout
	}
}

// AllowsTableGroup reports whether the table group called name may be backed
// up: it is listed in TableGroups (compared without regard to case), or
// TableGroups is empty. An empty name is never allowed.
func (a *Account) AllowsTableGroup(name string) bool {
	if name == "" {
		return false
	}
	if len(a.TableGroups) == 0 {
		return true
	}
	return slices.ContainsFunc(a.TableGroups, func(tg string) bool { return strings.EqualFold(tg, name) })
}

// AllowsLevel reports whether level ("full" or "incremental", any case) may
// be used: it is listed in Levels, or Levels is empty. Anything else, the
// empty string included, is never allowed.
func (a *Account) AllowsLevel(level string) bool {
	level = strings.ToLower(level)
	if level != LevelFull && level != LevelIncremental {
		return false
	}
	return len(a.Levels) == 0 || slices.Contains(a.Levels, level)
}

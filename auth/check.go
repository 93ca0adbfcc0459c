package auth

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// Action is what a user asks to do with an account.
type Action string

// The actions the policy decides.
const (
	ActionRequest    Action = "request"
	ActionApprove    Action = "approve"
	ActionBreakglass Action = "breakglass"
)

// Rules: the Decision.Rule values, named after the policy key (or the
// built-in rule) that decided.
const (
	RuleRequesters     = "requesters"
	RuleChannels       = "channels"
	RuleTableGroups    = "tablegroups"
	RuleLevels         = "levels"
	RuleRequireReason  = "require_reason"
	RuleApprovers      = "approvers"
	RuleSelfApproval   = "self-approval"
	RuleBreakglass     = "breakglass"
	RuleUnknownAccount = "unknown-account"
	RuleDefaultDeny    = "default-deny"
	RuleGroupLookup    = "group-lookup"
)

// Subject is who asks, and where.
type Subject struct {
	User    string // Slack user ID (U…/W…)
	Channel string // Slack channel ID (C…/G…/D…)
}

// Target is what a request or break-glass asks for.
type Target struct {
	Account    string // as typed; compared without regard to case
	TableGroup string // as typed; compared without regard to case
	Level      string // "full" or "incremental" (any case)
	Reason     string // free text; blank counts as none
}

// Decision is the outcome of a check. The zero Decision denies.
type Decision struct {
	Allow bool
	// Rule is which rule decided (one of the Rule… constants), for the audit
	// trail and metrics.
	Rule string
	// Reason is one sentence for the user, such as "you are not a requester
	// for prod" or "prod may only be requested from <#C01OPS>".
	Reason string
	// Err is the lookup error behind a "group-lookup" denial, for the log;
	// never show it to users.
	Err error
}

// CheckRequest decides whether s may request the backup t (an ordinary
// request; whether it then needs an approval is Account.NeedsApproval).
// Rules apply in this order, the first that fails denies:
//
//  1. unknown-account: the account exists (case-insensitive);
//  2. requesters: the user is a requester (by ID, "*", or user group);
//     a failed group lookup denies with group-lookup;
//  3. channels: the channel is listed, if the account lists any;
//  4. tablegroups: the table group is listed, if the account lists any;
//  5. levels: the level is full or incremental and allowed;
//  6. require_reason: a reason is given, if the account requires one.
//
// Who comes before what, so that a user who may not use the account learns
// nothing about its other limits. An allowed request has Rule "requesters".
func (p *Policy) CheckRequest(ctx context.Context, g GroupLookup, s Subject, t Target) Decision {
	a, d := p.find(t.Account)
	if a == nil {
		return d
	}
	if d, ok := check(ctx, g, s.User, a.Requesters, true, RuleRequesters, "you are not a requester for %s", a.Name); !ok {
		return d
	}
	if d, ok := checkTarget(a, s, t, a.RequireReason); !ok {
		return d
	}
	return Decision{Allow: true, Rule: RuleRequesters, Reason: fmt.Sprintf("you may request backups of %s", a.Name)}
}

// CheckBreakglass decides whether s may run the emergency backup t: no
// approval, a reason always required. Being a requester is not needed.
// Rules apply in this order:
//
//  1. unknown-account: the account exists;
//  2. breakglass: the user is in the account's breakglass list (an account
//     without one denies everybody); a failed lookup denies with group-lookup;
//  3. channels, tablegroups, levels: as for CheckRequest;
//  4. require_reason: a reason is given, whatever the account's require_reason.
//
// An allowed break-glass has Rule "breakglass".
func (p *Policy) CheckBreakglass(ctx context.Context, g GroupLookup, s Subject, t Target) Decision {
	a, d := p.find(t.Account)
	if a == nil {
		return d
	}
	if len(a.Breakglass) == 0 {
		return deny(RuleBreakglass, "break-glass is not enabled for %s", a.Name)
	}
	if d, ok := check(ctx, g, s.User, a.Breakglass, false, RuleBreakglass, "you are not a break-glass member for %s", a.Name); !ok {
		return d
	}
	if d, ok := checkTarget(a, s, t, true); !ok {
		return d
	}
	return Decision{Allow: true, Rule: RuleBreakglass, Reason: fmt.Sprintf("break-glass backup of %s allowed", a.Name)}
}

// CheckApprove decides whether approver may approve (or deny) a request
// that requester made for account. Rules apply in this order:
//
//  1. unknown-account: the account exists;
//  2. self-approval: the approver is not the requester (IDs compared without
//     regard to case), even when they are an approver; a request with no
//     requester on record is treated the same way;
//  3. default-deny: the account has approvers (without, nobody may approve);
//  4. approvers: the approver is in approvers ("*" never counts); a failed
//     lookup denies with group-lookup.
//
// An allowed approval has Rule "approvers". Call it when the click arrives,
// so that the policy and group membership are those of now.
func (p *Policy) CheckApprove(ctx context.Context, g GroupLookup, approver string, requester string, account string) Decision {
	a, d := p.find(account)
	if a == nil {
		return d
	}
	switch {
	case requester == "":
		return deny(RuleSelfApproval, "the request has no requester on record, so nobody may approve it")
	case strings.EqualFold(approver, requester):
		return deny(RuleSelfApproval, "you cannot approve your own request")
	case !a.NeedsApproval():
		return deny(RuleDefaultDeny, "%s has no approvers, so nobody may approve its requests", a.Name)
	}
	if d, ok := check(ctx, g, approver, a.Approvers, false, RuleApprovers, "you are not an approver for %s", a.Name); !ok {
		return d
	}
	return Decision{Allow: true, Rule: RuleApprovers, Reason: fmt.Sprintf("you may approve requests for %s", a.Name)}
}

// Requestable returns, in file order, the accounts s may request from s's
// channel: s is a requester and the channel is allowed. Table groups and
// levels are not considered. An account whose group lookup fails is left
// out (fail closed).
func (p *Policy) Requestable(ctx context.Context, g GroupLookup, s Subject) []*Account {
	if p == nil {
		return nil
	}
	var out []*Account
	for _, a := range p.accounts {
		if !a.allowsChannel(s.Channel) {
			continue
		}
		if ok, err := member(ctx, g, s.User, a.Requesters, true); ok && err == nil {
			out = append(out, a)
		}
	}
	return out
}

// find returns the named account, or nil and the denial.
func (p *Policy) find(name string) (*Account, Decision) {
	switch {
	case p == nil:
		return nil, deny(RuleDefaultDeny, "no policy is loaded")
	case name == "":
		return nil, deny(RuleUnknownAccount, "no account given")
	}
	if a, ok := p.Account(name); ok {
		return a, Decision{}
	}
	return nil, deny(RuleUnknownAccount, "no account named %s", quote(name))
}

// check denies with rule (and the sentence format, args) unless user is in
// ids, or with group-lookup if a lookup failed.
func check(ctx context.Context, g GroupLookup, user string, ids []string, wildcard bool, rule, format string, args ...any) (Decision, bool) {
	ok, err := member(ctx, g, user, ids, wildcard)
	if err != nil {
		return Decision{Rule: RuleGroupLookup, Reason: "your user groups could not be checked right now; try again in a minute", Err: err}, false
	}
	if !ok {
		return deny(rule, format, args...), false
	}
	return Decision{}, true
}

// checkTarget applies the channels, tablegroups, levels and require_reason
// rules, in that order.
func checkTarget(a *Account, s Subject, t Target, needReason bool) (Decision, bool) {
	switch {
	case !a.allowsChannel(s.Channel):
		return deny(RuleChannels, "%s may only be requested from %s", a.Name, mentions(a.Channels)), false
	case t.TableGroup == "":
		return deny(RuleTableGroups, "no table group given"), false
	case !a.AllowsTableGroup(t.TableGroup):
		return deny(RuleTableGroups, "table group %s is not allowed for %s (allowed: %s)",
			quote(t.TableGroup), a.Name, strings.Join(a.TableGroups, ", ")), false
	case !a.AllowsLevel(t.Level):
		allowed := a.Levels
		if len(allowed) == 0 {
			allowed = []string{LevelFull, LevelIncremental}
		}
		return deny(RuleLevels, "level %s is not allowed for %s (allowed: %s)",
			quote(t.Level), a.Name, strings.Join(allowed, ", ")), false
	case needReason && strings.TrimSpace(t.Reason) == "":
		return deny(RuleRequireReason, "a backup of %s needs a reason: write it after the level", a.Name), false
	}
	return Decision{}, true
}

func (a *Account) allowsChannel(channel string) bool {
	return len(a.Channels) == 0 || channel != "" && slices.Contains(a.Channels, channel)
}

func deny(rule, format string, args ...any) Decision {
	return Decision{Rule: rule, Reason: fmt.Sprintf(format, args...)}
}

// mentions renders channel IDs as Slack channel links: "<#C01> or <#C02>".
func mentions(channels []string) string {
	out := make([]string, len(channels))
	for i, c := range channels {
		out[i] = "<#" + c + ">"
	}
	return strings.Join(out, " or ")
}

// quote quotes what a user typed, cut to 40 characters.
func quote(s string) string {
	if r := []rune(s); len(r) > 40 {
		s = string(r[:40]) + "…"
	}
	return fmt.Sprintf("%q", s)
}

package auth

import (
	"context"
	"strings"
)

// Recorded is a request as the bot recorded it, to be checked again
// against the policy of now with CheckRecorded.
type Recorded struct {
	Requester  string // the requester's Slack user ID
	Channel    string // the channel it was asked in
	Account    string
	TableGroup string // Commvault's name of the table group
	Instance   string // its DynamoDB instance: a policy may name the table group INSTANCE/NAME
	Level      string // "full" or "incremental"
	Reason     string
	Emergency  bool // a break-glass request
}

// CheckRecorded decides whether a recorded request may still run under
// the policy as it is now: call it when an approval would submit the
// request, and before recovery submits an approved one. It applies the
// rules of CheckBreakglass to a break-glass request and those of
// CheckRequest to any other, as if its requester asked again from its
// channel, so that a requester offboarded since (no longer listed, nor in
// a listed user group), an account that is gone, a channel, table group or
// level no longer allowed, and a reason now required all deny, with the
// rule that decided. A table group is allowed by its name or as
// INSTANCE/NAME. A failed group lookup denies with group-lookup: that says
// nothing of the request, so ask again later rather than end it.
func (p *Policy) CheckRecorded(ctx context.Context, g GroupLookup, r Recorded) Decision {
	s := Subject{User: r.Requester, Channel: r.Channel}
	t := Target{Account: r.Account, TableGroup: r.TableGroup, Level: r.Level, Reason: r.Reason}
	if a, ok := p.Account(r.Account); ok && r.Instance != "" && !a.AllowsTableGroup(r.TableGroup) &&
		a.AllowsTableGroup(r.Instance+"/"+r.TableGroup) {
		t.TableGroup = r.Instance + "/" + r.TableGroup
	}
	if r.Emergency {
		return p.CheckBreakglass(ctx, g, s, t)
	}
	return p.CheckRequest(ctx, g, s, t)
}

// MayUseSome reports whether user may request or approve backups of at
// least one account (from any channel): who may ask about jobs at all. A
// requesters list of "*" lets anyone in. The Decision is the denial when
// not: Rule "view", or "group-lookup" when a failed lookup left the user
// in no list.
func (p *Policy) MayUseSome(ctx context.Context, g GroupLookup, user string) (bool, Decision) {
	if p == nil {
		return false, deny(RuleDefaultDeny, "no policy is loaded")
	}
	var errs []error
	for _, a := range p.accounts {
		for _, l := range []struct {
			ids      []string
			wildcard bool
		}{{a.Requesters, true}, {a.Approvers, false}} {
			ok, err := member(ctx, g, user, l.ids, l.wildcard)
			if ok && err == nil {
				return true, Decision{Allow: true, Rule: RuleView, Reason: "you may use " + a.Name}
			}
			errs = append(errs, err)
		}
	}
	if d := lookupFailed(errs...); d.Err != nil {
		return false, d
	}
	return false, deny(RuleView, "you may neither request nor approve backups of any account")
}

// Warnings are what the policy allows but should not, one sentence each:
// break-glass without an audit_channel, whose uses nobody sees outside
// their own channel (which may be a private one with the requester
// alone).
func (p *Policy) Warnings() []string {
	if p == nil || p.AuditChannel != "" {
		return nil
	}
	var names []string
	for _, a := range p.accounts {
		if len(a.Breakglass) > 0 {
			names = append(names, a.Name)
		}
	}
	if len(names) == 0 {
		return nil
	}
	return []string{"break-glass is enabled for " + strings.Join(names, ", ") +
		" and the policy has no audit_channel: a break-glass backup is seen only in the channel it was asked in " +
		"(add audit_channel: C… to announce every one, and every approval decision, there)"}
}

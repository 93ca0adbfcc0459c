package auth

import (
	"context"
	"fmt"
	"strings"
)

// Rules of CheckView and CheckCancel.
const (
	RuleView   = "view"   // neither a requester nor an approver of the account
	RuleCancel = "cancel" // neither the requester (still allowed to be one) nor an approver
)

// CheckView decides whether s may see the history of table group
// tableGroup of account: whoever may request or approve backups of it
// from s's channel. Rules apply in this order, the first that fails
// denies:
//
//  1. unknown-account: the account exists;
//  2. view: the user is a requester (by ID, "*", or user group) or an
//     approver (by ID or user group); a failed group lookup that leaves
//     the user in neither list denies with group-lookup;
//  3. channels: the channel is listed, if the account lists any;
//  4. tablegroups: the table group is listed, if the account lists any.
//
// It needs nothing from Commvault, so a caller can refuse before any read.
// An allowed view has Rule "view".
func (p *Policy) CheckView(ctx context.Context, g GroupLookup, s Subject, account, tableGroup string) Decision {
	a, d := p.find(account)
	if a == nil {
		return d
	}
	isRequester, errR := member(ctx, g, s.User, a.Requesters, true)
	isApprover, errA := member(ctx, g, s.User, a.Approvers, false)
	switch {
	case (isRequester && errR == nil) || (isApprover && errA == nil):
	case errR != nil || errA != nil:
		return lookupFailed(errR, errA)
	default:
		return deny(RuleView, "you may neither request nor approve backups of %s", a.Name)
	}
	switch {
	case !a.allowsChannel(s.Channel):
		return deny(RuleChannels, "%s may only be used from %s", a.Name, mentions(a.Channels))
	case tableGroup == "":
		return deny(RuleTableGroups, "no table group given")
	case !a.AllowsTableGroup(tableGroup):
		return deny(RuleTableGroups, "table group %s is not allowed for %s", quote(tableGroup), a.Name)
	}
	return Decision{Allow: true, Rule: RuleView, Reason: fmt.Sprintf("you may see the backups of %s", a.Name)}
}

// CheckCancel decides whether user may cancel a request, or kill its
// Commvault job, that requester made for account; requester is "" for a
// job the bot did not start, and emergency says the request was a
// break-glass one. Cancelling never starts anything, so no channel rule
// applies. Rules apply in this order:
//
//  1. unknown-account: the account exists;
//  2. the requester may cancel their own request while they may still
//     request backups of the account (a requester, by ID, "*" or user
//     group), or, for a break-glass request, while they are still a
//     break-glass member: Rule "requesters" or "breakglass";
//  3. an approver of the account (by ID or user group) may cancel any
//     request and kill any job of the account: Rule "approvers";
//  4. everyone else is denied with cancel; a failed group lookup that
//     leaves the user allowed by neither rule denies with group-lookup.
//
// IDs are compared without regard to case, as in CheckApprove.
func (p *Policy) CheckCancel(ctx context.Context, g GroupLookup, user, requester, account string, emergency bool) Decision {
	a, d := p.find(account)
	if a == nil {
		return d
	}
	var errs []error
	if user != "" && strings.EqualFold(user, requester) {
		list, wildcard, rule := a.Requesters, true, RuleRequesters
		if emergency {
			list, wildcard, rule = a.Breakglass, false, RuleBreakglass
		}
		ok, err := member(ctx, g, user, list, wildcard)
		if ok && err == nil {
			return Decision{Allow: true, Rule: rule, Reason: "you asked for it"}
		}
		errs = append(errs, err)
	}
	ok, err := member(ctx, g, user, a.Approvers, false)
	if ok && err == nil {
		return Decision{Allow: true, Rule: RuleApprovers, Reason: fmt.Sprintf("you approve backups of %s", a.Name)}
	}
	if d := lookupFailed(append(errs, err)...); d.Err != nil {
		return d
	}
	return deny(RuleCancel, "only the requester and the approvers of %s may cancel its backups", a.Name)
}

// lookupFailed is the group-lookup denial for the first non-nil error of
// errs; its Err is nil when there is none.
func lookupFailed(errs ...error) Decision {
	for _, err := range errs {
		if err != nil {
			return Decision{Rule: RuleGroupLookup, Reason: "your user groups could not be checked right now; try again in a minute", Err: err}
		}
	}
	return Decision{}
}

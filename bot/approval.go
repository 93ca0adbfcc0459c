package bot

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"go.uber.org/zap"

	"github.com/backupbot/backupbot/bot/store"
)

// decide applies an approver's Approve or Deny to a pending request. The
// click is checked against the policy as it is now; only one decision wins,
// however many clicks arrive, on however many replicas.
//
// card is the message the click came from ("" from the console): when the
// requester's flow has not recorded its card yet (an approver can be
// quicker than that), the click's card is recorded, conditionally, so that
// the decision's thread replies have their thread.
func (b *Bot) decide(ctx context.Context, t *turn, id, card string, approve bool, reason string) {
	verb := map[bool]string{true: "approve", false: "deny"}[approve]
	r, err := b.waiting(ctx, id)
	if err != nil {
		b.notWaiting(ctx, t, id, r, err)
		return
	}
	if r.ParentTS == "" && card != "" && t.in.Channel == r.Channel {
		if _, recorded, err := b.store.SetParentTS(ctx, r.ID, card); err == nil {
			r.ParentTS = recorded
		}
	}
	t.log = t.log.With(zap.String("account", r.Account), zap.String("tablegroup", r.TableGroup.Name))
	if !b.onItsCard(ctx, t, r, verb) {
		return
	}
	d := b.policy().CheckApprove(ctx, b.groups, t.in.User, r.User, r.Account)
	if !d.Allow {
		t.log.Info("click", zap.String("outcome", "refused"), zap.String("rule", d.Rule))
		b.denied(d.Rule)
		b.audit(ctx, t.log, r.event(t.in.User, "click-refused", d.Rule, verb+": "+d.Reason+b.console(t)))
		b.reply(ctx, t, clickRefusedAnswer(verb, r.ID, d.Reason))
		return
	}
	// The approver may approve; the request itself must still be allowed
	// as the policy reads now (a deny runs nothing, so it needs no check).
	if approve {
		if still := b.recheck(ctx, r); !still.Allow {
			b.noLongerAllowed(ctx, t, r, still, verb)
			return
		}
	}
	ch := store.Change{To: store.Approved, Actor: t.in.User, Decided: true, Detail: "rule " + d.Rule + b.console(t)}
	action := "approved"
	if !approve {
		ch.To, ch.Problem, action = store.Rejected, reason, "rejected"
	}
	ch.Event = r.audited(t.in.User, action, d.Rule, reason+b.console(t))
	r, err = b.transition(ctx, r, []store.State{store.Pending}, ch)
	switch {
	case errors.Is(err, store.ErrConflict):
		t.log.Info("click", zap.String("outcome", "too-late"), zap.Error(err))
		b.reply(ctx, t, b.notWaitingNow(ctx, id))
		return
	case err != nil:
		b.internalError(ctx, t, fmt.Errorf("record decision on %s: %w", id, err))
		return
	}
	t.log.Info("click", zap.String("outcome", action))
	b.metrics.decisions.WithLabelValues(action).Inc()
	ctx, cancel := detached(ctx)
	defer cancel()
	b.updateParent(ctx, t.log, r)
	decided := r
	b.announce(ctx, t.log, decided, func(link string) Message { return decisionAnnouncement(decided, link) })
	if !approve {
		b.thread(ctx, t.log, r, deniedReply(r))
		return
	}
	b.thread(ctx, t.log, r, approvedReply(r))
	release := b.holding(ctx, t.log, r.ID) // approved, this replica holds it until it is submitted
	defer release()
	b.submit(ctx, t.log, r)
}

// errExpired is a request that waited for a decision until it expired.
var errExpired = errors.New("request expired")

// waiting reads request id, which must still wait for a decision: else the
// error says why not (store.ErrNotFound, *store.ConflictError with its
// state, errExpired, or the store's failure).
func (b *Bot) waiting(ctx context.Context, id string) (request, error) {
	rec, err := b.store.Get(ctx, id)
	if err != nil {
		return request{}, err
	}
	r, err := fromRecord(rec)
	if err != nil {
		return request{}, err
	}
	switch {
	case r.State != store.Pending:
		return r, &store.ConflictError{ID: r.ID, State: r.State}
	case !b.now().Before(r.Expires):
		return r, errExpired
	}
	return r, nil
}

// notWaiting answers a click on request id that waiting refused with err,
// and expires the request (r) if its time is up.
func (b *Bot) notWaiting(ctx context.Context, t *turn, id string, r request, err error) {
	switch {
	case errors.Is(err, store.ErrNotFound):
		t.log.Info("click", zap.String("outcome", "no-such-request"))
		b.reply(ctx, t, noSuchRequestAnswer(id))
	case errors.Is(err, store.ErrConflict):
		b.reply(ctx, t, b.notWaitingNow(ctx, id))
	case errors.Is(err, errExpired):
		b.expire(ctx, t.log, r)
		b.reply(ctx, t, expiredAnswer(r))
	default:
		b.internalError(ctx, t, fmt.Errorf("read request %s: %w", id, err))
	}
}

// notWaitingNow tells a late clicker what became of request id.
func (b *Bot) notWaitingNow(ctx context.Context, id string) Message {
	rec, err := b.store.Get(ctx, id)
	if err != nil {
		return notWaitingAnswer(id, nil, b.links)
	}
	r, err := fromRecord(rec)
	if err != nil {
		return notWaitingAnswer(id, nil, b.links)
	}
	return notWaitingAnswer(id, &r, b.links)
}

// expire ends a pending request nobody approved in time.
func (b *Bot) expire(ctx context.Context, log *zap.Logger, r request) {
	_, err := b.finish(ctx, log, r, []store.State{store.Pending}, store.Change{To: store.Expired, Actor: actorBot}, "expired")
	switch {
	case err == nil:
		b.metrics.expiries.Inc()
	case !errors.Is(err, store.ErrConflict): // a conflict: decided, or expired by another replica
		log.Error("expire request", zap.String("request", r.ID), zap.Error(err))
	}
}

// finish moves r to an end state that runs nothing, records it in the
// audit trail and shows it on the card (buttons gone), and returns r as it
// now is. A request already moved on is *store.ConflictError.
func (b *Bot) finish(ctx context.Context, log *zap.Logger, r request, from []store.State, ch store.Change, action string) (request, error) {
	ch.Event = r.audited(ch.Actor, action, "", ch.Problem)
	r, err := b.transition(ctx, r, from, ch)
	if err != nil {
		return r, err
	}
	log.Info("request", zap.String("request", r.ID), zap.String("outcome", action))
	b.updateParent(ctx, log, r)
	return r, nil
}

// expireDue expires every pending request whose time is up, including those
// that came due while the bot was down.
func (b *Bot) expireDue(ctx context.Context) {
	pending, err := b.store.ByState(ctx, store.Pending)
	if err != nil {
		b.log.Warn("list pending requests", zap.Error(err))
		return
	}
	now := b.now()
	for _, rec := range pending {
		if now.Before(rec.Expires) {
			continue
		}
		r, err := fromRecord(rec)
		if err != nil {
			b.log.Error("read request", zap.String("request", rec.ID), zap.Error(err))
			continue
		}
		b.expire(ctx, b.log, r)
	}
}

// someApprover names a user who may approve request id: the first of its
// account's approvers (user groups looked up) who is not the requester.
func (b *Bot) someApprover(ctx context.Context, id string) string {
	rec, err := b.store.Get(ctx, id)
	if err != nil {
		return ""
	}
	acct, ok := b.policy().Account(rec.Account)
	if !ok {
		return ""
	}
	for _, a := range acct.Approvers {
		users := []string{a}
		if strings.HasPrefix(a, "S") {
			users, _ = b.groups.Members(ctx, a)
		}
		for _, u := range users {
			if u != rec.User {
				return u
			}
		}
	}
	return ""
}

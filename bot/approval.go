package bot

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/backupbot/backupbot/bot/store"
)

// decide applies an approver's Approve or Deny to a pending request. The
// click is checked against the policy as it is now; only one decision wins,
// however many clicks arrive, on however many replicas.
func (b *Bot) decide(ctx context.Context, log *zap.Logger, in Input, id string, approve bool, reason string) {
	verb := map[bool]string{true: "approve", false: "deny"}[approve]
	r, ok := b.pendingRequest(ctx, log, in, id)
	if !ok {
		return
	}
	log = log.With(zap.String("account", r.Account), zap.String("tablegroup", r.TableGroup.Name))
	d := b.policy().CheckApprove(ctx, b.groups, in.User, r.User, r.Account)
	if !d.Allow {
		log.Info("click", zap.String("outcome", "refused"), zap.String("rule", d.Rule))
		b.denied(d.Rule)
		b.audit(ctx, log, store.Event{RequestID: r.ID, Actor: in.User, Action: "click-refused", Rule: d.Rule,
			Account: r.Account, TableGroup: r.TableGroup.Name, Channel: r.Channel, Detail: verb + ": " + d.Reason})
		b.reply(ctx, log, in, Message{Text: fmt.Sprintf("🚫 You may not %s %s: %s. Nothing was changed.", verb, r.ID, esc(d.Reason))})
		return
	}
	ch := store.Change{To: store.Approved, Actor: in.User, Decided: true, Detail: "rule " + d.Rule}
	action := "approved"
	if !approve {
		ch.To, ch.Problem, action = store.Rejected, reason, "rejected"
	}
	next, err := b.store.Transition(ctx, r.ID, []store.State{store.Pending}, withTime(ch, b.now()))
	if err == nil {
		b.logState(next, ch)
	}
	var conflict *store.ConflictError
	switch {
	case errors.As(err, &conflict):
		log.Info("click", zap.String("outcome", "too-late"), zap.String("state", string(conflict.State)))
		b.reply(ctx, log, in, b.alreadyDecided(ctx, r.ID))
		return
	case err != nil:
		b.internalError(ctx, log, in, fmt.Errorf("record decision on %s: %w", r.ID, err))
		return
	}
	if r, err = fromRecord(next); err != nil {
		b.internalError(ctx, log, in, err)
		return
	}
	log.Info("click", zap.String("outcome", action))
	b.metrics.decisions.WithLabelValues(action).Inc()
	b.audit(ctx, log, store.Event{RequestID: r.ID, Actor: in.User, Action: action, Rule: d.Rule, Account: r.Account,
		TableGroup: r.TableGroup.Name, Channel: r.Channel, Detail: reason})
	ctx, cancel := detached(ctx)
	defer cancel()
	b.updateParent(ctx, log, r)
	if !approve {
		b.thread(ctx, log, r, deniedReply(r))
		return
	}
	b.thread(ctx, log, r, approvedReply(r))
	b.submit(ctx, log, r)
}

// pendingRequest finds a request that still waits for a decision, and
// answers the caller when it does not.
func (b *Bot) pendingRequest(ctx context.Context, log *zap.Logger, in Input, id string) (request, bool) {
	rec, err := b.store.Get(ctx, id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		log.Info("click", zap.String("outcome", "no-such-request"))
		b.reply(ctx, log, in, Message{Text: fmt.Sprintf("There is no request %s. Nothing was changed.", esc(id))})
		return request{}, false
	case err != nil:
		b.internalError(ctx, log, in, fmt.Errorf("read request %s: %w", id, err))
		return request{}, false
	}
	r, err := fromRecord(rec)
	if err != nil {
		b.internalError(ctx, log, in, err)
		return request{}, false
	}
	if r.State != store.Pending {
		b.reply(ctx, log, in, b.alreadyDecided(ctx, id))
		return request{}, false
	}
	if !b.now().Before(r.Expires) {
		b.expire(ctx, log, r)
		b.reply(ctx, log, in, Message{Text: fmt.Sprintf("Request %s expired at %s; nothing was changed. "+
			"The requester can ask again.", r.ID, clockTime(r.Expires))})
		return request{}, false
	}
	return r, true
}

// alreadyDecided tells a late clicker what became of the request.
func (b *Bot) alreadyDecided(ctx context.Context, id string) Message {
	rec, err := b.store.Get(ctx, id)
	if err != nil {
		return Message{Text: fmt.Sprintf("Request %s no longer waits for a decision. Nothing was changed.", esc(id))}
	}
	r, err := fromRecord(rec)
	if err != nil {
		return Message{Text: fmt.Sprintf("Request %s no longer waits for a decision. Nothing was changed.", esc(id))}
	}
	return Message{Text: fmt.Sprintf("Request %s no longer waits for a decision: %s. Nothing was changed.", r.ID, stateLine(r))}
}

// cancel withdraws the caller's own pending request.
func (b *Bot) cancel(ctx context.Context, log *zap.Logger, in Input, id string) {
	log = log.With(zap.String("request", id))
	r, ok := b.pendingRequest(ctx, log, in, id)
	if !ok {
		return
	}
	if r.User != in.User {
		b.outcome(log, kindCancel, "denied", zap.String("rule", "cancel-own"))
		b.denied("cancel-own")
		b.reply(ctx, log, in, Message{Text: fmt.Sprintf("Only <@%s>, who asked for %s, can withdraw it; approvers can deny it. "+
			"Nothing was changed.", r.User, r.ID)})
		return
	}
	if b.finish(ctx, log, r, []store.State{store.Pending}, store.Change{To: store.Cancelled, Actor: in.User, Decided: true}, "cancelled") {
		b.outcome(log, kindCancel, "cancelled")
		b.reply(ctx, log, in, Message{Text: fmt.Sprintf("Request %s is withdrawn.", r.ID)})
		return
	}
	b.reply(ctx, log, in, b.alreadyDecided(ctx, id))
}

// expire ends a pending request nobody approved in time.
func (b *Bot) expire(ctx context.Context, log *zap.Logger, r request) {
	if b.finish(ctx, log, r, []store.State{store.Pending}, store.Change{To: store.Expired, Actor: actorBot}, "expired") {
		b.metrics.expiries.Inc()
	}
}

// finish moves r to an end state that runs nothing, records it in the
// audit trail and shows it on the card (buttons gone). It reports whether
// this call made the change.
func (b *Bot) finish(ctx context.Context, log *zap.Logger, r request, from []store.State, ch store.Change, action string) bool {
	next, err := b.store.Transition(ctx, r.ID, from, withTime(ch, b.now()))
	if err != nil {
		if !errors.Is(err, store.ErrConflict) {
			log.Error("record transition", zap.String("to", string(ch.To)), zap.Error(err))
		}
		return false
	}
	b.logState(next, ch)
	r, err = fromRecord(next)
	if err != nil {
		log.Error("read request", zap.Error(err))
		return false
	}
	log.Info("request", zap.String("request", r.ID), zap.String("outcome", action))
	b.audit(ctx, log, store.Event{RequestID: r.ID, Actor: ch.Actor, Action: action, Account: r.Account,
		TableGroup: r.TableGroup.Name, Channel: r.Channel, Detail: ch.Problem})
	b.updateParent(ctx, log, r)
	return true
}

func withTime(ch store.Change, now time.Time) store.Change {
	if ch.At.IsZero() {
		ch.At = now
	}
	return ch
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

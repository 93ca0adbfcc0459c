package bot

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/backupbot/backupbot/bot/store"
	"github.com/backupbot/backupbot/commvault"
	"go.uber.org/zap"
)

// actorBot is the actor of what the bot does on its own (expiry, recovery).
const actorBot = "backupbot"

// request is one backup request and what became of it, as the core and its
// messages see it. store.Request is how it is kept.
type request struct {
	ID         string
	User       string // requester's Slack user ID
	Channel    string
	Account    string // the policy account's key
	TableGroup commvault.Subclient
	Level      commvault.Level
	Reason     string
	Emergency  bool
	State      store.State
	Created    time.Time
	Updated    time.Time
	Expires    time.Time // when a pending request expires
	Approvers  []string  // who may approve (policy entries), for the card
	DecidedBy  string
	DecidedAt  time.Time
	ParentTS   string // the parent message, root of the thread
	TaskID     int
	JobIDs     []string
	Jobs       []commvault.Job // final states of the jobs that have ended
	Problem    string          // why it failed, or what is unknown
	Owner      string          // the replica that works on it, until HeldUntil
	HeldUntil  time.Time
	Notice     int64 // the notice the transition that returned it added to the outbox, 0 if none
}

// record is r as the store keeps it.
func (r request) record() (store.Request, error) {
	sc, err := json.Marshal(r.TableGroup)
	if err != nil {
		return store.Request{}, fmt.Errorf("encode subclient of %s: %w", r.ID, err)
	}
	return store.Request{
		ID: r.ID, User: r.User, Channel: r.Channel, Account: r.Account,
		Client: r.TableGroup.ClientName, ClientID: r.TableGroup.ClientID,
		TableGroup: r.TableGroup.Name, SubclientID: r.TableGroup.ID, Subclient: sc,
		Level: string(r.Level), Reason: r.Reason, Emergency: r.Emergency, Review: r.Emergency,
		State: r.State, ParentTS: r.ParentTS, TaskID: r.TaskID, JobIDs: r.JobIDs, Problem: r.Problem,
		DecidedBy: r.DecidedBy, DecidedAt: r.DecidedAt, Expires: r.Expires, Created: r.Created, Updated: r.Updated,
		Owner: r.Owner, HeldUntil: r.HeldUntil,
	}, nil
}

// fromRecord is the stored request as the core sees it.
func fromRecord(s store.Request) (request, error) {
	var sc commvault.Subclient
	if err := json.Unmarshal(s.Subclient, &sc); err != nil {
		return request{}, fmt.Errorf("decode subclient of %s: %w", s.ID, err)
	}
	return request{
		ID: s.ID, User: s.User, Channel: s.Channel, Account: s.Account, TableGroup: sc,
		Level: commvault.Level(s.Level), Reason: s.Reason, Emergency: s.Emergency, State: s.State,
		Created: s.Created, Updated: s.Updated, Expires: s.Expires, DecidedBy: s.DecidedBy, DecidedAt: s.DecidedAt,
		ParentTS: s.ParentTS, TaskID: s.TaskID, JobIDs: s.JobIDs, Problem: s.Problem, Owner: s.Owner, HeldUntil: s.HeldUntil,
		Notice: s.Notice,
	}, nil
}

// event is the audit trail's line for action on r by actor: a user ID, or
// actorBot. rule names the policy rule that decided, if one did. A denial
// that created no request is an event of the request it would have been.
func (r request) event(actor, action, rule, detail string) store.Event {
	return store.Event{RequestID: r.ID, Actor: actor, Action: action, Rule: rule, Account: r.Account,
		TableGroup: r.TableGroup.Name, Channel: r.Channel, Detail: detail}
}

// audited is r.event, for a store.Change to record with the change it
// makes.
func (r request) audited(actor, action, rule, detail string) *store.Event {
	e := r.event(actor, action, rule, detail)
	return &e
}

// transition moves r from one of the states from as ch says, in the store,
// and returns r as it now is (with the approvers and ended jobs r knew). A
// move into a state a flow passes through holds the request for this
// replica. A request that moved on meanwhile is *store.ConflictError; the
// caller decides what a failure means.
func (b *Bot) transition(ctx context.Context, r request, from []store.State, ch store.Change) (request, error) {
	if ch.At.IsZero() {
		ch.At = b.now()
	}
	if holds(ch.To) && ch.Owner == "" { // whoever moves it on works on it
		ch.Owner, ch.HeldUntil = b.replica, ch.At.Add(holdTTL)
	}
	rec, err := b.store.Transition(ctx, r.ID, from, ch)
	if err != nil {
		return r, err
	}
	b.logState(rec, ch)
	next, err := fromRecord(rec)
	if err != nil {
		return r, err
	}
	next.Jobs, next.Approvers = r.Jobs, r.Approvers
	return next, nil
}

// logState is the one log line of a state change.
func (b *Bot) logState(r store.Request, ch store.Change) {
	b.log.Info("state", zap.String("request", r.ID), zap.String("state", string(r.State)), zap.String("actor", ch.Actor),
		zap.String("user", r.User), zap.String("channel", r.Channel), zap.String("account", r.Account),
		zap.String("tablegroup", r.TableGroup), zap.String("detail", ch.Problem+ch.Detail))
}

// audit appends e to the audit trail; a failure is logged, not shown.
func (b *Bot) audit(ctx context.Context, log *zap.Logger, e store.Event) {
	if e.At.IsZero() {
		e.At = b.now()
	}
	if err := b.store.Audit(ctx, e); err != nil {
		log.Error("audit", zap.String("action", e.Action), zap.Error(err))
	}
}

package bot

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/backupbot/backupbot/auth"
	"github.com/backupbot/backupbot/bot/store"
	"github.com/backupbot/backupbot/commvault"
	"github.com/backupbot/backupbot/internal/fuzzy"
)

// reportTimeout bounds the chat and store calls that report an outcome
// after the command's own deadline may have passed.
const reportTimeout = 30 * time.Second

// detached is ctx without its cancellation, bounded by reportTimeout: what
// was started is reported even when the caller has gone.
func detached(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), reportTimeout)
}

// backup runs a backup request: authorize, resolve the table group, record
// the request, post the parent message (an approval card when the account
// needs one), and submit what needs no approval.
func (b *Bot) backup(ctx context.Context, t *turn, cmd command) {
	t.log = t.log.With(zap.String("account", cmd.Account), zap.String("tablegroup", cmd.TableGroup),
		zap.String("level", string(cmd.Level)))
	acct, ok := b.authorize(ctx, t, cmd)
	if !ok {
		return
	}
	sc, err := b.cv.TableGroup(ctx, acct.Client, cmd.TableGroup)
	if err != nil {
		b.resolveFailed(ctx, t, cmd.Kind, acct, err)
		return
	}

	emergency := cmd.Kind == kindEmergency
	now := b.now()
	r := request{
		Owner: b.replica, HeldUntil: now.Add(holdTTL),
		ID: requestID(t.in.Origin, b.newRequestID), User: t.in.User, Channel: t.in.Channel, Account: acct.Name, TableGroup: sc,
		Level: cmd.Level, Reason: cmd.Reason, Emergency: emergency, State: store.Approved, Created: now, Updated: now,
		Approvers: acct.Approvers,
	}
	if acct.NeedsApproval() && !emergency {
		r.State, r.Expires = store.Pending, now.Add(acct.Timeout())
	}
	t.log = t.log.With(zap.String("request", r.ID), zap.Int("subclient", sc.ID))
	var busy *store.BusyError
	switch err := b.create(ctx, t, &r); {
	case errors.Is(err, store.ErrDuplicate): // this envelope was served before, by a replica that stopped
		t.log.Info("request already recorded from this envelope; recovery finishes it")
		return
	case errors.As(err, &busy):
		b.outcome(t, cmd.Kind, "table-group-busy", zap.String("existing", busy.Existing.ID))
		b.denied("one-at-a-time")
		b.audit(ctx, t.log, r.event(r.User, "denied", "one-at-a-time", "active request "+busy.Existing.ID))
		b.reply(ctx, t, busyAnswer(busy.Existing, b.permalink(ctx, busy.Existing)))
		return
	case err != nil:
		b.internalError(ctx, t, err)
		return
	}
	release := b.holding(ctx, t.log, r.ID) // however long Slack or Commvault take, no replica takes it over
	defer release()
	ts, err := b.chat.Post(ctx, t.in.Channel, parentMessage(r, b.links))
	if code, ok := cannotPost(err); ok { // a conversation the bot may not post in: tell how to fix it
		b.notPosted(ctx, t, cmd.Kind, acct, r, code)
		return
	}
	if err != nil { // nobody would see the outcome: do not submit
		ctx, cancel := detached(ctx)
		defer cancel()
		b.internalError(ctx, t, fmt.Errorf("post parent message: %w", err))
		if _, err := b.transition(ctx, r, []store.State{r.State}, store.Change{To: store.Failed, Actor: actorBot,
			Problem: "the request could not be posted in the channel"}); err != nil {
			t.log.Error("record that the request could not be posted", zap.Error(err))
		}
		return
	}
	if err := b.recordParent(ctx, t.log, &r, ts); err != nil { // its replies would have no thread: do not submit
		b.notRecorded(ctx, t.log, r, ts, err)
		return
	}
	switch {
	case r.State == store.Pending:
		b.outcome(t, cmd.Kind, "pending-approval")
	case emergency:
		b.outcome(t, cmd.Kind, "breakglass")
		b.thread(ctx, t.log, r, breakglassReply(r, acct.Approvers))
		b.announce(ctx, t.log, r, func(link string) Message { return breakglassAnnouncement(r, link) })
		b.submit(ctx, t.log, r)
	default:
		b.submit(ctx, t.log, r)
	}
}

// authorize checks a backup request against the policy in force and
// returns its account. A refusal is counted, audited and told to the
// caller, and ok is false.
func (b *Bot) authorize(ctx context.Context, t *turn, cmd command) (acct *auth.Account, ok bool) {
	pol := b.policy()
	subj := auth.Subject{User: t.in.User, Channel: t.in.Channel}
	target := auth.Target{Account: cmd.Account, TableGroup: cmd.TableGroup, Level: levelName(cmd.Level), Reason: cmd.Reason}
	var d auth.Decision
	if cmd.Kind == kindEmergency {
		d = pol.CheckBreakglass(ctx, b.groups, subj, target)
	} else {
		d = pol.CheckRequest(ctx, b.groups, subj, target)
	}
	if !d.Allow {
		b.outcome(t, cmd.Kind, "denied", zap.String("rule", d.Rule))
		b.denied(d.Rule)
		asked := request{Channel: t.in.Channel, Account: cmd.Account, TableGroup: commvault.Subclient{Name: cmd.TableGroup}}
		b.audit(ctx, t.log, asked.event(t.in.User, "denied", d.Rule, string(cmd.Kind)+": "+d.Reason))
		b.reply(ctx, t, deniedAnswer(d))
		return nil, false
	}
	acct, ok = pol.Account(cmd.Account)
	if !ok { // the policy allowed an account it does not have: never proceed
		b.internalError(ctx, t, fmt.Errorf("policy allowed unknown account %q", cmd.Account))
		return nil, false
	}
	return acct, true
}

// notRecorded ends a request whose card was posted (as ts) but could not be
// recorded: nothing is submitted, and the card's thread says so.
func (b *Bot) notRecorded(ctx context.Context, log *zap.Logger, r request, ts string, err error) {
	ctx, cancel := detached(ctx)
	defer cancel()
	log.Error("record parent message; nothing submitted", zap.Error(err))
	next, err := b.transition(ctx, r, []store.State{r.State}, store.Change{To: store.Failed, Actor: actorBot,
		Problem: "its message could not be recorded"})
	if err != nil {
		log.Error("record that the request failed", zap.Error(err))
		next = r // the card says what the store could not record
		next.State, next.Problem = store.Failed, "its message could not be recorded"
	}
	if _, err := b.chat.Reply(ctx, r.Channel, ts, notRecordedReply()); err != nil {
		log.Error("thread reply", zap.Error(err))
	}
	if err := b.chat.Update(ctx, r.Channel, ts, parentMessage(next, b.links)); err != nil {
		log.Error("update parent message", zap.Error(err))
	}
}

// create records r with its first audit event. A table group that already
// has an active request refuses it with *store.BusyError (the caller links
// to that request's thread), except that a break-glass request supersedes
// one that only waits for approval; an envelope served before is
// store.ErrDuplicate.
func (b *Bot) create(ctx context.Context, t *turn, r *request) error {
	rec, err := r.record()
	if err != nil {
		return err
	}
	action := "request"
	if r.Emergency {
		action = "breakglass"
	}
	ev := r.event(r.User, action, "", fmt.Sprintf("%s backup; reason: %s", levelName(r.Level), r.Reason))
	ev.At, ev.Review = r.Created, r.Emergency
	for attempt := 0; ; attempt++ {
		err = b.store.Create(ctx, rec, ev)
		var busy *store.BusyError
		switch {
		case err == nil:
			b.logState(rec, store.Change{Actor: r.User, Detail: action})
			return nil
		case errors.As(err, &busy) && r.Emergency && busy.Existing.State == store.Pending && attempt == 0:
			b.supersede(ctx, t.log, busy.Existing, *r)
			continue
		case errors.Is(err, store.ErrDuplicate) && attempt < 3 && !b.servedBefore(ctx, *r):
			// Another request drew the same ID: this one takes the next one its
			// envelope names (served again, it draws the same one).
			t.log.Warn("request ID already taken by another request; taking another", zap.String("taken", r.ID))
			r.ID = requestID(t.in.Origin+"#"+strconv.Itoa(attempt+1), b.newRequestID)
			t.log = t.log.With(zap.String("instead", r.ID))
			if rec, err = r.record(); err != nil {
				return err
			}
			ev.RequestID = r.ID
			continue
		case errors.As(err, &busy), errors.Is(err, store.ErrDuplicate):
			return err
		default:
			return fmt.Errorf("record request: %w", err)
		}
	}
}

// requestID names a request: derived from the envelope it came in, so that
// an envelope served twice makes one request, or random. 48 bits: two
// requests meet by chance once in many millions, and create tells when
// they do.
func requestID(origin string, random func() string) string {
	if origin == "" {
		return "r-" + random()
	}
	sum := sha256.Sum256([]byte("backupbot request " + origin))
	return "r-" + hex.EncodeToString(sum[:6])
}

// sameAsking reports whether a recorded request is the one r would be: the
// same person asking the same thing in the same place.
func sameAsking(rec store.Request, r request) bool {
	return rec.User == r.User && rec.Channel == r.Channel && rec.Account == r.Account &&
		rec.SubclientID == r.TableGroup.ID && rec.Level == string(r.Level) && rec.Reason == r.Reason
}

// supersede withdraws a pending request in favour of a break-glass one.
func (b *Bot) supersede(ctx context.Context, log *zap.Logger, old store.Request, by request) {
	r, err := fromRecord(old)
	if err != nil {
		log.Error("superseded request", zap.Error(err))
		return
	}
	if _, err := b.finish(ctx, log, r, []store.State{store.Pending}, store.Change{To: store.Cancelled, Actor: by.User,
		Decided: true, Problem: "superseded by break-glass request " + by.ID}, "cancelled"); err != nil && !errors.Is(err, store.ErrConflict) {
		log.Error("withdraw the superseded request", zap.String("superseded", r.ID), zap.Error(err))
	}
}

// servedBefore reports whether the request recorded under r's ID is r
// itself, recorded when its envelope was served before; an error counts as
// served before (the safe side: nothing runs twice).
func (b *Bot) servedBefore(ctx context.Context, r request) bool {
	rec, err := b.store.Get(ctx, r.ID)
	return err != nil || sameAsking(rec, r)
}

// permalink links to a request's thread, or names it when Slack cannot.
func (b *Bot) permalink(ctx context.Context, r store.Request) string {
	if r.ParentTS == "" {
		return ""
	}
	link, err := b.chat.Permalink(ctx, r.Channel, r.ParentTS)
	if err != nil {
		b.log.Warn("permalink", zap.String("request", r.ID), zap.Error(err))
		return ""
	}
	return link
}

// maxSuggestions is how many close table group names an answer offers.
const maxSuggestions = 3

// resolveFailed tells the caller why the table group could not be resolved.
func (b *Bot) resolveFailed(ctx context.Context, t *turn, kind cmdKind, acct *auth.Account, err error) {
	b.commvaultError(err)
	var nf *commvault.NotFoundError
	var amb *commvault.AmbiguousError
	var apiErr *commvault.APIError
	switch {
	case errors.As(err, &amb):
		b.outcome(t, kind, "ambiguous-tablegroup", zap.Strings("instances", amb.Instances))
		b.reply(ctx, t, ambiguousTableGroupAnswer(b.command, acct.Name, acct.Client, amb.Name, amb.Instances))
	case errors.Is(err, commvault.ErrSessionExpired):
		b.outcome(t, kind, "commvault-unavailable")
		b.reply(ctx, t, commvaultUnavailableAnswer())
	case errors.As(err, &nf):
		b.outcome(t, kind, "unknown-tablegroup")
		var allowed []string
		for _, name := range nf.Listed {
			if acct.AllowsTableGroup(name) {
				allowed = append(allowed, name)
			}
		}
		b.reply(ctx, t, unknownTableGroupAnswer(b.command, acct.Name, acct.Client, nf.Name,
			fuzzy.Closest(nf.Name, allowed, maxSuggestions)))
	case errors.Is(err, commvault.ErrTimeout):
		b.outcome(t, kind, "commvault-timeout", zap.Error(err))
		b.reply(ctx, t, lookupTimeoutAnswer())
	case errors.As(err, &apiErr):
		b.outcome(t, kind, "commvault-error", zap.Error(err))
		b.reply(ctx, t, lookupErrorAnswer(acct.Client, commvaultProblem(apiErr)))
	default:
		b.internalError(ctx, t, fmt.Errorf("resolve table group: %w", err))
	}
}

package bot

import (
	"context"
	"errors"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/backupbot/backupbot/bot/store"
	"github.com/backupbot/backupbot/commvault"
)

// reconcileFor is how long after an unknown outcome the bot keeps looking
// for the job in Commvault's listings.
const reconcileFor = time.Hour

// reconcileSkew is how much earlier than the submission a job may seem to
// start (clocks differ) and still be taken for it.
const reconcileSkew = time.Minute

// stuckAfter is how long a request recorded before holds existed may sit
// recorded but unposted, or approved but unsent, before the bot takes it
// for abandoned (holds decide for every other request).
const stuckAfter = 30 * time.Second

// sentMargin is how long after its bound a submission recorded before holds
// existed may still be on its way to being recorded.
const sentMargin = 15 * time.Second

// submitBound is the longest a CreateTask call may take: the client may log
// in, send, log in again after a 401 and send again, each within the
// Commvault timeout.
func (b *Bot) submitBound() time.Duration { return 4 * b.submitTimeout }

// Recover finishes what a stopped process (this one before a restart, or
// another replica) left half done: a request recorded but never posted is
// posted; an approved one never sent is sent; one that was being sent is
// reported as an unknown outcome (and looked for in Commvault) rather than
// sent again. It touches only requests whose hold ran out — the replica
// that worked on them stopped renewing it — however old they are, so a
// slow Slack or Commvault is never taken for a dead replica.
// Submitted requests need nothing: Run follows them from the store.
func (b *Bot) Recover(ctx context.Context) { b.recoverWhile(ctx, func() bool { return true }) }

// recoverWhile is Recover, stopping between requests once leading says
// this replica no longer holds the followers lease.
func (b *Bot) recoverWhile(ctx context.Context, leading func() bool) {
	recs, err := b.store.ByState(ctx, store.Pending, store.Approved, store.Submitting)
	if err != nil {
		b.log.Error("recover: list unfinished requests", zap.Error(err))
		return
	}
	for _, rec := range recs {
		if !leading() {
			return
		}
		if !b.abandoned(rec, b.now()) {
			continue
		}
		log := b.log.With(zap.String("request", rec.ID), zap.String("state", string(rec.State)))
		if held, err := b.takeOver(ctx, rec.ID); err != nil || !held {
			if err != nil {
				log.Warn("recover: take the request over", zap.Error(err))
			}
			continue
		}
		r, err := fromRecord(rec)
		if err != nil {
			log.Error("recover: read request", zap.Error(err))
			continue
		}
		release := b.holding(ctx, log, r.ID)
		b.resume(ctx, log, r)
		release()
	}
	b.expireDue(ctx)
}

// abandoned reports whether a request in a passing state was left by the
// replica that worked on it: its hold ran out. A pending request with its
// card posted merely waits for an approver. A request recorded before holds
// existed is judged by its age, as it was then.
func (b *Bot) abandoned(rec store.Request, now time.Time) bool {
	switch {
	case rec.State == store.Pending && rec.ParentTS != "":
		return false
	case !rec.HeldUntil.IsZero():
		return now.After(rec.HeldUntil)
	case rec.State == store.Submitting:
		return now.Sub(rec.Updated) >= b.submitBound()+sentMargin
	case rec.State == store.Approved:
		return now.Sub(rec.Updated) >= stuckAfter
	}
	return now.Sub(rec.Created) >= stuckAfter
}

// resume finishes a request taken over from a replica that stopped.
func (b *Bot) resume(ctx context.Context, log *zap.Logger, r request) {
	if acct, ok := b.policy().Account(r.Account); ok {
		r.Approvers = acct.Approvers
	}
	if r.ParentTS == "" && !b.repost(ctx, log, &r) {
		return
	}
	switch r.State {
	case store.Submitting:
		ref := b.newID()
		log.Warn("recover: interrupted submission; outcome unknown", zap.String("ref", ref))
		b.unknown(ctx, log, r, unknownCause{interrupted: true}, "the bot stopped between sending the backup to Commvault and recording the answer", ref)
	case store.Approved:
		if !b.stillAllowed(ctx, log, r) { // the policy may have changed since it was approved
			return
		}
		log.Info("recover: submitting an approved request")
		b.submit(ctx, log, r)
	}
}

// repost posts the parent message of a request whose replica stopped before
// posting it, or before recording it.
func (b *Bot) repost(ctx context.Context, log *zap.Logger, r *request) bool {
	ts, err := b.chat.Post(ctx, r.Channel, parentMessage(*r, b.links))
	if err != nil {
		log.Error("recover: post parent message", zap.Error(err))
		return false
	}
	if err := b.recordParent(ctx, log, r, ts); err != nil {
		log.Error("recover: record parent message", zap.Error(err))
		return false
	}
	return true
}

// recordParent records ts as r's parent message, trying again when the
// store fails. When another post of the card was recorded first (its first
// poster was slow, not dead), this one is deleted and r takes the recorded
// one. An error means it could not be recorded: replies would have no
// thread to go to.
func (b *Bot) recordParent(ctx context.Context, log *zap.Logger, r *request, ts string) error {
	var err error
	wait := b.parentRetry
	for attempt := 1; ; attempt++ {
		var set bool
		var recorded string
		if set, recorded, err = b.store.SetParentTS(ctx, r.ID, ts); err == nil {
			r.ParentTS = recorded
			if !set && recorded != ts { // another post of the card was recorded first
				log.Info("the request's card was posted twice; this copy is removed", zap.String("kept", recorded))
				if err := b.chat.Delete(ctx, r.Channel, ts); err != nil {
					log.Error("remove a second copy of the card", zap.Error(err))
				}
			}
			return nil
		}
		if errors.Is(err, store.ErrNotFound) || attempt == 4 {
			return err
		}
		log.Warn("record parent message; trying again", zap.Int("attempt", attempt), zap.Error(err))
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
		wait *= 4
	}
}

// reconcile looks in a listing of the client's jobs for the job of a
// request whose submission outcome is unknown: a backup of the same table
// group (subclient ID, where the listing gives it: an RDS subclient can
// have the same name) at the same level, started when the request was
// being sent. Commvault runs the first incremental of a table group as a
// full: a full matches an incremental. (Jobs Commvault marks internal are
// not in the listing.) Found, the request is followed like any other.
func (b *Bot) reconcile(ctx context.Context, r request, jobs []commvault.Job) {
	log := b.log.With(zap.String("request", r.ID))
	// The job, if any, started while CreateTask was being sent: look only
	// there, not at other backups of the table group (scheduled ones).
	sent := r.Updated
	if ts, err := b.store.Transitions(ctx, r.ID); err == nil {
		for _, t := range ts {
			if t.To == store.Submitting {
				sent = t.At
			}
		}
	}
	for _, j := range jobs {
		if (j.SubclientID != 0 && j.SubclientID != r.TableGroup.ID) || !strings.EqualFold(j.SubclientName, r.TableGroup.Name) ||
			j.Start.IsZero() || j.Start.Before(sent.Add(-reconcileSkew)) || j.Start.After(sent.Add(b.submitBound()+reconcileSkew)) ||
			!levelMatches(j.BackupLevel, r.Level) {
			continue
		}
		next, err := b.transition(ctx, r, []store.State{store.Unknown}, store.Change{To: store.Submitted, Actor: actorBot,
			JobIDs: []string{j.ID}, Detail: "reconciled with job " + j.ID, Tell: noticeOf(reconciledReply(r, j, b.links)),
			Event: r.audited(actorBot, "reconciled", "", "job "+j.ID)})
		if err != nil {
			log.Error("record the reconciled job", zap.String("job", j.ID), zap.Error(err))
			return
		}
		log.Info("reconciled", zap.String("job", j.ID))
		b.tell(ctx, log, next)
		b.updateParent(ctx, log, next)
		return
	}
}

// levelMatches reports whether a job listed at level listed (as
// backupLevelName spells it; "" when not said) can be the backup asked
// for at asked: the same level, or a full for an incremental.
func levelMatches(listed string, asked commvault.Level) bool {
	return listed == "" || strings.EqualFold(listed, levelName(asked)) ||
		(asked == commvault.Incremental && strings.EqualFold(listed, levelName(commvault.Full)))
}

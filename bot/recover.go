package bot

import (
	"context"
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

// stuckAfter is how long a request may sit recorded but unposted, or
// approved but unsent, before the bot takes it for abandoned by a process
// that stopped (normally either takes milliseconds).
const stuckAfter = 30 * time.Second

// sentMargin is how long after its bound a submission may still be on its
// way to being recorded (milliseconds, normally).
const sentMargin = 15 * time.Second

// submitBound is the longest a CreateTask call may take: the client may log
// in, send, log in again after a 401 and send again, each within the
// Commvault timeout.
func (b *Bot) submitBound() time.Duration { return 4 * b.submitTimeout }

// Recover finishes what a stopped process (this one before a restart, or
// another replica) left half done: a request recorded but never posted is
// posted; an approved one never sent is sent; one that was being sent is
// reported as an unknown outcome (and looked for in Commvault) rather than
// sent again. It only touches requests older than a live process could
// leave them: a submission is given the Commvault timeout and a margin.
// Submitted requests need nothing: Run follows them from the store.
func (b *Bot) Recover(ctx context.Context) {
	recs, err := b.store.ByState(ctx, store.Pending, store.Approved, store.Submitting)
	if err != nil {
		b.log.Error("recover: list unfinished requests", zap.Error(err))
		return
	}
	now := b.now()
	for _, rec := range recs {
		switch {
		case rec.State == store.Submitting && now.Sub(rec.Updated) < b.submitBound()+sentMargin:
			continue // may still be in flight
		case rec.State == store.Approved && now.Sub(rec.Updated) < stuckAfter:
			continue
		case rec.State == store.Pending && (rec.ParentTS != "" || now.Sub(rec.Created) < stuckAfter):
			continue
		}
		r, err := fromRecord(rec)
		if err != nil {
			b.log.Error("recover: read request", zap.String("request", rec.ID), zap.Error(err))
			continue
		}
		log := b.log.With(zap.String("request", r.ID), zap.String("state", string(r.State)))
		if acct, ok := b.policy().Account(r.Account); ok {
			r.Approvers = acct.Approvers
		}
		if r.ParentTS == "" && !b.repost(ctx, log, &r) {
			continue
		}
		switch r.State {
		case store.Submitting:
			ref := b.newID()
			log.Warn("recover: interrupted submission; outcome unknown", zap.String("ref", ref))
			b.unknown(ctx, log, r, unknownCause{interrupted: true}, "the bot stopped between sending the backup to Commvault and recording the answer", ref)
		case store.Approved:
			log.Info("recover: submitting an approved request")
			b.submit(ctx, log, r)
		}
	}
	b.expireDue(ctx)
}

// repost posts the parent message of a request recorded before the bot
// stopped but never posted.
func (b *Bot) repost(ctx context.Context, log *zap.Logger, r *request) bool {
	ts, err := b.chat.Post(ctx, r.Channel, parentMessage(*r))
	if err != nil {
		log.Error("recover: post parent message", zap.Error(err))
		return false
	}
	r.ParentTS = ts
	if err := b.store.SetParentTS(ctx, r.ID, ts); err != nil {
		log.Error("recover: record parent message", zap.Error(err))
	}
	return true
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
			JobIDs: []string{j.ID}, Detail: "reconciled with job " + j.ID})
		if err != nil {
			log.Error("record the reconciled job", zap.String("job", j.ID), zap.Error(err))
			return
		}
		log.Info("reconciled", zap.String("job", j.ID))
		b.audit(ctx, log, r.event(actorBot, "reconciled", "", "job "+j.ID))
		b.thread(ctx, log, next, reconciledReply(r, j))
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

package bot

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/backupbot/backupbot/bot/store"
)

// retentionEvery is how often the lease holder keeps the store within its
// retention and closes the unknown outcomes it stopped looking for.
const retentionEvery = time.Hour

// A slash command's or click's response_url lets whoever holds it post in
// its channel for 30 minutes: the inbox keeps it (envelopeRecord's
// inboxResponseURL key) while its work may still be served, and the lease
// holder removes it, every scrubEvery, from items that are done and from
// those older than its life.
const (
	inboxResponseURL = "response_url"
	responseURLLife  = 30 * time.Minute
	scrubEvery       = time.Minute
)

// scrubResponseURLs removes response URLs the inbox no longer needs.
func (b *Bot) scrubResponseURLs(ctx context.Context) {
	n, err := b.store.ForgetInboxField(ctx, inboxResponseURL, responseURLLife)
	switch {
	case err != nil:
		b.log.Warn("remove response URLs from the inbox", zap.Error(err))
	case n > 0:
		b.log.Debug("response URLs removed from the inbox", zap.Int64("items", n))
	}
}

// keepWithin deletes what ended longer ago than the retention (the audit
// trail after its own, longer or equal, retention), and ends the requests
// whose outcome stayed unknown for the whole reconciliation window: no job
// appeared in Commvault, and the thread is told so.
func (b *Bot) keepWithin(ctx context.Context) {
	now := b.now()
	unknown, err := b.store.ByState(ctx, store.Unknown)
	if err != nil {
		b.log.Warn("list unknown outcomes", zap.Error(err))
	}
	for _, rec := range unknown {
		if now.Sub(rec.Updated) <= reconcileFor || len(rec.JobIDs) > 0 { // still looked for, or jobs Commvault lost
			continue
		}
		r, err := fromRecord(rec)
		if err != nil {
			b.log.Error("read request", zap.String("request", rec.ID), zap.Error(err))
			continue
		}
		log := b.log.With(zap.String("request", r.ID))
		problem := "no job for it appeared in Commvault in the hour after it was sent"
		next, err := b.transition(ctx, r, []store.State{store.Unknown}, store.Change{To: store.Failed, Actor: actorBot,
			Problem: problem, Tell: noticeOf(noJobAppearedReply(r)), Event: r.audited(actorBot, "failed", "", problem)})
		if err != nil {
			log.Error("record that no job appeared", zap.Error(err))
			continue
		}
		b.tell(ctx, log, next)
		b.updateParent(ctx, log, next)
	}
	n, events, err := b.store.Purge(ctx, now.Add(-b.retention), now.Add(-b.auditKeep))
	if err != nil {
		b.log.Warn("retention", zap.Error(err))
		return
	}
	if n > 0 || events > 0 {
		b.log.Info("retention", zap.Int64("requests_deleted", n), zap.Int64("audit_events_deleted", events),
			zap.Duration("retention", b.retention), zap.Duration("audit_retention", b.auditKeep))
	}
}

package bot

import (
	"context"

	"go.uber.org/zap"
)

// What the policy's audit_channel is told: every break-glass use and every
// approval decision (approved, denied, refused as no longer allowed), so
// that a backup run from a private channel is seen by someone. A click
// refused for its clicker is in the audit trail only: anyone who sees a
// card may click it, and would otherwise fill the channel.

// maxAnnouncing bounds the announcements being posted at once; past it an
// announcement is dropped, and the log says so.
const maxAnnouncing = 8

// announce posts, in the background, the message m makes (given a link to
// r's thread, "" when Slack gives none) in the policy's audit channel, if
// it has one. It is best effort: it never delays r's own thread, and a
// failure is logged.
func (b *Bot) announce(ctx context.Context, log *zap.Logger, r request, m func(link string) Message) {
	channel := b.policy().AuditChannel
	if channel == "" {
		return
	}
	log = log.With(zap.String("audit_channel", channel), zap.String("request", r.ID))
	select {
	case b.announcing <- struct{}{}:
	default:
		log.Error("audit channel: too many announcements under way; this one is not posted")
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), reportTimeout)
	go func() {
		defer func() { cancel(); <-b.announcing }()
		link := ""
		if r.ParentTS != "" {
			var err error
			if link, err = b.chat.Permalink(ctx, r.Channel, r.ParentTS); err != nil {
				log.Warn("audit channel: no link to the request's thread", zap.Error(err))
			}
		}
		if _, err := b.chat.Post(ctx, channel, m(link)); err != nil {
			log.Error("audit channel: announcement not posted", zap.Error(err))
		}
	}()
}

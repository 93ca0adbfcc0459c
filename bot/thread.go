package bot

import (
	"context"
	"encoding/json"
	"time"

	"github.com/slack-go/slack"
	"go.uber.org/zap"

	"github.com/backupbot/backupbot/bot/store"
)

// What a request's thread must be told — its outcome, and each job's end —
// is recorded in the store's outbox together with what it tells (see
// store.Change.Tell), then posted, and marked told once Slack took it. A
// post that fails is posted again by the lease holder (retell), in order,
// until Slack takes it. Other replies (approved, denied, break-glass) are
// posted once, as they happen.

// noticeOf is m as the outbox keeps it.
func noticeOf(m Message) []byte {
	b, _ := json.Marshal(m) // text and blocks always marshal
	return b
}

// messageOf is the message of a notice.
func messageOf(n store.Notice) (Message, error) {
	var m struct {
		Text   string       `json:"text"`
		Blocks slack.Blocks `json:"blocks"`
	}
	if err := json.Unmarshal(n.Message, &m); err != nil {
		return Message{}, err
	}
	return Message{Text: m.Text, Blocks: m.Blocks.BlockSet}, nil
}

// tell posts what r's thread has still to be told: the notice r's
// transition added (r.Notice), and the others before and after it.
func (b *Bot) tell(ctx context.Context, log *zap.Logger, r request) {
	notices, err := b.store.Untold(ctx, r.ID)
	if err != nil {
		log.Error("read what the thread has to be told; the lease holder tells it", zap.Error(err))
		return
	}
	b.post(ctx, log, r, notices)
}

// post posts notices in r's thread, in order, marking each told; it stops
// at the first that fails, which is retried after a backoff, and before one
// that another flow is posting (see telling). It reports whether every one
// was told.
func (b *Bot) post(ctx context.Context, log *zap.Logger, r request, notices []store.Notice) bool {
	if len(notices) > 0 && r.ParentTS == "" {
		log.Warn("thread replies wait for the request's parent message", zap.String("request", r.ID))
		return false
	}
	for _, n := range notices {
		if n.ID != r.Notice && b.telling(r, n) { // posted after it, by this caller's next round or the retries
			log.Info("a thread reply waits for the one before it, which its flow is posting", zap.String("request", r.ID),
				zap.Int64("notice", n.ID))
			return false
		}
		m, err := messageOf(n)
		if err != nil { // cannot be posted, ever: do not let it hold up the rest
			log.Error("undecodable notice; dropped", zap.Int64("notice", n.ID), zap.Error(err))
			_ = b.store.NoticePosted(ctx, n.ID)
			continue
		}
		_, err = b.chat.Reply(ctx, r.Channel, r.ParentTS, m)
		if code, gone := cannotPost(err); gone { // the bot was removed from the channel, or it was archived
			log.Error("the thread can no longer be told; its reply is dropped", zap.String("request", r.ID),
				zap.String("slack_error", code), zap.String("reply", m.Text))
			b.metrics.untold.Inc()
			if err := b.store.NoticePosted(ctx, n.ID); err != nil {
				log.Error("record a dropped thread reply", zap.Error(err))
				return false
			}
			continue
		}
		if err != nil {
			log.Error("thread reply; it is posted again later", zap.String("request", r.ID), zap.Int("attempts", n.Attempts+1),
				zap.Error(err))
			b.metrics.untold.Inc()
			if err := b.store.NoticeFailed(context.WithoutCancel(ctx), n.ID, retellAfter(n.Attempts)); err != nil {
				log.Error("record the failed thread reply", zap.Error(err))
			}
			return false
		}
		if err := b.store.NoticePosted(ctx, n.ID); err != nil {
			log.Error("record a thread reply as told; it may be posted again", zap.Int64("notice", n.ID), zap.Error(err))
			return false
		}
	}
	return true
}

// telling reports whether notice n of r is being posted by the flow that
// added it: never tried yet, within the grace the store leaves that flow,
// and r held by a replica (its flow runs; a stopped replica's hold runs
// out). Posting it too would tell it twice: a reply can wait long on a busy
// channel's rate limit, and its job end much less.
func (b *Bot) telling(r request, n store.Notice) bool {
	now := b.now()
	return n.Attempts == 0 && now.Before(n.Due) && now.Before(r.HeldUntil)
}

// retellAfter is how long after its n-th failed post (from 0) a notice is
// posted again: 5 s, doubling, at most 5 minutes.
func retellAfter(n int) time.Duration {
	return min(5*time.Second<<min(n, 10), 5*time.Minute)
}

// retell posts, on the lease holder, the notices whose posts failed and
// whose retry is due: every untold notice of their request, in order.
func (b *Bot) retell(ctx context.Context, leading func() bool) {
	due, err := b.store.DueNotices(ctx, 100)
	if err != nil {
		b.log.Warn("list untold thread replies", zap.Error(err))
		return
	}
	seen := make(map[string]bool)
	for _, n := range due {
		if seen[n.RequestID] || !leading() {
			continue
		}
		seen[n.RequestID] = true
		rec, err := b.store.Get(ctx, n.RequestID)
		if err != nil {
			b.log.Warn("read a request with untold replies", zap.String("request", n.RequestID), zap.Error(err))
			continue
		}
		r, err := fromRecord(rec)
		if err != nil {
			b.log.Error("read request", zap.String("request", n.RequestID), zap.Error(err))
			continue
		}
		b.tell(ctx, b.log.With(zap.String("request", r.ID)), r)
	}
}

// thread posts m in r's thread once, as it happens. A failure is logged.
func (b *Bot) thread(ctx context.Context, log *zap.Logger, r request, m Message) {
	if r.ParentTS == "" {
		log.Error("thread reply without a parent message", zap.String("request", r.ID))
		return
	}
	if _, err := b.chat.Reply(ctx, r.Channel, r.ParentTS, m); err != nil {
		log.Error("thread reply", zap.Error(err))
	}
}

// updateParent shows r's state in its parent message.
func (b *Bot) updateParent(ctx context.Context, log *zap.Logger, r request) {
	if r.ParentTS == "" {
		return
	}
	if err := b.chat.Update(ctx, r.Channel, r.ParentTS, parentMessage(r, b.links)); err != nil {
		log.Error("update parent message", zap.Error(err))
	}
}

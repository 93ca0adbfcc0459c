package bot

import (
	"context"

	"go.uber.org/zap"
)

// thread posts m in r's thread. A failure is logged: the thread is where
// the outcome is told, so there is nowhere else to tell it.
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

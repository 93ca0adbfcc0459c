package bot

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/backupbot/backupbot/bot/store"
)

// holdTTL is how long a request stays held by the replica that works on it
// without a renewal. A request in a passing state (recorded but not posted,
// approved, submitting) is taken over by another replica only once its
// hold ran out: its owner stopped, however long a slow Slack or Commvault
// keeps it in that state.
const holdTTL = 30 * time.Second

// holds reports whether a transition to st holds the request for this
// replica: the states a flow passes through.
func holds(st store.State) bool {
	return st == store.Pending || st == store.Approved || st == store.Submitting
}

// holding renews this replica's hold on request id until the returned
// func is called.
func (b *Bot) holding(ctx context.Context, log *zap.Logger, id string) (release func()) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(b.holdEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			rctx, rcancel := context.WithTimeout(ctx, b.holdEvery)
			held, err := b.store.Hold(rctx, id, b.replica, b.now().Add(holdTTL))
			rcancel()
			switch {
			case err != nil && ctx.Err() == nil:
				log.Warn("renew the hold on a request", zap.String("request", id), zap.Error(err))
			case err == nil && !held:
				log.Warn("lost the hold on a request: another replica took it over", zap.String("request", id))
				return
			}
		}
	}()
	return func() { cancel(); <-done }
}

// takeOver holds request id for this replica if its hold ran out: the
// replica that held it stopped. It reports whether this replica may act.
func (b *Bot) takeOver(ctx context.Context, id string) (bool, error) {
	return b.store.Hold(ctx, id, b.replica, b.now().Add(holdTTL))
}

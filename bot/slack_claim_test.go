package bot

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/backupbot/backupbot/bot/store"
	"go.uber.org/zap"
)

// claimCounter is an inbox that counts the claims its workers make.
type claimCounter struct {
	inbox
	claims atomic.Int32
}

func (c *claimCounter) ClaimInbox(ctx context.Context, id, owner string, lease time.Duration) (store.InboxItem, bool, error) {
	c.claims.Add(1)
	return c.inbox.ClaimInbox(ctx, id, owner, lease)
}

// handled records the inputs a handler was given.
type handled struct{ texts []string }

func (h *handled) Receipt(Input) *Message             { return nil }
func (h *handled) Handle(_ context.Context, in Input) { h.texts = append(h.texts, in.Text) }
func (h *handled) Click(context.Context, Click)       {}

// A worker that starts on an envelope soon after taking it holds the claim
// the Take made, and writes no second one; one that starts later, or on
// an envelope it did not claim, claims it first, and serves nothing that
// another replica holds.
func TestServeClaimsOnlyWhenItsClaimMayHaveRunOut(t *testing.T) {
	e := newEnv(t)
	inbox := &claimCounter{inbox: e.store}
	h := &handled{}
	tr := &Slack{cfg: SlackConfig{Inbox: inbox, Replica: "replica-a", claimLease: 8 * time.Second, AckTimeout: 5 * time.Second, Handler: h},
		log: zap.NewNop()}
	take := func(id string) envelope {
		t.Helper()
		env := envelope{id: id, input: &Input{User: "U0ALICE", Channel: "C0OPS", Text: id, Origin: id}, claimed: time.Now()}
		if seen, err := tr.remember(t.Context(), "trigger-"+id, env); err != nil || seen {
			t.Fatalf("remember(%s) = %v, %v", id, seen, err)
		}
		return env
	}

	tr.serve(t.Context(), take("fresh"))
	if n := inbox.claims.Load(); n != 0 || len(h.texts) != 1 {
		t.Fatalf("a fresh envelope: %d claim(s), handled %q; want 0 claims, handled once", n, h.texts)
	}

	old := take("old")
	old.claimed = old.claimed.Add(-3 * time.Second) // past a quarter of the 8 s claim
	tr.serve(t.Context(), old)
	if n := inbox.claims.Load(); n != 1 || len(h.texts) != 2 {
		t.Fatalf("an envelope taken 3 s ago: %d claim(s), handled %q; want 1 claim, handled", n, h.texts)
	}

	// Another replica holds this one: a worker without a claim of its own
	// (claimed zero, as after a restart) claims, fails, and serves nothing.
	other := take("other")
	if _, ok, err := e.store.ClaimInbox(t.Context(), "other", "replica-b", time.Minute); err != nil || ok {
		t.Fatalf("replica-b claim while replica-a's holds = %v, %v; want refused", ok, err)
	}
	e.clock.Advance(10 * time.Second) // replica-a's claim ran out
	if _, ok, err := e.store.ClaimInbox(t.Context(), "other", "replica-b", time.Minute); err != nil || !ok {
		t.Fatalf("replica-b claim = %v, %v", ok, err)
	}
	other.claimed = time.Time{}
	tr.serve(t.Context(), other)
	if n := inbox.claims.Load(); n != 2 || len(h.texts) != 2 {
		t.Errorf("an envelope replica-b holds: %d claim(s), handled %q; want a refused claim, nothing handled", n, h.texts)
	}
}

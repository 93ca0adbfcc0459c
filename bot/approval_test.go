package bot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/backupbot/backupbot/auth"
	"github.com/backupbot/backupbot/bot/store"
)

// cardButtons returns the action_id → value of the buttons on a message.
func cardButtons(m Message) map[string]string {
	out := make(map[string]string)
	for _, b := range m.Blocks {
		ab, ok := b.(*slack.ActionBlock)
		if !ok || ab.Elements == nil {
			continue
		}
		for _, e := range ab.Elements.ElementSet {
			if btn, ok := e.(*slack.ButtonBlockElement); ok {
				out[btn.ActionID] = btn.Value
			}
		}
	}
	return out
}

// request asks for a prod backup (approval-gated) and returns its card.
func (e *env) request(t *testing.T, tablegroup string) sent {
	t.Helper()
	before := len(e.chat.all("post"))
	e.do("U0ALICE", "C0OPS", "dynamodb prod "+tablegroup+" full before the migration")
	posts := e.chat.all("post")
	if len(posts) != before+1 {
		t.Fatalf("no card posted: %+v", e.chat.all("ephemeral"))
	}
	return posts[len(posts)-1]
}

// click presses a card's button as user.
func (e *env) click(card sent, user, action string) {
	e.bot.Click(context.Background(), Click{User: user, Channel: card.Channel, MessageTS: card.TS, ActionID: action,
		Value: cardButtons(card.Msg)[action]})
}

// lastUpdate is the latest content of the message ts.
func (e *env) lastUpdate(t *testing.T, ts string) Message {
	t.Helper()
	ups := e.chat.all("update")
	for i := len(ups) - 1; i >= 0; i-- {
		if ups[i].TS == ts {
			return ups[i].Msg
		}
	}
	t.Fatalf("message %s was never updated", ts)
	return Message{}
}

func TestApprovalCard(t *testing.T) {
	e := newEnv(t)
	card := e.request(t, "orders")
	if e.createTasks() != 0 {
		t.Fatal("submitted before approval")
	}
	btn := cardButtons(card.Msg)
	id := btn[ActionApprove]
	if !strings.HasPrefix(id, "r-") || btn[ActionDeny] != id {
		t.Fatalf("buttons = %v, want approve and deny valued with the request ID", btn)
	}
	contains(t, "card", card.Msg.Text, "needs approval", "<!subteam^S0LEADS>", id)
	blocks, err := json.Marshal(card.Msg.Blocks)
	if err != nil {
		t.Fatal(err)
	}
	raw := string(blocks)
	for _, want := range []string{"aws-prod-account", "DynamoDB", "defaultBackupSet", "orders", "subclient", "full", "before the migration", "U0ALICE"} {
		if !strings.Contains(raw+card.Msg.Text, want) {
			t.Errorf("card does not show %q", want)
		}
	}
}

func TestApproveSubmitsOnce(t *testing.T) {
	e := newEnv(t)
	card := e.request(t, "orders")
	e.click(card, "U0LEAD", ActionApprove)
	if n := e.createTasks(); n != 1 {
		t.Fatalf("CreateTasks = %d, want 1", n)
	}
	updated := e.lastUpdate(t, card.TS)
	if len(cardButtons(updated)) != 0 {
		t.Error("buttons still on the card after approval")
	}
	contains(t, "updated card", updated.Text, "running", "task ")
	replies := e.chat.all("reply")
	if len(replies) != 2 {
		t.Fatalf("replies = %+v", replies)
	}
	contains(t, "approval reply", replies[0].Msg.Text, "Approved by <@U0LEAD>")
	contains(t, "task reply", replies[1].Msg.Text, "Submitted", "task ", "job ")
	// A second click changes nothing.
	e.click(card, "U0LEAD", ActionApprove)
	if n := e.createTasks(); n != 1 {
		t.Errorf("CreateTasks = %d after a second click", n)
	}
	contains(t, "late click", e.chat.all("ephemeral")[0].Msg.Text, "no longer waits", "Nothing was changed")
}

func TestConcurrentApprovalsSubmitOnce(t *testing.T) {
	e := newEnv(t)
	var leads []string
	for i := range 20 {
		leads = append(leads, fmt.Sprintf("U0LEAD%02d", i))
	}
	e.bot.groups = auth.StaticGroups(map[string][]string{"S0LEADS": leads, "S0ONCALL": {"U0GROUPIE"}})
	card := e.request(t, "orders")
	var wg sync.WaitGroup
	for _, u := range leads {
		wg.Go(func() { e.click(card, u, ActionApprove) })
	}
	wg.Wait()
	if n := e.createTasks(); n != 1 {
		t.Fatalf("CreateTasks = %d after 20 concurrent approvals, want 1", n)
	}
	if n := len(e.chat.all("ephemeral")); n != 19 {
		t.Errorf("late clickers told = %d, want 19", n)
	}
}

func TestClicksRefused(t *testing.T) {
	tests := []struct {
		name, user, action string
		policy             func(e *env)
		want               string
	}{
		{"requester approves own request", "U0ALICE", ActionApprove, nil, "may not approve"},
		{"requester in the approvers group", "U0ALICE", ActionApprove, func(e *env) {
			e.bot.groups = auth.StaticGroups(map[string][]string{"S0LEADS": {"U0LEAD", "U0ALICE"}})
		}, "own request"},
		{"non-approver", "U0GROUPIE", ActionApprove, nil, "may not approve"},
		{"non-approver denies", "U0GROUPIE", ActionDeny, nil, "may not deny"},
		{"approver removed by a policy reload", "U0LEAD", ActionApprove, func(e *env) {
			pol, err := auth.Parse("reloaded.yaml", []byte(`accounts:
  prod:
    client: aws-prod-account
    requesters: [U0ALICE]
    approvers: [U0OTHER]
`))
			if err != nil {
				panic(err)
			}
			e.pol = pol
		}, "may not approve"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			card := e.request(t, "orders")
			if tt.policy != nil {
				tt.policy(e)
			}
			e.click(card, tt.user, tt.action)
			if n := e.createTasks(); n != 0 {
				t.Errorf("CreateTasks = %d, want 0", n)
			}
			if n := len(e.chat.all("update")); n != 0 {
				t.Errorf("the card changed: %+v", e.chat.all("update"))
			}
			eph := e.chat.all("ephemeral")
			if len(eph) != 1 || eph[0].User != tt.user {
				t.Fatalf("ephemeral = %+v", eph)
			}
			contains(t, "refusal", eph[0].Msg.Text, tt.want, "Nothing was changed")
			rec, _ := e.store.Get(t.Context(), cardButtons(card.Msg)[ActionApprove])
			if rec.State != store.Pending {
				t.Errorf("state = %s, want pending", rec.State)
			}
		})
	}
}

func TestDeny(t *testing.T) {
	e := newEnv(t)
	card := e.request(t, "orders")
	id := cardButtons(card.Msg)[ActionDeny]
	e.bot.decide(t.Context(), e.bot.newTurn(Input{User: "U0LEAD", Channel: "C0OPS"}), id, "", false, "not during the freeze")
	if n := e.createTasks(); n != 0 {
		t.Fatalf("CreateTasks = %d after a denial", n)
	}
	updated := e.lastUpdate(t, card.TS)
	contains(t, "denied card", updated.Text, "denied by <@U0LEAD>", "not during the freeze")
	if len(cardButtons(updated)) != 0 {
		t.Error("buttons still on the card after denial")
	}
	contains(t, "thread", e.chat.all("reply")[0].Msg.Text, "Denied by <@U0LEAD>", "not during the freeze")
	e.click(card, "U0LEAD", ActionApprove)
	if n := e.createTasks(); n != 0 {
		t.Errorf("CreateTasks = %d: an approval after the denial submitted", n)
	}
}

func TestExpiryAcrossRestart(t *testing.T) {
	e := newEnv(t)
	card := e.request(t, "orders")
	id := cardButtons(card.Msg)[ActionApprove]
	e.clock.Advance(29 * time.Minute)
	e.bot.expireDue(t.Context())
	if rec, _ := e.store.Get(t.Context(), id); rec.State != store.Pending {
		t.Fatalf("state = %s before the timeout", rec.State)
	}
	e.clock.Advance(2 * time.Minute)
	e.restart(t) // the bot was down when the request came due
	e.bot.Recover(t.Context())
	rec, _ := e.store.Get(t.Context(), id)
	if rec.State != store.Expired {
		t.Fatalf("state = %s after the timeout and a restart, want expired", rec.State)
	}
	updated := e.lastUpdate(t, card.TS)
	contains(t, "expired card", updated.Text, "expired")
	if len(cardButtons(updated)) != 0 {
		t.Error("buttons still on the expired card")
	}
	e.click(card, "U0LEAD", ActionApprove)
	if n := e.createTasks(); n != 0 {
		t.Errorf("CreateTasks = %d: an expired request was approved", n)
	}
}

func TestClickAfterTimeoutExpiresAtOnce(t *testing.T) {
	e := newEnv(t)
	card := e.request(t, "orders")
	e.clock.Advance(31 * time.Minute) // no expiry sweep has run yet
	e.click(card, "U0LEAD", ActionApprove)
	if n := e.createTasks(); n != 0 {
		t.Fatalf("CreateTasks = %d: approved after the timeout", n)
	}
	contains(t, "answer", e.chat.all("ephemeral")[0].Msg.Text, "expired")
}

func TestOneBackupAtATimePerTableGroup(t *testing.T) {
	e := newEnv(t)
	first := e.request(t, "orders")
	e.do("U0ALICE", "C0OPS", "dynamodb prod orders full again")
	eph := e.chat.all("ephemeral")
	if len(eph) != 1 {
		t.Fatalf("ephemeral = %+v", eph)
	}
	contains(t, "refusal", eph[0].Msg.Text, "already has a backup waiting for approval", "https://example.slack.com/archives/C0OPS/p",
		cardButtons(first.Msg)[ActionApprove])
	e.request(t, "payments") // another table group is free

	// Running still holds it; finished frees it.
	e.click(first, "U0LEAD", ActionApprove)
	e.do("U0ALICE", "C0OPS", "dynamodb prod orders incr")
	contains(t, "while running", e.chat.all("ephemeral")[1].Msg.Text, "already has a backup running")
	e.finishJobs(t)
	e.request(t, "orders")
}

func TestBreakglassSupersedesAPendingRequest(t *testing.T) {
	e := newEnv(t)
	card := e.request(t, "orders")
	e.do("U0ALICE", "C0OPS", "emergency dynamodb prod orders full table is being dropped")
	if n := e.createTasks(); n != 1 {
		t.Fatalf("CreateTasks = %d, want the emergency submitted", n)
	}
	contains(t, "superseded card", e.lastUpdate(t, card.TS).Text, "withdrawn", "superseded by break-glass")
	events, err := e.store.AuditSince(t.Context(), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	review := false
	for _, ev := range events {
		review = review || (ev.Action == "breakglass" && ev.Review)
	}
	if !review {
		t.Errorf("no break-glass event marked for review in %+v", events)
	}
}

// crashingStore fails to record a submission's answer, as if the process
// died between CreateTask and the write.
type crashingStore struct{ storage }

func (s crashingStore) Transition(ctx context.Context, id string, from []store.State, ch store.Change) (store.Request, error) {
	if ch.To == store.Submitted {
		return store.Request{}, errors.New("injected crash")
	}
	return s.storage.Transition(ctx, id, from, ch)
}

func TestCrashBetweenCreateTaskAndRecordIsNeverResubmitted(t *testing.T) {
	e := newEnv(t)
	e.bot.store = crashingStore{e.store}
	e.do("U0ALICE", "C0OPS", "dynamodb demo orders full")
	if n := e.createTasks(); n != 1 {
		t.Fatalf("CreateTasks = %d", n)
	}
	recs, _ := e.store.ByState(t.Context(), store.Submitting)
	if len(recs) != 1 {
		t.Fatalf("submitting requests = %d, want the interrupted one", len(recs))
	}

	e.restart(t)
	e.bot.Recover(t.Context())
	if rec, _ := e.store.Get(t.Context(), recs[0].ID); rec.State != store.Submitting {
		t.Fatalf("state = %s right after the restart; another replica may still be sending it", rec.State)
	}
	e.clock.Advance(e.bot.submitBound() + sentMargin)
	e.bot.Recover(t.Context())
	if n := e.createTasks(); n != 1 {
		t.Fatalf("CreateTasks = %d after the restart, want still 1", n)
	}
	rec, _ := e.store.Get(t.Context(), recs[0].ID)
	if rec.State != store.Unknown {
		t.Fatalf("state = %s, want unknown", rec.State)
	}
	replies := e.chat.all("reply")
	contains(t, "thread", replies[len(replies)-1].Msg.Text, "Outcome unknown", "will not resubmit")

	// The job is found in Commvault's listing and followed to its end.
	e.bot.poll(t.Context())
	rec, _ = e.store.Get(t.Context(), recs[0].ID)
	if rec.State != store.Submitted || len(rec.JobIDs) != 1 {
		t.Fatalf("after reconciling: %+v", rec)
	}
	e.finishJobs(t)
	replies = e.chat.all("reply")
	contains(t, "job end", replies[len(replies)-1].Msg.Text, "Job "+rec.JobIDs[0], "Completed")
	if n := e.createTasks(); n != 1 {
		t.Errorf("CreateTasks = %d at the end", n)
	}
}

func TestFollowedJobsSurviveARestart(t *testing.T) {
	e := newEnv(t)
	e.do("U0ALICE", "C0OPS", "dynamodb demo orders full")
	e.restart(t)
	e.bot.Recover(t.Context())
	e.finishJobs(t)
	replies := e.chat.all("reply")
	contains(t, "job end after restart", replies[len(replies)-1].Msg.Text, "Completed")
	// A second poller (another replica, or a later run) does not post it again.
	e.restart(t)
	e.bot.poll(t.Context())
	if n := len(e.chat.all("reply")); n != len(replies) {
		t.Errorf("replies = %d after another poll, want %d", n, len(replies))
	}
}

func TestAuditTrail(t *testing.T) {
	e := newEnv(t)
	e.do("U0NOBODY", "C0OPS", "dynamodb staging orders full")
	card := e.request(t, "orders")
	e.click(card, "U0LEAD", ActionApprove)
	e.finishJobs(t)
	e.request(t, "payments") // nobody approves this one
	e.clock.Advance(time.Hour)
	e.bot.expireDue(t.Context())
	events, err := e.store.AuditSince(t.Context(), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, ev := range events {
		actions = append(actions, ev.Action)
	}
	got := strings.Join(actions, " ")
	for _, want := range []string{"denied", "request", "approved", "submitted", "job-ended", "finished", "expired"} {
		if !strings.Contains(got, want) {
			t.Errorf("audit actions %q lack %q", got, want)
		}
	}
}

// stuckStore loses the transition from approved to submitting, as if the
// process died right after the approval was recorded.
type stuckStore struct{ storage }

func (s stuckStore) Transition(ctx context.Context, id string, from []store.State, ch store.Change) (store.Request, error) {
	if ch.To == store.Submitting {
		return store.Request{}, errors.New("injected crash")
	}
	return s.storage.Transition(ctx, id, from, ch)
}

func TestApprovedButNeverSentIsSentByRecovery(t *testing.T) {
	e := newEnv(t)
	e.bot.store = stuckStore{e.store}
	card := e.request(t, "orders")
	e.click(card, "U0LEAD", ActionApprove)
	if n := e.createTasks(); n != 0 {
		t.Fatalf("CreateTasks = %d", n)
	}
	e.restart(t)
	e.bot.Recover(t.Context())
	if n := e.createTasks(); n != 0 {
		t.Fatalf("recovered at once (CreateTasks = %d); the approving replica may still be sending it", n)
	}
	e.clock.Advance(holdTTL) // the approving replica's hold runs out
	e.bot.Recover(t.Context())
	if n := e.createTasks(); n != 0 {
		t.Fatalf("recovered at the hold's last instant (CreateTasks = %d)", n)
	}
	e.clock.Advance(time.Second)
	e.bot.Recover(t.Context())
	e.bot.Recover(t.Context())
	if n := e.createTasks(); n != 1 {
		t.Fatalf("CreateTasks = %d after recovery, want 1", n)
	}
}

func TestOneReplicaFollowsAtATime(t *testing.T) {
	e := newEnv(t)
	a := e.bot
	b, err := New(Config{Chat: e.chat, Commvault: e.cv, Policy: func() *auth.Policy { return e.pol },
		Groups: auth.StaticGroups(e.pol.Groups), Store: e.store, Now: e.clock.Now, Replica: "replica-b"})
	if err != nil {
		t.Fatal(err)
	}
	if !a.lead(t.Context(), false, 15*time.Second) {
		t.Fatal("the first replica did not take the lease")
	}
	if b.lead(t.Context(), false, 15*time.Second) {
		t.Fatal("both replicas hold the lease")
	}
	e.clock.Advance(16 * time.Second) // a stopped: its lease runs out
	if !b.lead(t.Context(), false, 15*time.Second) {
		t.Fatal("the second replica did not take over")
	}
	if a.lead(t.Context(), true, 15*time.Second) {
		t.Error("the first replica took the lease back while the second held it")
	}
}

// Two replicas expiring at once expire a request once.
func TestExpiryFiresOnce(t *testing.T) {
	e := newEnv(t)
	e.request(t, "orders")
	b, err := New(Config{Chat: e.chat, Commvault: e.cv, Policy: func() *auth.Policy { return e.pol },
		Groups: auth.StaticGroups(e.pol.Groups), Store: e.store, Now: e.clock.Now, Replica: "replica-b"})
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Hour)
	var wg sync.WaitGroup
	wg.Go(func() { e.bot.expireDue(t.Context()) })
	wg.Go(func() { b.expireDue(t.Context()) })
	wg.Wait()
	events, err := e.store.AuditSince(t.Context(), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	expired := 0
	for _, ev := range events {
		if ev.Action == "expired" {
			expired++
		}
	}
	if expired != 1 || len(e.chat.all("update")) != 1 {
		t.Errorf("expired %d times, card updated %d times; want once each", expired, len(e.chat.all("update")))
	}
}

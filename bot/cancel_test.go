package bot

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/backupbot/backupbot/auth"
	"github.com/backupbot/backupbot/bot/store"
	"github.com/backupbot/backupbot/commvault"
	"github.com/backupbot/backupbot/commvault/simulator"
)

// lastAnswer is the last private answer user saw.
func (e *env) lastAnswer(t *testing.T, user string) string {
	t.Helper()
	eph := e.chat.all("ephemeral")
	for i := len(eph) - 1; i >= 0; i-- {
		if eph[i].User == user {
			return eph[i].Msg.Text
		}
	}
	t.Fatalf("%s saw no private answer", user)
	return ""
}

// replies are the texts posted in the thread of parent so far.
func (e *env) replies(parent string) []string {
	var out []string
	for _, r := range e.chat.all("reply") {
		if r.ThreadTS == parent {
			out = append(out, r.Msg.Text)
		}
	}
	return out
}

// running submits a demo backup as U0ALICE and lets it run halfway; it
// returns the request, its job and its parent message.
func (e *env) running(t *testing.T, tablegroup string) (request, string, string) {
	t.Helper()
	e.do("U0ALICE", "C0OPS", "dynamodb demo "+tablegroup+" full")
	recs, err := e.store.ByState(t.Context(), store.Submitted)
	if err != nil || len(recs) == 0 {
		t.Fatalf("no submitted request: %v; sent %+v", err, e.chat.all(""))
	}
	r, err := fromRecord(recs[len(recs)-1])
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(simJob / 2)
	return r, r.JobIDs[0], r.ParentTS
}

// audited returns the audit trail's lines for action, as "actor rule detail".
func (e *env) audited(t *testing.T, action string) []string {
	t.Helper()
	events, err := e.store.AuditSince(t.Context(), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, ev := range events {
		if ev.Action == action {
			out = append(out, ev.Actor+" "+ev.Rule+" "+ev.Detail)
		}
	}
	return out
}

// A running backup cancelled by its requester: the job is killed, the
// thread says so, and its end is reported as Killed by the job following.
func TestCancelRunningByRequester(t *testing.T) {
	e := newEnv(t)
	r, job, parent := e.running(t, "orders")
	e.do("U0ALICE", "C0OPS", "cancel "+r.ID+" it eats the table's read capacity")

	if n := e.sim.Kills(); n != 1 {
		t.Fatalf("kills = %d, want 1", n)
	}
	thread := e.replies(parent)
	contains(t, "thread", thread[len(thread)-1], "🛑 Cancelled by <@U0ALICE> — job "+job+" killed", "read capacity")
	contains(t, "answer", e.lastAnswer(t, "U0ALICE"), "Job "+job+" killed", "thread")
	j, err := e.cv.Job(t.Context(), job)
	if err != nil || (j.Status != "Kill Pending" && j.Status != "Killed") {
		t.Errorf("job after the cancel: %+v, %v", j, err)
	}

	e.clock.Advance(2 * time.Second)
	e.bot.poll(t.Context())
	thread = e.replies(parent)
	contains(t, "end in the thread", thread[len(thread)-1], "❌ Job "+job+" Killed")
	contains(t, "card", e.lastUpdate(t, parent).Text, "finished", "Killed")
	if n := e.bot.Following(t.Context()); n != 0 {
		t.Errorf("still following %d requests", n)
	}
	cancels, kills := e.audited(t, "cancel"), e.audited(t, "kill")
	if len(cancels) != 1 || !strings.Contains(cancels[0], "U0ALICE requesters reason: it eats the table's read capacity") ||
		len(kills) != 1 || !strings.Contains(kills[0], "job "+job+": killed") {
		t.Errorf("audit: cancel %q, kill %q", cancels, kills)
	}
}

// An approver cancels a running backup someone else asked for, by job ID.
func TestCancelRunningByApprover(t *testing.T) {
	e := newEnv(t)
	card := e.request(t, "orders")
	e.click(card, "U0LEAD", ActionApprove)
	jobs := e.bot.followedJobs()
	if len(jobs) != 1 {
		t.Fatalf("followed jobs = %v", jobs)
	}
	e.clock.Advance(simJob / 2)
	e.do("U0LEAD", "C0ELSEWHERE", "cancel "+jobs[0]+" not during the freeze")
	if n := e.sim.Kills(); n != 1 {
		t.Fatalf("kills = %d, want 1; answer %q", n, e.lastAnswer(t, "U0LEAD"))
	}
	thread := e.replies(card.TS)
	contains(t, "thread", thread[len(thread)-1], "Cancelled by <@U0LEAD> — job "+jobs[0]+" killed", "not during the freeze")
	if got := e.audited(t, "cancel"); len(got) != 1 || !strings.HasPrefix(got[0], "U0LEAD approvers ") {
		t.Errorf("audit = %q, want U0LEAD's cancel by the approvers rule", got)
	}
	e.finishJobs(t)
	thread = e.replies(card.TS)
	contains(t, "end", thread[len(thread)-1], "Killed")
}

// Anyone else is refused, nothing is killed, and the words are those of a
// request or job that does not exist.
func TestCancelRefusedForOthers(t *testing.T) {
	e := newEnv(t)
	r, job, parent := e.running(t, "orders")
	before := len(e.replies(parent))
	reads := e.sim.Reads()
	e.do("U0NOBODY", "C0OPS", "cancel "+r.ID+" mine now")
	byRequest := e.lastAnswer(t, "U0NOBODY")
	e.do("U0NOBODY", "C0OPS", "cancel "+job)
	byJob := e.lastAnswer(t, "U0NOBODY")
	if n := e.sim.Reads() - reads; n != 0 {
		t.Errorf("refusals read Commvault %d times, want 0", n)
	}
	e.do("U0NOBODY", "C0OPS", "cancel r-000000")
	unknownRequest := e.lastAnswer(t, "U0NOBODY")
	e.do("U0NOBODY", "C0OPS", "cancel 999999")
	unknownJob := e.lastAnswer(t, "U0NOBODY")
	if n := e.sim.Kills(); n != 0 {
		t.Fatalf("kills = %d, want 0", n)
	}
	if n := len(e.replies(parent)); n != before {
		t.Errorf("thread replies = %d, want %d: a refusal says nothing in the channel", n, before)
	}
	if strings.ReplaceAll(byRequest, r.ID, "X") != strings.ReplaceAll(unknownRequest, "r-000000", "X") ||
		strings.ReplaceAll(byJob, job, "X") != strings.ReplaceAll(unknownJob, "999999", "X") ||
		strings.ReplaceAll(byJob, job, "X") != strings.ReplaceAll(byRequest, r.ID, "X") {
		t.Errorf("refusals differ:\n%q\n%q\n%q\n%q", byRequest, unknownRequest, byJob, unknownJob)
	}
	contains(t, "refusal", byRequest, "You may not cancel", "Nothing was changed")
	if strings.Contains(byRequest, "U0ALICE") || strings.Contains(byRequest, "orders") {
		t.Errorf("refusal %q says something of the request", byRequest)
	}
	if got := e.audited(t, "cancel-refused"); len(got) != 4 {
		t.Errorf("audited refusals = %q, want 4", got)
	}
	// The job runs on and ends as planned.
	e.finishJobs(t)
	thread := e.replies(parent)
	contains(t, "end", thread[len(thread)-1], "Completed")
}

// A kill Commvault refuses (the job ended before the bot saw it) is told
// as such, in the thread and to the caller; the end is then reported.
func TestCancelKillRefused(t *testing.T) {
	e := newEnv(t)
	r, job, parent := e.running(t, "orders")
	e.clock.Advance(simJob) // it ended in Commvault; the bot has not polled yet
	e.do("U0ALICE", "C0OPS", "cancel "+r.ID)
	thread := e.replies(parent)
	contains(t, "thread", thread[len(thread)-1], "⚠️ <@U0ALICE> asked to cancel this backup — Commvault refused to kill job "+job,
		"Completed", "error code")
	answer := e.lastAnswer(t, "U0ALICE")
	contains(t, "answer", answer, "Commvault refused to kill job "+job, "Nothing was changed")
	if got := e.audited(t, "kill"); len(got) != 1 || !strings.Contains(got[0], "refused") {
		t.Errorf("audit = %q, want the refused kill", got)
	}
	e.bot.poll(t.Context())
	thread = e.replies(parent)
	contains(t, "end", thread[len(thread)-1], "✅ Job "+job+" Completed")
}

// Cancelled while it waits for approval, or once approved and not yet
// sent: nothing runs, ever.
func TestCancelBeforeSubmission(t *testing.T) {
	e := newEnv(t)
	card := e.request(t, "orders")
	id := cardButtons(card.Msg)[ActionApprove]
	e.do("U0GROUPIE", "C0OPS", "cancel "+id) // a requester of prod, but not this request's
	contains(t, "someone else's cancel", e.lastAnswer(t, "U0GROUPIE"), "You may not cancel "+id)
	e.do("U0ALICE", "C0OPS", "cancel "+id+" wrong table group")
	contains(t, "cancel", e.lastAnswer(t, "U0ALICE"), "withdrawn")
	contains(t, "card", e.lastUpdate(t, card.TS).Text, "withdrawn by <@U0ALICE>", "wrong table group")
	e.click(card, "U0LEAD", ActionApprove)
	e.do("U0ALICE", "C0OPS", "cancel "+id)
	contains(t, "cancel again", e.lastAnswer(t, "U0ALICE"), "already ended", "withdrawn")

	// Approved, not yet sent (the bot stopped in between): the cancel wins.
	approved := sampleRequest(store.Approved)
	approved.ID, approved.User, approved.Channel, approved.ParentTS = "r-approved", "U0ALICE", "C0OPS", card.TS
	approved.TableGroup, _ = e.cv.TableGroup(t.Context(), "aws-prod-account", "payments")
	approved.Created, approved.Updated = e.clock.Now(), e.clock.Now()
	approved.TaskID, approved.JobIDs = 0, nil
	rec, err := approved.record()
	if err != nil {
		t.Fatal(err)
	}
	if err := e.store.Create(t.Context(), rec, approved.event("U0ALICE", "request", "", "")); err != nil {
		t.Fatal(err)
	}
	e.do("U0LEAD", "C0OPS", "cancel r-approved")
	contains(t, "answer", e.lastAnswer(t, "U0LEAD"), "cancelled before it was sent", "nothing runs")
	thread := e.replies(card.TS)
	contains(t, "thread", thread[len(thread)-1], "🛑 Cancelled by <@U0LEAD> before it was sent to Commvault")
	e.clock.Advance(time.Minute)
	e.bot.Recover(t.Context())
	if n := e.createTasks(); n != 0 {
		t.Errorf("CreateTasks = %d after cancels, want 0", n)
	}
}

// A cancel that arrives while the request is being sent waits for its job
// IDs, then kills the job.
func TestCancelWhileSubmitting(t *testing.T) {
	e := newEnv(t)
	e.sim.Inject(simulator.Fault{Op: simulator.OpCreateTask, Kind: simulator.FaultHang, Hang: time.Second})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		e.do("U0ALICE", "C0OPS", "dynamodb demo orders full")
	}()
	var id string
	for deadline := time.Now().Add(10 * time.Second); id == "" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if recs, _ := e.store.ByState(context.Background(), store.Submitting); len(recs) == 1 {
			id = recs[0].ID
		}
	}
	if id == "" {
		wg.Wait()
		t.Fatalf("the request was never seen submitting: %+v", e.chat.all(""))
	}
	e.do("U0ALICE", "C0OPS", "cancel "+id)
	wg.Wait()
	if n := e.sim.Kills(); n != 1 {
		t.Errorf("kills = %d, want 1; answer %q", n, e.lastAnswer(t, "U0ALICE"))
	}
	contains(t, "answer", e.lastAnswer(t, "U0ALICE"), "killed")
}

// A job the bot did not start: only an approver of an account on its
// client may kill it by ID; others are refused, without a read when they
// approve nothing.
func TestCancelJobNotStartedByBot(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	start := func(client, tg string) string {
		t.Helper()
		sc, err := e.cv.TableGroup(ctx, client, tg)
		if err != nil {
			t.Fatal(err)
		}
		task, err := e.cv.CreateBackup(ctx, sc, commvault.Full)
		if err != nil {
			t.Fatal(err)
		}
		return task.JobIDs[0]
	}
	orders, inventory, staging := start("aws-prod-account", "orders"), start("aws-prod-account", "inventory"), start("aws-staging-account", "orders")
	e.clock.Advance(simJob / 2)

	reads := e.sim.Reads()
	e.do("U0ALICE", "C0OPS", "cancel "+orders) // a requester of prod, not an approver
	if n := e.sim.Reads() - reads; n != 0 {
		t.Errorf("a refusal for someone who approves nothing read Commvault %d times", n)
	}
	contains(t, "requester", e.lastAnswer(t, "U0ALICE"), "You may not cancel "+orders)
	e.do("U0LEAD", "C0OPS", "cancel "+staging) // an approver, of another account
	contains(t, "other account", e.lastAnswer(t, "U0LEAD"), "You may not cancel "+staging)
	e.do("U0LEAD", "C0OPS", "cancel "+inventory) // prod's policy leaves inventory out
	contains(t, "table group outside the policy", e.lastAnswer(t, "U0LEAD"), "You may not cancel "+inventory)
	if n := e.sim.Kills(); n != 0 {
		t.Fatalf("kills = %d after refusals", n)
	}
	e.do("U0LEAD", "C0OPS", "cancel "+orders+" runaway schedule")
	contains(t, "approver", e.lastAnswer(t, "U0LEAD"), "Job "+orders+" killed")
	if n := e.sim.Kills(); n != 1 {
		t.Errorf("kills = %d, want 1", n)
	}
	if n := len(e.chat.all("post")) + len(e.chat.all("reply")); n != 0 {
		t.Errorf("channel messages = %d: a job without a request has no thread", n)
	}
	if got := e.audited(t, "kill"); len(got) != 1 || !strings.Contains(got[0], "U0LEAD approvers job "+orders+": killed") {
		t.Errorf("audit = %q", got)
	}
}

// The break-glass member who started an emergency may cancel it.
func TestCancelOwnEmergency(t *testing.T) {
	e := newEnv(t)
	e.do("U0ALICE", "C0OPS", "emergency dynamodb prod orders full table is being dropped (INC-9)")
	jobs := e.bot.followedJobs()
	e.clock.Advance(simJob / 2)
	e.do("U0ALICE", "C0OPS", "cancel "+jobs[0]+" false alarm")
	if n := e.sim.Kills(); n != 1 {
		t.Errorf("kills = %d, want 1: %q", n, e.lastAnswer(t, "U0ALICE"))
	}
	if got := e.audited(t, "cancel"); len(got) != 1 || !strings.HasPrefix(got[0], "U0ALICE breakglass ") {
		t.Errorf("audit = %q, want the break-glass rule", got)
	}
}

// A cancel after the approval timeout expires the request and says so.
func TestCancelAfterExpiry(t *testing.T) {
	e := newEnv(t)
	card := e.request(t, "orders")
	e.clock.Advance(31 * time.Minute)
	e.do("U0ALICE", "C0OPS", "cancel "+cardButtons(card.Msg)[ActionApprove])
	contains(t, "answer", e.lastAnswer(t, "U0ALICE"), "expired")
	contains(t, "card", e.lastUpdate(t, card.TS).Text, "expired")
}

// Someone who may request the account but not cancel this request (a
// fellow requester) learns nothing of it either: not that it exists, even
// when Slack cannot say who is in the user groups.
func TestCancelByAFellowRequesterLearnsNothing(t *testing.T) {
	for _, failing := range []bool{false, true} {
		e := newEnv(t)
		card := e.request(t, "orders") // U0ALICE's
		id := cardButtons(card.Msg)[ActionApprove]
		e.bot.groups = &failingGroups{fail: failing, ok: auth.StaticGroups(e.pol.Groups)}
		e.do("U0GROUPIE", "C0OPS", "cancel "+id+" not yours")
		existing := e.lastAnswer(t, "U0GROUPIE")
		e.do("U0GROUPIE", "C0OPS", "cancel r-000000 not yours")
		missing := e.lastAnswer(t, "U0GROUPIE")
		if strings.ReplaceAll(existing, id, "X") != strings.ReplaceAll(missing, "r-000000", "X") {
			t.Errorf("failing lookups %v: refusals differ:\n%q\n%q", failing, existing, missing)
		}
		if rec, _ := e.store.Get(t.Context(), id); rec.State != store.Pending || len(e.chat.all("update")) != 0 {
			t.Errorf("failing lookups %v: state %s, card updates %d; want pending, none", failing, rec.State, len(e.chat.all("update")))
		}
	}
}

package bot

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/backupbot/backupbot/auth"
	"github.com/backupbot/backupbot/bot/store"
	"github.com/backupbot/backupbot/commvault"
	"github.com/backupbot/backupbot/commvault/simulator"
)

// Told once, done once: what the requester is told is what happens, and
// every taken command is told its outcome and its job's end.

// eventually waits, in real time, until cond holds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: timed out", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// heldPast waits until the request's hold was renewed past the store's now.
func (e *env) heldPast(t *testing.T, id string) {
	t.Helper()
	eventually(t, "the hold renewed", func() bool {
		rec, err := e.store.Get(context.Background(), id)
		return err == nil && rec.HeldUntil.After(e.clock.Now())
	})
}

// only returns the single request in the store, failing otherwise.
func (e *env) only(t *testing.T) store.Request {
	t.Helper()
	var all []store.Request
	for _, st := range []store.State{store.Pending, store.Approved, store.Submitting, store.Submitted, store.Finished,
		store.Failed, store.Unknown, store.Cancelled, store.Rejected, store.Expired} {
		rs, err := e.store.ByState(context.Background(), st)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, rs...)
	}
	if len(all) != 1 {
		t.Fatalf("requests = %+v, want one", all)
	}
	return all[0]
}

// slowPosts is a Chat whose first channel post waits until released.
type slowPosts struct {
	*recorder
	release chan struct{}
	once    sync.Once
	waiting chan struct{}
}

func (c *slowPosts) Post(ctx context.Context, channel string, m Message) (string, error) {
	first := false
	c.once.Do(func() { first = true })
	if first {
		close(c.waiting)
		<-c.release
	}
	return c.recorder.Post(ctx, channel, m)
}

func withSlowPosts(e *env) *slowPosts {
	c := &slowPosts{recorder: e.chat, release: make(chan struct{}), waiting: make(chan struct{})}
	e.bot.chat = c
	return c
}

// A parent post that waits on Slack longer than any age the bot used to
// call "stuck" is not taken for a dead replica: one card, no unknown.
func TestSlowParentPostIsNotTakenOver(t *testing.T) {
	e := newEnv(t)
	e.bot.holdEvery = 5 * time.Millisecond
	slow := withSlowPosts(e)
	done := make(chan struct{})
	go func() { defer close(done); e.do("U0ALICE", "C0OPS", "dynamodb demo orders full") }()
	<-slow.waiting
	id := e.only(t).ID
	for range 3 { // 45 s of Slack's Retry-After, in steps
		e.clock.Advance(15 * time.Second)
		e.heldPast(t, id)
		e.bot.Recover(t.Context())
	}
	close(slow.release)
	<-done
	if posts := e.chat.all("post"); len(posts) != 1 {
		t.Errorf("posts = %d, want one card", len(posts))
	}
	for _, r := range e.chat.all("reply") {
		if strings.Contains(r.Msg.Text, "Outcome unknown") {
			t.Errorf("thread reads %q", r.Msg.Text)
		}
	}
	if rec := e.only(t); rec.State != store.Submitted || e.createTasks() != 1 {
		t.Errorf("state %s, CreateTasks %d; want submitted once", rec.State, e.createTasks())
	}
}

// failingHolds is a store whose hold renewals fail, as when this replica
// cannot reach its database for a while.
type failingHolds struct{ storage }

func (failingHolds) Hold(context.Context, string, string, time.Time) (bool, error) {
	return false, errors.New("injected: the store does not answer")
}

// When a replica truly stopped renewing while its post was on its way,
// recovery posts the card again; the first post, arriving last, loses and
// is removed, and the thread is the recorded card's.
func TestSecondCardIsRemoved(t *testing.T) {
	e := newEnv(t)
	e.bot.holdEvery = 5 * time.Millisecond
	slow := withSlowPosts(e)
	stalled, err := New(Config{Chat: slow, Commvault: e.cv, Policy: func() *auth.Policy { return e.pol },
		Groups: auth.StaticGroups(e.pol.Groups), Store: failingHolds{e.store}, Now: e.clock.Now, Replica: "stalled"})
	if err != nil {
		t.Fatal(err)
	}
	stalled.holdEvery = 5 * time.Millisecond
	done := make(chan struct{})
	go func() {
		defer close(done)
		stalled.Handle(context.Background(), Input{User: "U0ALICE", Channel: "C0OPS", Text: "dynamodb demo orders full"})
	}()
	<-slow.waiting
	e.clock.Advance(holdTTL + time.Second)
	e.bot.Recover(t.Context()) // posts the card again, and submits
	close(slow.release)
	<-done
	posts, deletes := e.chat.all("post"), e.chat.all("delete")
	if len(posts) != 2 || len(deletes) != 1 {
		t.Fatalf("posts %d, deletes %d; want the card twice and one removed", len(posts), len(deletes))
	}
	rec := e.only(t)
	if deletes[0].TS == rec.ParentTS {
		t.Errorf("the recorded card %s was removed", rec.ParentTS)
	}
	for _, r := range e.chat.all("reply") {
		if r.ThreadTS != rec.ParentTS {
			t.Errorf("reply %q in the thread of %s, want the recorded card %s", r.Msg.Text, r.ThreadTS, rec.ParentTS)
		}
	}
	if e.createTasks() != 1 {
		t.Errorf("CreateTasks = %d, want 1", e.createTasks())
	}
}

// A submission waiting on Commvault is never declared unknown, however
// long it takes: its replica holds it.
func TestInFlightSubmissionIsNeverDeclaredUnknown(t *testing.T) {
	e := newEnv(t)
	e.bot.holdEvery = 5 * time.Millisecond
	e.sim.Inject(simulator.Fault{Op: simulator.OpCreateTask, Kind: simulator.FaultHang, Hang: 700 * time.Millisecond})
	done := make(chan struct{})
	go func() { defer close(done); e.do("U0ALICE", "C0OPS", "dynamodb demo orders full") }()
	eventually(t, "CreateTask sent", func() bool { return e.createTasks() == 1 })
	id := e.only(t).ID
	e.clock.Advance(10 * time.Minute)
	e.heldPast(t, id)
	e.bot.Recover(t.Context())
	if rec := e.only(t); rec.State != store.Submitting {
		t.Fatalf("state = %s while CreateTask is in flight", rec.State)
	}
	<-done
	if rec := e.only(t); rec.State != store.Submitted {
		t.Errorf("state = %s after Commvault answered", rec.State)
	}
	for _, r := range e.chat.all("reply") {
		if strings.Contains(r.Msg.Text, "Outcome unknown") {
			t.Errorf("thread reads %q", r.Msg.Text)
		}
	}
}

// checkingChat checks, as the IDs are told, that they are recorded.
type checkingChat struct {
	*recorder
	e       *env
	checked atomic.Int32
	wrong   atomic.Value
}

func (c *checkingChat) Reply(ctx context.Context, channel, threadTS string, m Message) (string, error) {
	if strings.Contains(m.Text, "Submitted to Commvault") {
		c.checked.Add(1)
		if rs, err := c.e.store.ByState(ctx, store.Submitting); err != nil || len(rs) > 0 {
			c.wrong.Store("submitting")
		}
	}
	return c.recorder.Reply(ctx, channel, threadTS, m)
}

func TestSubmissionIsRecordedBeforeItIsTold(t *testing.T) {
	e := newEnv(t)
	c := &checkingChat{recorder: e.chat, e: e}
	e.bot.chat = c
	e.do("U0ALICE", "C0OPS", "dynamodb demo orders full")
	if c.checked.Load() != 1 {
		t.Fatalf("the IDs were told %d times", c.checked.Load())
	}
	if w := c.wrong.Load(); w != nil {
		t.Errorf("the thread was told the IDs while the request was %v", w)
	}
}

// flakyReplies is a Chat whose thread replies matching match fail the
// first n times.
type flakyReplies struct {
	*recorder
	match string
	left  atomic.Int32
}

func (c *flakyReplies) Reply(ctx context.Context, channel, threadTS string, m Message) (string, error) {
	if strings.Contains(m.Text, c.match) && c.left.Add(-1) >= 0 {
		return "", errors.New("injected: slack internal_error")
	}
	return c.recorder.Reply(ctx, channel, threadTS, m)
}

func replies(e *env, match string) int {
	n := 0
	for _, r := range e.chat.all("reply") {
		if strings.Contains(r.Msg.Text, match) {
			n++
		}
	}
	return n
}

// A job's end is told, however often Slack refuses the post, and the
// request finishes only once it is.
func TestJobEndIsToldUntilSlackTakesIt(t *testing.T) {
	e := newEnv(t)
	flaky := &flakyReplies{recorder: e.chat, match: "Completed"}
	flaky.left.Store(2)
	e.bot.chat = flaky
	e.do("U0ALICE", "C0OPS", "dynamodb demo orders full")
	e.finishJobs(t) // the end is recorded; its post fails
	if rec := e.only(t); rec.State != store.Submitted || replies(e, "Completed") != 0 {
		t.Fatalf("state %s with the end untold", rec.State)
	}
	leading := func() bool { return true }
	e.clock.Advance(3 * time.Minute) // past the grace the poller leaves the flow
	e.bot.retell(t.Context(), leading)
	if replies(e, "Completed") != 0 {
		t.Fatal("told although Slack refused twice")
	}
	e.clock.Advance(time.Minute) // past the retry's backoff
	e.bot.retell(t.Context(), leading)
	if n := replies(e, "Completed"); n != 1 {
		t.Fatalf("end told %d times, want once", n)
	}
	e.bot.poll(t.Context())
	if rec := e.only(t); rec.State != store.Finished {
		t.Errorf("state = %s after the end was told", rec.State)
	}
	e.bot.poll(t.Context())
	e.bot.retell(t.Context(), leading)
	if n := replies(e, "Completed"); n != 1 {
		t.Errorf("end told %d times in all, want once", n)
	}
}

// failingEnds is a store whose first JobEnded write fails.
type failingEnds struct {
	storage
	left atomic.Int32
}

func (s *failingEnds) JobEnded(ctx context.Context, requestID, jobID, status string, at time.Time, tell []byte,
	e *store.Event) (bool, int64, error) {
	if s.left.Add(-1) >= 0 {
		return false, 0, errors.New("injected: database is locked")
	}
	return s.storage.JobEnded(ctx, requestID, jobID, status, at, tell, e)
}

func TestJobEndWriteThatFailsIsMadeAgain(t *testing.T) {
	e := newEnv(t)
	failing := &failingEnds{storage: e.store}
	failing.left.Store(1)
	e.bot.store = failing
	e.do("U0ALICE", "C0OPS", "dynamodb demo orders full")
	e.finishJobs(t)
	if replies(e, "Completed") != 0 || e.only(t).State != store.Submitted {
		t.Fatal("an end that was not recorded was told or finished")
	}
	e.bot.poll(t.Context())
	if n := replies(e, "Completed"); n != 1 || e.only(t).State != store.Finished {
		t.Errorf("after the next poll: end told %d times, state %s; want once, finished", n, e.only(t).State)
	}
}

// failingParents is a store that cannot record a parent message.
type failingParents struct{ storage }

func (failingParents) SetParentTS(context.Context, string, string) (bool, string, error) {
	return false, "", errors.New("injected: database is locked")
}

// A card whose message cannot be recorded submits nothing, and says so.
func TestUnrecordedParentSubmitsNothing(t *testing.T) {
	e := newEnv(t)
	e.bot.store = failingParents{e.store}
	e.bot.parentRetry = time.Millisecond
	e.do("U0ALICE", "C0OPS", "dynamodb demo orders full")
	if e.createTasks() != 0 {
		t.Fatalf("CreateTasks = %d", e.createTasks())
	}
	if rec := e.only(t); rec.State != store.Failed {
		t.Errorf("state = %s, want failed", rec.State)
	}
	replies := e.chat.all("reply")
	if len(replies) != 1 || replies[0].ThreadTS != e.chat.all("post")[0].TS {
		t.Fatalf("replies = %+v, want one in the card's thread", replies)
	}
	contains(t, "reply", replies[0].Msg.Text, "could not record", "Nothing runs")
}

// An unknown outcome whose job never appears ends after the window, told.
func TestUnknownOutcomeEndsAfterTheWindow(t *testing.T) {
	e := newEnv(t)
	e.sim.Inject(simulator.Fault{Op: simulator.OpCreateTask, Kind: simulator.FaultHang}) // until the client gives up
	e.do("U0ALICE", "C0OPS", "dynamodb demo orders full")
	rec := e.only(t)
	if rec.State != store.Unknown {
		t.Fatalf("state = %s, want unknown", rec.State)
	}
	// The job the hang left started before the request was sent, as far as
	// the bot can tell: move it out of the window.
	e.clock.Advance(reconcileFor + time.Minute)
	recs, err := e.store.Followed(t.Context(), e.clock.Now().Add(-reconcileFor))
	if err != nil || len(recs) != 0 {
		t.Errorf("Followed past the window = %d, %v; want none read", len(recs), err)
	}
	e.bot.keepWithin(t.Context())
	if rec := e.only(t); rec.State != store.Failed {
		t.Fatalf("state after the window = %s", rec.State)
	}
	if replies(e, "No job for this request appeared") != 1 {
		t.Errorf("thread not told: %+v", e.chat.all("reply"))
	}
}

func TestRetentionDeletesWhatEndedLongAgo(t *testing.T) {
	e := newEnv(t)
	e.do("U0ALICE", "C0OPS", "dynamodb demo orders full")
	e.finishJobs(t)
	id := e.only(t).ID
	e.clock.Advance(defaultRetention + 24*time.Hour)
	e.bot.keepWithin(t.Context())
	if _, err := e.store.Get(t.Context(), id); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Get after the retention = %v, want ErrNotFound", err)
	}
}

// A request ID that another request drew is never a silent drop.
func TestRequestIDCollisionTakesAnother(t *testing.T) {
	e := newEnv(t)
	taken := requestID("env-1", nil)
	sc, err := e.cv.TableGroup(t.Context(), "aws-demo-account", "payments")
	if err != nil {
		t.Fatal(err)
	}
	other := request{ID: taken, User: "U0BOB", Channel: "C0OPS", Account: "demo", TableGroup: sc, Level: commvault.Full,
		State: store.Finished, Created: e.clock.Now(), Updated: e.clock.Now()}
	rec, _ := other.record()
	if err := e.store.Create(t.Context(), rec, store.Event{Action: "request"}); err != nil {
		t.Fatal(err)
	}
	e.bot.Handle(t.Context(), Input{User: "U0ALICE", Channel: "C0OPS", Text: "dynamodb demo orders full", Origin: "env-1"})
	if e.createTasks() != 1 {
		t.Fatalf("CreateTasks = %d: the command was dropped (%+v)", e.createTasks(), e.chat.all(""))
	}
	// Served again (a replica died), it makes the same request, once.
	e.bot.Handle(t.Context(), Input{User: "U0ALICE", Channel: "C0OPS", Text: "dynamodb demo orders full", Origin: "env-1"})
	if e.createTasks() != 1 {
		t.Errorf("CreateTasks = %d after serving the envelope again", e.createTasks())
	}
}

func TestLeaseStopsBeingLedWhenItMayHaveRunOut(t *testing.T) {
	var l leaseState
	if l.leading() {
		t.Fatal("leading before any lease")
	}
	l.set(true, time.Now(), time.Hour)
	if !l.leading() {
		t.Fatal("not leading with a lease an hour long")
	}
	l.set(true, time.Now().Add(-2*time.Second), time.Second) // renewed, but the renewal took longer than the lease
	if l.leading() {
		t.Error("still leading past the lease it got")
	}
	l.set(false, time.Now(), time.Hour)
	if l.leading() {
		t.Error("leading after the lease was lost")
	}
}

// knownPosts is a Chat whose first post waits until released and is
// given a known ts, the one a quick approver's click carries.
type knownPosts struct {
	*slowPosts
	ts string
}

func (c *knownPosts) Post(ctx context.Context, channel string, m Message) (string, error) {
	if _, err := c.slowPosts.Post(ctx, channel, m); err != nil {
		return "", err
	}
	return c.ts, nil
}

// An approver who clicks before the requester's flow has recorded the card
// still gets a thread: the click's card is recorded, and kept.
func TestQuickApprovalBeforeTheCardIsRecorded(t *testing.T) {
	e := newEnv(t)
	slow := withSlowPosts(e)
	chat := &knownPosts{slowPosts: slow, ts: "1764237600.999999"}
	e.bot.chat = chat
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.do("U0ALICE", "C0OPS", "dynamodb prod orders full before the migration")
	}()
	<-slow.waiting
	id := e.only(t).ID
	e.bot.Click(t.Context(), Click{User: "U0LEAD", Channel: "C0OPS", MessageTS: chat.ts, ActionID: ActionApprove, Value: id})
	close(slow.release)
	<-done
	if e.createTasks() != 1 {
		t.Fatalf("CreateTasks = %d", e.createTasks())
	}
	if d := e.chat.all("delete"); len(d) != 0 {
		t.Errorf("the card was removed: %+v", d)
	}
	ids := 0
	for _, r := range e.chat.all("reply") {
		if r.ThreadTS != chat.ts {
			t.Errorf("reply %q in thread %q, want the card's", r.Msg.Text, r.ThreadTS)
		}
		if strings.Contains(r.Msg.Text, "Submitted to Commvault") {
			ids++
		}
	}
	if ids != 1 {
		t.Errorf("IDs told %d times, want once", ids)
	}
}

// goneChannel is a Chat whose thread replies Slack refuses: the bot was
// removed from the channel.
type goneChannel struct{ *recorder }

func (goneChannel) Reply(context.Context, string, string, Message) (string, error) {
	return "", fmt.Errorf("slack chat.postMessage: %w", slack.SlackErrorResponse{Err: "not_in_channel"})
}

// A thread that can no longer be told (the bot was removed from the
// channel) does not keep its request from finishing.
func TestRemovedFromTheChannelTheRequestStillFinishes(t *testing.T) {
	e := newEnv(t)
	e.do("U0ALICE", "C0OPS", "dynamodb demo orders full")
	e.bot.chat = goneChannel{e.chat}
	e.finishJobs(t)
	if rec := e.only(t); rec.State != store.Finished {
		t.Errorf("state = %s, want finished", rec.State)
	}
}

// slowReplies is a Chat whose first thread reply waits until released, as
// a reply waits out a busy channel's rate limit.
type slowReplies struct {
	*recorder
	release chan struct{}
	once    sync.Once
	waiting chan struct{}
}

func (c *slowReplies) Reply(ctx context.Context, channel, threadTS string, m Message) (string, error) {
	first := false
	c.once.Do(func() { first = true })
	if first {
		close(c.waiting)
		<-c.release
	}
	return c.recorder.Reply(ctx, channel, threadTS, m)
}

// An outcome whose post waits on Slack while its job ends is told once:
// the lease holder's poll records the end and leaves the thread to the
// flow posting the outcome, then tells the end after it.
func TestOutcomeWaitingOnSlackIsToldOnce(t *testing.T) {
	e := newEnv(t)
	e.bot.holdEvery = 5 * time.Millisecond
	slow := &slowReplies{recorder: e.chat, release: make(chan struct{}), waiting: make(chan struct{})}
	e.bot.chat = slow
	done := make(chan struct{})
	go func() { defer close(done); e.do("U0ALICE", "C0OPS", "dynamodb demo orders full") }()
	<-slow.waiting // the IDs reply is on its way
	id := e.only(t).ID
	e.clock.Advance(2 * simJob) // the job ends meanwhile
	e.heldPast(t, id)
	e.bot.poll(t.Context())
	close(slow.release)
	<-done
	e.bot.poll(t.Context())
	var thread []string
	for _, r := range e.chat.all("reply") {
		thread = append(thread, r.Msg.Text)
	}
	if len(thread) != 2 || !strings.Contains(thread[0], "Submitted to Commvault") || !strings.Contains(thread[1], "Completed") {
		t.Errorf("thread = %q; want the IDs once, then the job's end", thread)
	}
	if rec := e.only(t); rec.State != store.Finished {
		t.Errorf("state %s, want finished", rec.State)
	}
}

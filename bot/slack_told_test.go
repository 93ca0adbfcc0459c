package bot

import (
	"context"
	"database/sql"
	"encoding/json"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slack-go/slack"
	_ "modernc.org/sqlite" // the lock that stalls the store

	"github.com/backupbot/backupbot/bot/slacktest"
	"github.com/backupbot/backupbot/bot/store"
)

func slackAPI(fake *slacktest.Server) *slack.Client {
	return slack.New(fake.BotToken(), slack.OptionAppLevelToken(fake.AppToken()), slack.OptionAPIURL(fake.APIURL()))
}

// openStoreAt opens a SQLite store in a new file and returns its path.
func openStoreAt(t *testing.T) (*store.DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "bot.db")
	st, err := store.Open(t.Context(), "sqlite:"+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st, path
}

// stall holds SQLite's write lock on path, as a backup tool or a long
// transaction of another process would, until release is called.
func stall(t *testing.T, path string) (release func()) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := db.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(t.Context(), "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	release = func() {
		once.Do(func() {
			_, _ = conn.ExecContext(context.Background(), "ROLLBACK")
			conn.Close()
			db.Close()
		})
	}
	t.Cleanup(release)
	return release
}

// "Nothing was submitted" is final: commands answered "try again" while
// the database stalled never run, even once it answers again and the
// sweep looks for work left over; the others run once.
func TestSlackStalledStoreRefusalsAreFinal(t *testing.T) {
	st, path := openStoreAt(t)
	h := &recordingHandler{}
	e := startTransport(t, h, SlackConfig{Connections: 2, Inbox: st, RecordBudget: 300 * time.Millisecond,
		SweepEvery: 20 * time.Millisecond, claimLease: 200 * time.Millisecond, staleAfter: 200 * time.Millisecond})
	var ids []string
	send := func(text string) {
		id, err := e.fake.SlashCommand(t.Context(), slacktest.SlashCommand{UserID: "U0ALICE", Text: text})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	send("list before")
	waitFor(t, e.fake, "the first command", func() bool { return len(h.all()) == 1 })
	release := stall(t, path)
	for i := range 8 {
		send("list during " + string(rune('a'+i)))
	}
	for _, id := range ids {
		if _, err := e.fake.Ack(t.Context(), id); err != nil {
			t.Fatalf("ack %s: %v", id, err)
		}
	}
	time.Sleep(time.Second) // the stall outlives every ack
	release()
	send("list after")
	waitFor(t, e.fake, "the command after", func() bool {
		for _, in := range h.all() {
			if in.Origin == ids[len(ids)-1] {
				return true
			}
		}
		return false
	})
	time.Sleep(time.Second) // sweeps that would serve what was recorded late

	served := make(map[string]int)
	for _, in := range h.all() {
		served[in.Origin]++
	}
	acks := make(map[string]json.RawMessage)
	for _, a := range e.fake.Acks() {
		acks[a.EnvelopeID] = a.Payload
	}
	refused := 0
	for _, id := range ids {
		told := strings.Contains(string(acks[id]), "Nothing was submitted")
		switch {
		case told && served[id] > 0:
			t.Errorf("envelope %s was told \"try again\" and then served %d times", id, served[id])
		case !told && served[id] != 1:
			t.Errorf("envelope %s was taken and served %d times, want once", id, served[id])
		}
		if told {
			refused++
		}
	}
	if refused == 0 {
		t.Error("no command was refused: the stall did not stall")
	}
}

// An envelope whose servers kept stopping is given up at last, and its
// sender is told, not left waiting.
func TestSlackWorkThatRanOutOfAttemptsIsTold(t *testing.T) {
	st, _ := openStoreAt(t)
	left, _ := json.Marshal(envelopeRecord{Input: &Input{User: "U0ALICE", Channel: "C0OPS", Text: "dynamodb demo orders full",
		Origin: "env-tired"}})
	if _, err := st.Take(t.Context(), time.Minute, []string{"envelope:env-tired"}, store.InboxItem{ID: "env-tired",
		Kind: "command", Payload: left}, "", 0); err != nil {
		t.Fatal(err)
	}
	for _, owner := range []string{"a", "b", "c", "d", "e"} { // five replicas took it and stopped
		if _, ok, err := st.ClaimInbox(t.Context(), "env-tired", owner, time.Millisecond); err != nil || !ok {
			t.Fatalf("claim by %s: %v, %v", owner, ok, err)
		}
		time.Sleep(2 * time.Millisecond)
	}
	h := &recordingHandler{}
	e := startTransport(t, h, SlackConfig{Connections: 1, Inbox: st, SweepEvery: 20 * time.Millisecond,
		claimLease: time.Second, staleAfter: time.Millisecond})
	waitFor(t, e.fake, "the sender told", func() bool { return len(e.fake.Ephemerals("U0ALICE")) > 0 })
	got := e.fake.Ephemerals("U0ALICE")[0].Text
	contains(t, "answer", got, "could not finish serving", "/backup dynamodb demo orders full", "5 times")
	if n := len(h.all()); n != 0 {
		t.Errorf("served %d times, want none (it was given up)", n)
	}
	if _, ok, _ := st.ClaimInbox(t.Context(), "env-tired", "z", time.Minute); ok {
		t.Error("the given-up envelope can still be claimed")
	}
}

// After the drain timeout the transport waits for the worker still
// running, so that its store is not closed under it, and leaves what is
// queued to the next start.
func TestSlackShutdownWaitsForRunningWork(t *testing.T) {
	fake, err := slacktest.New(slacktest.Config{PingInterval: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fake.Close)
	st, _ := openStoreAt(t)
	h := &blockingHandler{release: make(chan struct{})}
	tr, err := NewSlack(SlackConfig{API: slackAPI(fake), AppToken: fake.AppToken(), APIURL: fake.APIURL(), Handler: h,
		Inbox: st, Connections: 1, Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tr.Run(ctx, 50*time.Millisecond) }()
	waitFor(t, fake, "connected", func() bool { return tr.Ready() == nil })
	for _, text := range []string{"list running", "list queued"} {
		if _, err := fake.SlashCommand(t.Context(), slacktest.SlashCommand{UserID: "U0ALICE", Text: text}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, fake, "the first on the worker", func() bool { n, _ := h.count(); return n == 1 })
	cancel()
	select {
	case <-done:
		t.Fatal("Run returned while a worker still ran")
	case <-time.After(300 * time.Millisecond):
	}
	close(h.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n, _ := h.count(); n != 1 {
		t.Errorf("served %d commands, want only the one running (the queued one waits for the next start)", n)
	}
}

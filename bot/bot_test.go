package bot

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/backupbot/backupbot/auth"
	"github.com/backupbot/backupbot/bot/store"
	"github.com/backupbot/backupbot/commvault"
	"github.com/backupbot/backupbot/commvault/simulator"
)

// clock is a fake clock the tests move by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// sent is one call the bot made on its chat.
type sent struct {
	Kind     string // post, reply, update, delete, ephemeral
	Channel  string
	TS       string // the message's own ts (post, reply) or the one updated
	ThreadTS string // reply: the parent
	User     string // ephemeral: who sees it
	Msg      Message
}

// recorder is a Chat that records what the bot sends.
type recorder struct {
	mu   sync.Mutex
	seq  int
	sent []sent
}

func (r *recorder) add(s sent) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seq++
	if s.TS == "" {
		s.TS = fmt.Sprintf("1764237600.%06d", r.seq)
	}
	r.sent = append(r.sent, s)
	return s.TS
}

func (r *recorder) Post(_ context.Context, channel string, m Message) (string, error) {
	return r.add(sent{Kind: "post", Channel: channel, Msg: m}), nil
}

func (r *recorder) Reply(_ context.Context, channel, threadTS string, m Message) (string, error) {
	return r.add(sent{Kind: "reply", Channel: channel, ThreadTS: threadTS, Msg: m}), nil
}

func (r *recorder) Update(_ context.Context, channel, ts string, m Message) error {
	r.add(sent{Kind: "update", Channel: channel, TS: ts, Msg: m})
	return nil
}

func (r *recorder) Delete(_ context.Context, channel, ts string) error {
	r.add(sent{Kind: "delete", Channel: channel, TS: ts})
	return nil
}

func (r *recorder) Ephemeral(_ context.Context, to Input, m Message) error {
	r.add(sent{Kind: "ephemeral", Channel: to.Channel, User: to.User, Msg: m})
	return nil
}

func (r *recorder) Permalink(_ context.Context, channel, ts string) (string, error) {
	return "https://example.slack.com/archives/" + channel + "/p" + strings.ReplaceAll(ts, ".", ""), nil
}

// all returns what was sent so far, of the given kind ("" for every kind).
func (r *recorder) all(kind string) []sent {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []sent
	for _, s := range r.sent {
		if kind == "" || s.Kind == kind {
			out = append(out, s)
		}
	}
	return out
}

// env is a bot wired to the real commvault client, a simulator, and a
// SQLite store in a file.
type env struct {
	bot   *Bot
	chat  *recorder
	sim   *simulator.Server
	cv    *commvault.Client
	clock *clock
	store *store.DB
	pol   *auth.Policy
	db    string // the store's URL, to open it again after a "restart"
	// jobURL is the bot's Config.JobURL (COMMVAULT_JOB_URL).
	jobURL string
}

const simJob = 10 * time.Second

func newEnv(t *testing.T) *env {
	t.Helper()
	data, err := os.ReadFile("testdata/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return newEnvWith(t, data, nil)
}

// newEnvWith is newEnv with another policy and, if not nil, another
// Commvault catalogue.
func newEnvWith(t *testing.T, policy []byte, accounts []simulator.Account) *env {
	t.Helper()
	return newEnvSim(t, policy, simulator.Config{Accounts: accounts})
}

// newEnvSim is newEnv with another policy (nil: the test policy) and
// simulator; its clock and job duration are the env's.
func newEnvSim(t *testing.T, policy []byte, cfg simulator.Config) *env {
	t.Helper()
	if policy == nil {
		var err error
		if policy, err = os.ReadFile("testdata/policy.yaml"); err != nil {
			t.Fatal(err)
		}
	}
	pol, err := auth.Parse("policy.yaml", policy)
	if err != nil {
		t.Fatal(err)
	}
	clk := newClock()
	cfg.JobDuration, cfg.Now = simJob, clk.Now
	sim := simulator.New(cfg)
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	cv, err := commvault.New(commvault.Config{
		BaseURL: srv.URL + "/commandcenter/api", Username: "admin", Password: "simulator", Timeout: 2 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{chat: &recorder{}, sim: sim, cv: cv, clock: clk, pol: pol,
		db: "sqlite:" + filepath.Join(t.TempDir(), "backupbot.db")}
	e.restart(t)
	return e
}

// ids makes request IDs and references unique across restarts of a test.
var ids atomic.Int64

// restart is a new Bot on the same store file, chat and Commvault, as after
// the process was restarted.
func (e *env) restart(t *testing.T) {
	t.Helper()
	if e.store != nil {
		if err := e.store.Close(); err != nil {
			t.Fatal(err)
		}
	}
	st, err := store.Open(context.Background(), e.db, e.clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	b, err := New(Config{
		Chat: e.chat, Commvault: e.cv, Policy: func() *auth.Policy { return e.pol }, Groups: auth.StaticGroups(e.pol.Groups),
		Store: st, PollInterval: time.Second, Now: e.clock.Now,
		NewID:  func() string { return fmt.Sprintf("%06x", ids.Add(1)) },
		JobURL: e.jobURL,
	})
	if err != nil {
		t.Fatal(err)
	}
	e.bot, e.store = b, st
}

// do runs one slash command as user in channel.
func (e *env) do(user, channel, text string) {
	e.bot.Handle(context.Background(), Input{User: user, Channel: channel, Text: text})
}

// finishJobs moves the simulator's clock past every job's end and polls.
func (e *env) finishJobs(t *testing.T) {
	t.Helper()
	e.clock.Advance(2 * simJob)
	e.bot.poll(context.Background())
}

func (e *env) createTasks() int { return e.sim.CreateTaskCount() }

func contains(t *testing.T, what, got string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(got, w) {
			t.Errorf("%s = %q, want it to contain %q", what, got, w)
		}
	}
}

// followedJobs lists the IDs of the jobs being followed, for tests.
func (b *Bot) followedJobs() []string {
	rs, _ := b.store.ByState(context.Background(), store.Submitted)
	var ids []string
	for _, r := range rs {
		ids = append(ids, r.JobIDs...)
	}
	return ids
}

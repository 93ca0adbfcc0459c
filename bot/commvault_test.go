package bot

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/backupbot/backupbot/bot/store"
	"github.com/backupbot/backupbot/commvault"
	"github.com/backupbot/backupbot/commvault/simulator"
)

// createdSubclients are the subclient IDs of the CreateTasks the simulator took.
func (e *env) createdSubclients() []int {
	var ids []int
	for _, r := range e.sim.Requests() {
		if r.Op != simulator.OpCreateTask || r.Status != 200 {
			continue
		}
		info, _ := r.Body.(map[string]any)["taskInfo"].(map[string]any)
		assocs, _ := info["associations"].([]any)
		if len(assocs) == 1 {
			id, _ := assocs[0].(map[string]any)["subclientId"].(float64)
			ids = append(ids, int(id))
		}
	}
	return ids
}

// A CreateTask answered HTTP 500 after Commvault created the job: the
// thread hears the outcome is unknown, the job is found in the listing
// (not the hidden one beside it) and followed to its end; nothing is
// resent.
func TestSubmission500ThatCreatedTheJob(t *testing.T) {
	for _, tt := range []struct {
		name, level string
		wantFull    bool
	}{
		{"full", "full", false},
		{"first incremental, run as a full", "incr", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.sim.Inject(simulator.Fault{Op: simulator.OpCreateTask, Kind: simulator.FaultHiddenJob})
			e.sim.Inject(simulator.Fault{Op: simulator.OpCreateTask, Kind: simulator.FaultCreated500})
			e.do("U0ALICE", "C0OPS", "dynamodb demo orders "+tt.level)
			replies := e.chat.all("reply")
			if len(replies) != 1 {
				t.Fatalf("replies = %+v, want the unknown outcome", replies)
			}
			contains(t, "first reply", replies[0].Msg.Text, "Outcome unknown — checking Commvault", "HTTP 500")
			if recs, _ := e.store.ByState(t.Context(), store.Unknown); len(recs) != 1 {
				t.Fatalf("unknown requests = %d, want 1", len(recs))
			}
			e.bot.poll(t.Context()) // the job is running: found in the listing
			replies = e.chat.all("reply")
			if len(replies) != 2 {
				t.Fatalf("replies = %+v, want the job found", replies)
			}
			real := fmt.Sprint(simulatorFirstJob)
			contains(t, "reconciled", replies[1].Msg.Text, "Found it", "job "+real)
			if got := strings.Contains(replies[1].Msg.Text, "full backup"); got != tt.wantFull {
				t.Errorf("reconciled reply %q mentions a full backup: %v, want %v", replies[1].Msg.Text, got, tt.wantFull)
			}
			e.finishJobs(t)
			replies = e.chat.all("reply")
			if len(replies) != 3 {
				t.Fatalf("replies = %+v, want the job's end", replies)
			}
			contains(t, "job end", replies[2].Msg.Text, "Job "+real, "Completed")
			if n, sent := e.createTasks(), e.sim.Requests(); n != 1 || countOp(sent, simulator.OpCreateTask) != 1 {
				t.Errorf("jobs created = %d, CreateTasks sent = %d; want 1 and 1 (never resent)", n, countOp(sent, simulator.OpCreateTask))
			}
		})
	}
}

// simulatorFirstJob is the ID of the simulator's first job.
const simulatorFirstJob = 149800

func countOp(reqs []simulator.Request, op simulator.Op) int {
	n := 0
	for _, r := range reqs {
		if r.Op == op {
			n++
		}
	}
	return n
}

// aws-demo-account lists an RDS and a Redshift instance, with subclients
// named default and orders, before its DynamoDB table groups.
func TestDynamoDBTableGroupsOnly(t *testing.T) {
	e := newEnv(t)
	e.do("U0ALICE", "C0OPS", "dynamodb demo default full")
	e.do("U0ALICE", "C0OPS", "dynamodb demo orders full")
	if got := e.createdSubclients(); fmt.Sprint(got) != "[18230 18231]" {
		t.Errorf("subclients backed up = %v, want the DynamoDB default and orders [18230 18231], never RDS or Redshift", got)
	}
	for _, p := range e.chat.all("post") {
		raw, _ := json.Marshal(p.Msg)
		contains(t, "parent", string(raw), "DynamoDB / defaultBackupSet")
	}
	e.do("U0ALICE", "C0OPS", "list demo")
	eph := e.chat.all("ephemeral")
	contains(t, "list", eph[len(eph)-1].Msg.Text, "orders, payments, customer profiles, default")
	if strings.Contains(eph[len(eph)-1].Msg.Text, "RDS") || strings.Count(eph[len(eph)-1].Msg.Text, "default") != 1 {
		t.Errorf("list = %q, want DynamoDB table groups only", eph[len(eph)-1].Msg.Text)
	}
}

// A table group only another agent has is not offered as a "did you mean".
func TestDidYouMeanDynamoDBOnly(t *testing.T) {
	e := newEnvWith(t, []byte("accounts:\n  acct:\n    client: aws-mixed\n    requesters: [\"*\"]\n"), []simulator.Account{{
		Name: "aws-mixed", TableGroups: []simulator.TableGroup{{Name: "orders"}},
		Others: []simulator.Instance{{Name: "RDS", Type: simulator.TypeRDS, Subclients: []simulator.TableGroup{{Name: "ledger"}}}},
	}})
	e.do("U0ALICE", "C0OPS", "dynamodb acct ledgr full")
	eph := e.chat.all("ephemeral")
	if len(eph) != 1 || e.createTasks() != 0 {
		t.Fatalf("answers = %+v, CreateTasks = %d", eph, e.createTasks())
	}
	contains(t, "answer", eph[0].Msg.Text, "no table group *ledgr*")
	if strings.Contains(eph[0].Msg.Text, "ledger") {
		t.Errorf("answer %q offers the RDS subclient ledger", eph[0].Msg.Text)
	}
}

func TestTableGroupInTwoDynamoDBInstances(t *testing.T) {
	e := newEnvWith(t, []byte("accounts:\n  multi:\n    client: aws-multi\n    requesters: [\"*\"]\n"), []simulator.Account{{
		Name: "aws-multi", Instance: "DynamoDB-us", TableGroups: []simulator.TableGroup{{Name: "default", ID: 30001}},
		Others: []simulator.Instance{{Name: "DynamoDB-eu", Type: simulator.TypeDynamoDB, Subclients: []simulator.TableGroup{{Name: "default", ID: 30002}}}},
	}})
	e.do("U0ALICE", "C0OPS", "dynamodb multi default full")
	eph := e.chat.all("ephemeral")
	if len(eph) != 1 || e.createTasks() != 0 {
		t.Fatalf("answers = %+v, CreateTasks = %d; want a refusal", eph, e.createTasks())
	}
	contains(t, "answer", eph[0].Msg.Text, "2 DynamoDB instances", "`DynamoDB-eu/default`", "`DynamoDB-us/default`", "Nothing was submitted")
	e.do("U0ALICE", "C0OPS", "dynamodb multi DynamoDB-eu/default full")
	if got := e.createdSubclients(); fmt.Sprint(got) != "[30002]" {
		t.Errorf("backed up %v, want [30002]", got)
	}
	e.do("U0ALICE", "C0OPS", "list multi")
	eph = e.chat.all("ephemeral")
	contains(t, "list", eph[len(eph)-1].Msg.Text, "DynamoDB-eu/default, DynamoDB-us/default")
}

// newTokenEnv is newEnv with a session token the simulator accepts until
// it expires it; the bot's log is observed.
func newTokenEnv(t *testing.T) (*env, *observer.ObservedLogs) {
	t.Helper()
	e := newEnv(t)
	const token = "QSDK bot-session-token"
	sim := simulator.New(simulator.Config{JobDuration: simJob, Now: e.clock.Now, Tokens: []string{token}})
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	cv, err := commvault.New(commvault.Config{BaseURL: srv.URL + "/commandcenter/api", Token: token, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	e.sim, e.cv = sim, cv
	e.restart(t)
	core, logs := observer.New(zap.InfoLevel)
	e.bot.log = zap.New(core)
	return e, logs
}

const sessionExpired = "the Commvault session token expired; use an access token with its refresh token, or a username and password"

func TestSessionTokenExpired(t *testing.T) {
	e, logs := newTokenEnv(t)
	e.do("U0ALICE", "C0OPS", "list demo") // the table groups are cached from here on
	e.sim.ExpireStaticTokens()

	e.do("U0ALICE", "C0OPS", "dynamodb demo orders full")
	replies := e.chat.all("reply")
	if len(replies) != 1 || e.createTasks() != 0 {
		t.Fatalf("replies = %+v, CreateTasks = %d", replies, e.createTasks())
	}
	contains(t, "thread", replies[0].Msg.Text, "Commvault is unavailable", "nothing was submitted")
	if recs, _ := e.store.ByState(t.Context(), store.Failed); len(recs) != 1 {
		t.Errorf("failed requests = %d, want 1", len(recs))
	}

	for _, tt := range []struct{ cmd, want string }{
		{"status 149800", "Commvault is unavailable"},
		{"dynamodb staging orders full", "Commvault is unavailable"},
		{"list staging", "Commvault is unavailable just now"},
	} {
		before := len(e.chat.all("ephemeral"))
		e.do("U0ALICE", "C0OPS", tt.cmd)
		eph := e.chat.all("ephemeral")
		if len(eph) != before+1 {
			t.Fatalf("%s: answers = %+v", tt.cmd, eph)
		}
		contains(t, tt.cmd, eph[len(eph)-1].Msg.Text, tt.want)
		if strings.Contains(eph[len(eph)-1].Msg.Text, "went wrong") {
			t.Errorf("%s: answer %q, want no \"went wrong\"", tt.cmd, eph[len(eph)-1].Msg.Text)
		}
	}
	if n := logs.FilterMessage(sessionExpired).Len(); n < 4 {
		t.Errorf("log lines %q = %d, want one per failed call (4)", sessionExpired, n)
	}
	if e.cv.Ready() == nil {
		t.Error("the client is ready with an expired session token")
	}
}

func TestRateLimitPausesPolling(t *testing.T) {
	e := newEnv(t)
	reg := prometheus.NewRegistry()
	e.bot.metrics = NewMetrics(reg)
	e.do("U0ALICE", "C0OPS", "dynamodb demo orders full")
	e.sim.Inject(simulator.Fault{Op: simulator.OpJob, Kind: simulator.FaultRateLimitPeriod, RetryAfter: 15 * time.Minute})
	var next time.Time
	e.bot.round(t.Context(), &next, func() bool { return true })
	if d := next.Sub(e.clock.Now()); d != 15*time.Minute {
		t.Errorf("next poll in %v, want the 15m of X-RateLimit-Period", d)
	}
	if got := gauge(t, reg, "backupbot_commvault_reads_paused_seconds"); got != 900 {
		t.Errorf("backupbot_commvault_reads_paused_seconds = %v, want 900", got)
	}
	e.clock.Advance(15 * time.Minute)
	e.bot.round(t.Context(), &next, func() bool { return true })
	if got := gauge(t, reg, "backupbot_commvault_reads_paused_seconds"); got != 0 {
		t.Errorf("backupbot_commvault_reads_paused_seconds after the pause = %v, want 0", got)
	}
}

func TestRateLimitBackoffWithoutHeaders(t *testing.T) {
	e := newEnv(t)
	limited := fmt.Errorf("list jobs: %w", &commvault.APIError{StatusCode: 429})
	var got []time.Duration
	for range 8 {
		got = append(got, e.bot.retryAfter(limited))
	}
	want := []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute, 8 * time.Minute, 16 * time.Minute,
		32 * time.Minute, time.Hour, time.Hour}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("backoff = %v, want %v", got, want)
	}
	e.bot.throttled(-1)
	if d := e.bot.retryAfter(limited); d != time.Minute {
		t.Errorf("backoff after a poll that went through = %v, want 1m again", d)
	}
	if d := e.bot.retryAfter(errors.New("other")); d != 0 {
		t.Errorf("retryAfter(not a 429) = %v, want 0", d)
	}
	if d := e.bot.retryAfter(&commvault.APIError{StatusCode: 429, RetryAfter: 7 * time.Second}); d != 7*time.Second {
		t.Errorf("retryAfter(429 with 7s) = %v, want 7s", d)
	}
}

// gauge is the value of the gauge name in reg.
func gauge(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no gauge %s", name)
	return 0
}

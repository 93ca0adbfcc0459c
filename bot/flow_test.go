package bot

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/backupbot/backupbot/bot/store"
	"github.com/backupbot/backupbot/commvault/simulator"
)

// createTaskBodies returns the decoded bodies of the CreateTask calls the
// simulator received.
func createTaskBodies(sim *simulator.Server) []map[string]any {
	var out []map[string]any
	for _, r := range sim.Requests() {
		if strings.HasSuffix(strings.ToLower(r.Path), "/createtask") {
			if m, ok := r.Body.(map[string]any); ok {
				out = append(out, m)
			}
		}
	}
	return out
}

// dig walks a decoded JSON value: keys for objects, ints for arrays.
func dig(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[k]
		case int:
			a, _ := v.([]any)
			if k >= len(a) {
				return nil
			}
			v = a[k]
		}
	}
	return v
}

func TestBackupHappyPath(t *testing.T) {
	e := newEnv(t)
	e.do("U0ALICE", "C0OPS", `dynamodb demo orders full before the migration (INC-4711)`)

	if got := e.createTasks(); got != 1 {
		t.Fatalf("CreateTask calls = %d, want 1", got)
	}
	bodies := createTaskBodies(e.sim)
	assoc := dig(bodies[0], "taskInfo", "associations", 0)
	want, err := e.cv.TableGroup(t.Context(), "aws-demo-account", "orders")
	if err != nil {
		t.Fatal(err)
	}
	if id, _ := dig(assoc, "subclientId").(float64); int(id) != want.ID {
		t.Errorf("association subclientId = %v, want %d", dig(assoc, "subclientId"), want.ID)
	}
	if lvl := dig(bodies[0], "taskInfo", "subTasks", 0, "options", "backupOpts", "backupLevel"); lvl != "FULL" {
		t.Errorf("backupLevel = %v, want FULL", lvl)
	}

	posts := e.chat.all("post")
	if len(posts) != 1 {
		t.Fatalf("posts = %d, want 1 parent message", len(posts))
	}
	parent := posts[0]
	contains(t, "parent text", parent.Msg.Text, "<@U0ALICE>", "full backup", "demo", "orders", "INC-4711")
	replies := e.chat.all("reply")
	if len(replies) != 1 {
		t.Fatalf("thread replies = %+v, want 1", replies)
	}
	task := replies[0]
	if task.ThreadTS != parent.TS || task.Channel != "C0OPS" {
		t.Errorf("reply in %s thread %q, want C0OPS thread %q", task.Channel, task.ThreadTS, parent.TS)
	}
	contains(t, "task reply", task.Msg.Text, "task ", "job ")
	if len(e.chat.all("ephemeral")) != 0 {
		t.Errorf("ephemeral replies = %+v, want none", e.chat.all("ephemeral"))
	}
	if e.bot.Following(t.Context()) != 1 {
		t.Fatalf("following %d requests, want 1", e.bot.Following(t.Context()))
	}

	// Polls before the end say nothing; the end reaches the thread.
	e.clock.Advance(simJob / 2)
	e.bot.poll(t.Context())
	if n := len(e.chat.all("reply")); n != 1 {
		t.Fatalf("replies while running = %d, want 1", n)
	}
	e.finishJobs(t)
	replies = e.chat.all("reply")
	if len(replies) != 2 {
		t.Fatalf("replies = %+v, want the job's end", replies)
	}
	end := replies[1]
	contains(t, "job end reply", end.Msg.Text, "Completed", "after ")
	if end.ThreadTS != parent.TS {
		t.Errorf("job end in thread %q, want %q", end.ThreadTS, parent.TS)
	}
	updates := e.chat.all("update")
	last := updates[len(updates)-1]
	if last.TS != parent.TS {
		t.Errorf("updated %q, want the parent %q", last.TS, parent.TS)
	}
	contains(t, "final parent", last.Msg.Text, "finished", "Completed")
	if e.bot.Following(t.Context()) != 0 {
		t.Errorf("still following %d requests after the end", e.bot.Following(t.Context()))
	}
}

func TestBackupTaskReplyHasEveryID(t *testing.T) {
	e := newEnv(t)
	e.do("U0ALICE", "C0OPS", `dynamodb demo "customer profiles" incr`)
	replies := e.chat.all("reply")
	if len(replies) != 1 {
		t.Fatalf("replies = %+v", replies)
	}
	ups := e.chat.all("update")
	text := replies[0].Msg.Text
	// The parent, once updated, names the same task and jobs as the reply.
	for _, word := range strings.Fields(ups[len(ups)-1].Msg.Text) {
		word = strings.Trim(word, ",.")
		if len(word) >= 5 && strings.Trim(word, "0123456789") == "" && !strings.Contains(text, word) {
			t.Errorf("parent names %s, which the thread reply %q lacks", word, text)
		}
	}
	body := createTaskBodies(e.sim)[0]
	if lvl := dig(body, "taskInfo", "subTasks", 0, "options", "backupOpts", "backupLevel"); lvl != "INCREMENTAL" {
		t.Errorf("backupLevel = %v, want INCREMENTAL", lvl)
	}
	if name := dig(body, "taskInfo", "associations", 0, "subclientName"); name != "customer profiles" {
		t.Errorf("subclientName = %v", name)
	}
}

func TestBackupRefusals(t *testing.T) {
	tests := []struct {
		name, user, channel, text string
		want                      []string
	}{
		{"not a requester", "U0NOBODY", "C0OPS", "dynamodb staging orders full", []string{"Not allowed"}},
		{"wrong channel", "U0ALICE", "C0ELSEWHERE", "dynamodb staging orders full", []string{"Not allowed", "C0OPS"}},
		{"unknown account", "U0ALICE", "C0OPS", "dynamodb nosuch orders full", []string{"Not allowed", "nosuch"}},
		{"table group outside the policy", "U0ALICE", "C0OPS", "dynamodb prod inventory full", []string{"Not allowed"}},
		{"unknown table group", "U0ALICE", "C0OPS", "dynamodb demo ordres full", []string{"no table group", "ordres", "Did you mean", "orders"}},
		{"parse error", "U0ALICE", "C0OPS", "dynamodb demo orders ful", []string{"ful", "Usage"}},
		{"emergency by a non-member", "U0GROUPIE", "C0OPS", "emergency dynamodb prod orders full it burns", []string{"Not allowed"}},
		{"group member in the right channel, wrong account", "U0GROUPIE", "C0OPS", "dynamodb nosuch orders full", []string{"Not allowed"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.do(tt.user, tt.channel, tt.text)
			if n := e.createTasks(); n != 0 {
				t.Errorf("CreateTask calls = %d, want 0", n)
			}
			if n := len(e.chat.all("post")) + len(e.chat.all("reply")); n != 0 {
				t.Errorf("channel messages = %d, want none: %+v", n, e.chat.all(""))
			}
			eph := e.chat.all("ephemeral")
			if len(eph) != 1 {
				t.Fatalf("ephemeral replies = %+v, want 1", eph)
			}
			if eph[0].User != tt.user || eph[0].Channel != tt.channel {
				t.Errorf("ephemeral to %s in %s, want %s in %s", eph[0].User, eph[0].Channel, tt.user, tt.channel)
			}
			contains(t, "answer", eph[0].Msg.Text, tt.want...)
		})
	}
}

func TestEmergency(t *testing.T) {
	e := newEnv(t)
	e.do("U0ALICE", "C0OPS", "emergency dynamodb prod orders full table is being dropped (INC-9)")
	if n := e.createTasks(); n != 1 {
		t.Fatalf("CreateTask calls = %d, want 1", n)
	}
	parent := e.chat.all("post")[0]
	contains(t, "parent", parent.Msg.Text, "EMERGENCY", "<@U0ALICE>")
	replies := e.chat.all("reply")
	if len(replies) != 2 {
		t.Fatalf("replies = %+v, want break-glass notice and task", replies)
	}
	contains(t, "break-glass reply", replies[0].Msg.Text, "<!subteam^S0LEADS>", "please review", "INC-9")
	contains(t, "task reply", replies[1].Msg.Text, "task ")
}

// Every way Commvault can fail a submission reaches the thread, never silence.
func TestSubmissionFaults(t *testing.T) {
	tests := []struct {
		name  string
		fault simulator.Fault
		state store.State
		want  []string
	}{
		{"errorCode in a 200", simulator.Fault{Op: simulator.OpCreateTask, Kind: simulator.FaultErrorCode, Code: 91, Message: "Storage policy not assigned"},
			store.Failed, []string{"did not start", "Storage policy not assigned", "91"}},
		{"no jobIds", simulator.Fault{Op: simulator.OpCreateTask, Kind: simulator.FaultNoJobIDs}, store.Failed, []string{"did not start", "no job"}},
		// A 500 can come after Commvault created the job: unknown, never "did not start".
		{"500 JSON", simulator.Fault{Op: simulator.OpCreateTask, Kind: simulator.FaultHTTP500JSON, Code: 1, Message: "Internal error occurred"},
			store.Unknown, []string{"Outcome unknown — checking Commvault", "HTTP 500", "will not resubmit"}},
		{"500 HTML", simulator.Fault{Op: simulator.OpCreateTask, Kind: simulator.FaultHTTP500HTML}, store.Unknown,
			[]string{"Outcome unknown — checking Commvault", "HTTP 500"}},
		{"429", simulator.Fault{Op: simulator.OpCreateTask, Kind: simulator.FaultRateLimited, RetryAfter: 30 * time.Second},
			store.Failed, []string{"did not start", "rate-limiting"}},
		{"401 after the re-login too", simulator.Fault{Op: simulator.OpCreateTask, Kind: simulator.FaultUnauthorized, Times: 2},
			store.Failed, []string{"did not start", "Access denied"}},
		{"hang", simulator.Fault{Op: simulator.OpCreateTask, Kind: simulator.FaultHang, Hang: 5 * time.Second},
			store.Unknown, []string{"Outcome unknown", "will not resubmit", "aws-demo-account"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.sim.Inject(tt.fault)
			e.do("U0ALICE", "C0OPS", "dynamodb demo orders full")
			replies := e.chat.all("reply")
			if len(replies) != 1 {
				t.Fatalf("replies = %+v, want 1", replies)
			}
			contains(t, "thread reply", replies[0].Msg.Text, tt.want...)
			if strings.Contains(replies[0].Msg.Text, "<html") || strings.Contains(replies[0].Msg.Text, "&lt;html") {
				t.Errorf("thread reply carries a raw HTML body: %q", replies[0].Msg.Text)
			}
			ups := e.chat.all("update")
			if len(ups) == 0 {
				t.Fatal("parent not updated")
			}
			contains(t, "parent", ups[len(ups)-1].Msg.Text, stateLine(request{State: tt.state, Problem: "x"}, look{})[:6])
			if e.bot.Following(t.Context()) != 0 {
				t.Errorf("following a failed submission")
			}
		})
	}
}

func TestSubmissionReloginOn401(t *testing.T) {
	e := newEnv(t)
	e.do("U0ALICE", "C0OPS", "list") // logs in
	e.sim.Inject(simulator.Fault{Op: simulator.OpCreateTask, Kind: simulator.FaultUnauthorized})
	e.do("U0ALICE", "C0OPS", "dynamodb demo orders full")
	if n := e.createTasks(); n != 1 {
		t.Fatalf("CreateTask accepted = %d, want 1 after one re-login", n)
	}
	contains(t, "task reply", e.chat.all("reply")[0].Msg.Text, "Submitted")
}

func TestJobEndStates(t *testing.T) {
	tests := []struct {
		status string
		want   string
	}{
		{"Failed", "❌ Job"},
		{"Killed", "❌ Job"},
		{"Completed w/ one or more errors", "⚠️ Job"},
	}
	for _, tt := range tests {
		t.Run(tt.status, func(t *testing.T) {
			e := newEnv(t)
			e.sim.Inject(simulator.Fault{Op: simulator.OpCreateTask, Kind: simulator.FaultJobEnds, Status: tt.status})
			e.do("U0ALICE", "C0OPS", "dynamodb demo payments full")
			e.finishJobs(t)
			replies := e.chat.all("reply")
			if len(replies) != 2 {
				t.Fatalf("replies = %+v", replies)
			}
			contains(t, "job end", replies[1].Msg.Text, tt.want, tt.status)
		})
	}
}

// A poll that fails says nothing; the next one that works reports the end.
func TestPollingSurvivesFaults(t *testing.T) {
	for _, kind := range []simulator.FaultKind{simulator.FaultHTTP500HTML, simulator.FaultRateLimited, simulator.FaultErrorCode} {
		t.Run(string(kind), func(t *testing.T) {
			e := newEnv(t)
			e.do("U0ALICE", "C0OPS", "dynamodb demo orders full")
			e.clock.Advance(2 * simJob)
			e.sim.Inject(simulator.Fault{Op: simulator.OpJob, Kind: kind, Times: 10, Code: 2, Message: "busy", RetryAfter: time.Second})
			e.bot.poll(t.Context())
			if n := len(e.chat.all("reply")); n != 1 {
				t.Fatalf("replies after a failed poll = %d, want 1", n)
			}
			for range 10 {
				e.bot.poll(t.Context())
			}
			e.bot.poll(t.Context())
			if n := len(e.chat.all("reply")); n != 2 {
				t.Fatalf("replies = %+v, want the end once Commvault answers", e.chat.all("reply"))
			}
		})
	}
}

func TestLookupFaultsAnswerTheCaller(t *testing.T) {
	tests := []struct {
		name  string
		fault simulator.Fault
		want  string
	}{
		{"errorCode", simulator.Fault{Op: simulator.OpSubclient, Kind: simulator.FaultErrorCode, Code: 7, Message: "database busy"}, "database busy"},
		{"500 HTML", simulator.Fault{Op: simulator.OpSubclient, Kind: simulator.FaultHTTP500HTML}, "Commvault answered with an error"},
		{"hang", simulator.Fault{Op: simulator.OpSubclient, Kind: simulator.FaultHang, Hang: 5 * time.Second}, "did not answer in time"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.sim.Inject(tt.fault)
			e.do("U0ALICE", "C0OPS", "dynamodb demo orders full")
			eph := e.chat.all("ephemeral")
			if len(eph) != 1 || e.createTasks() != 0 {
				t.Fatalf("ephemeral = %+v, CreateTasks = %d", eph, e.createTasks())
			}
			contains(t, "answer", eph[0].Msg.Text, tt.want, "Nothing was submitted")
		})
	}
}

// failingChat is a Chat whose channel posts fail.
type failingChat struct{ *recorder }

func (failingChat) Post(context.Context, string, Message) (string, error) {
	return "", errors.New("channel_not_found")
}

func TestInternalErrorShowsOnlyAReference(t *testing.T) {
	e := newEnv(t)
	core, logs := observer.New(zap.InfoLevel)
	e.bot.chat = failingChat{e.chat}
	e.bot.log = zap.New(core)
	e.do("U0ALICE", "C0OPS", "dynamodb demo orders full")
	if n := e.createTasks(); n != 0 {
		t.Errorf("CreateTask calls = %d: a backup nobody can see the outcome of was submitted", n)
	}
	eph := e.chat.all("ephemeral")
	if len(eph) != 1 {
		t.Fatalf("ephemeral = %+v", eph)
	}
	contains(t, "answer", eph[0].Msg.Text, "Something went wrong", "(ref ")
	if strings.Contains(eph[0].Msg.Text, "channel_not_found") {
		t.Errorf("answer %q shows the internal error", eph[0].Msg.Text)
	}
	errs := logs.FilterMessage("internal error").All()
	if len(errs) != 1 {
		t.Fatalf("internal error logged %d times, want 1", len(errs))
	}
	ref, _ := errs[0].ContextMap()["ref"].(string)
	if ref == "" || !strings.Contains(eph[0].Msg.Text, "(ref "+ref+")") {
		t.Errorf("answer %q does not show the logged ref %q", eph[0].Msg.Text, ref)
	}
	contains(t, "logged error", fmt.Sprint(errs[0].ContextMap()["error"]), "channel_not_found")
}

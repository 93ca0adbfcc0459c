package main

import (
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the database/sql driver "pgx", to make a schema per test

	"github.com/backupbot/backupbot/bot/slacktest"
)

// postgresURL is a database URL for this test alone: a fresh schema on the
// server BACKUPBOT_TEST_POSTGRES names, dropped at the end. Without the
// variable the test is skipped.
func postgresURL(t *testing.T) string {
	t.Helper()
	base := os.Getenv("BACKUPBOT_TEST_POSTGRES")
	if base == "" {
		t.Skip("BACKUPBOT_TEST_POSTGRES is not set (.ci/run sets it): replicas need PostgreSQL")
	}
	db, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	schema := "bb_cmd_" + hex.EncodeToString(b)
	if _, err := db.ExecContext(t.Context(), "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() { _, _ = db.Exec("DROP SCHEMA " + schema + " CASCADE") })
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

func TestReplicasApprovalOnTheOtherReplica(t *testing.T) {
	w := newSubprocessWorld(t)
	if err := os.WriteFile(w.policy, []byte(slackApprovalPolicy), 0o600); err != nil {
		t.Fatal(err)
	}
	w.fake.SetUserGroup("S0LEADS", []string{"U0CAROL"})
	env := subprocessEnv(t, w.fake, w.cvURL, w.policy, postgresURL(t))
	a := startProcess(t, env)
	w.waitFor(t, "replica A's connections", a.log, func() bool { return w.fake.Connections() == 2 })
	if _, err := w.fake.SlashCommand(t.Context(), slacktest.SlashCommand{UserID: "U0ALICE", ChannelID: "C0OPS",
		Text: "dynamodb prod orders full before the migration"}); err != nil {
		t.Fatal(err)
	}
	w.waitFor(t, "the card", a.log, func() bool { return len(w.fake.Messages("C0OPS")) == 1 })
	card := w.fake.Messages("C0OPS")[0]

	b := startProcess(t, env)
	w.waitFor(t, "replica B's connections", b.log, func() bool { return w.fake.Connections() == 4 })
	if err := a.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	a.wait(t, 10*time.Second)
	w.waitFor(t, "replica A's connections to go", b.log, func() bool { return w.fake.Connections() == 2 })

	if _, err := w.fake.Click(t.Context(), slacktest.Click{UserID: "U0CAROL", ChannelID: "C0OPS", MessageTS: card.TS,
		ActionID: "backup_approve"}); err != nil {
		t.Fatal(err)
	}
	w.waitFor(t, "the submission by replica B", b.log, func() bool { return len(w.fake.Thread("C0OPS", card.TS)) >= 2 })
	if n := w.sim.CreateTaskCount(); n != 1 {
		t.Errorf("CreateTasks = %d, want 1", n)
	}
	if th := w.fake.Thread("C0OPS", card.TS); !strings.Contains(th[0].Text, "Approved by <@U0CAROL>") || !strings.Contains(th[1].Text, "task ") {
		t.Errorf("thread = %q, %q", th[0].Text, th[1].Text)
	}
}

func TestReplicasTakeOverFollowingAJob(t *testing.T) {
	w := newSubprocessWorld(t)
	w.sim.SetJobDuration(8 * time.Second) // the job outlives replica A
	env := subprocessEnv(t, w.fake, w.cvURL, w.policy, postgresURL(t))
	a := startProcess(t, env)
	w.waitFor(t, "replica A's connections", a.log, func() bool { return w.fake.Connections() == 2 })
	w.waitFor(t, "replica A following", a.log, func() bool { return strings.Contains(a.log.String(), `"held":true`) })
	b := startProcess(t, env)
	w.waitFor(t, "replica B's connections", b.log, func() bool { return w.fake.Connections() == 4 })

	if _, err := w.fake.SlashCommand(t.Context(), slacktest.SlashCommand{UserID: "U0ALICE", ChannelID: "C0OPS",
		Text: "dynamodb demo orders full"}); err != nil {
		t.Fatal(err)
	}
	w.waitFor(t, "the submission", a.log, func() bool { return len(w.fake.Messages("C0OPS")) >= 2 })
	parent := w.fake.Messages("C0OPS")[0]
	// The parent shows "running" once the submission is recorded: from then
	// on the job is followed (before, a kill leaves it to recovery).
	w.waitFor(t, "the job followed", a.log, func() bool {
		p, _ := w.fake.Message("C0OPS", parent.TS)
		return strings.Contains(p.Text, "running")
	})
	if strings.Contains(b.log.String(), `"held":true`) {
		t.Fatal("replica B follows jobs while A holds the lease")
	}
	// A dies without a word; B takes over the lease and posts the job's end.
	if err := a.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	a.wait(t, 10*time.Second)
	w.waitFor(t, "the job's end, from replica B", b.log, func() bool {
		for _, m := range w.fake.Thread("C0OPS", parent.TS) {
			if strings.Contains(m.Text, "Completed") {
				return true
			}
		}
		return false
	})
	if !strings.Contains(b.log.String(), `"held":true`) || !strings.Contains(b.log.String(), `"msg":"job ended"`) {
		t.Error("replica B did not take over following the job")
	}
	if n := w.sim.CreateTaskCount(); n != 1 {
		t.Errorf("CreateTasks = %d, want 1", n)
	}
}

// Slack's retry of an envelope, reaching the other replica, is taken once.
func TestReplicasRetryOnTheOtherReplica(t *testing.T) {
	w := newSubprocessWorld(t)
	env := subprocessEnv(t, w.fake, w.cvURL, w.policy, postgresURL(t))
	a := startProcess(t, env)
	w.waitFor(t, "replica A's connections", a.log, func() bool { return w.fake.Connections() == 2 })
	b := startProcess(t, env)
	w.waitFor(t, "replica B's connections", b.log, func() bool { return w.fake.Connections() == 4 })
	id, err := w.fake.SlashCommand(t.Context(), slacktest.SlashCommand{UserID: "U0ALICE", ChannelID: "C0OPS",
		Text: "dynamodb demo payments full"})
	if err != nil {
		t.Fatal(err)
	}
	// Envelopes go round the four connections: three retries reach both replicas.
	for attempt := 1; attempt <= 3; attempt++ {
		rid, err := w.fake.Resend(t.Context(), id, attempt, attempt%2 == 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.fake.Ack(t.Context(), rid); err != nil {
			t.Fatal(err)
		}
	}
	conns := map[int]bool{}
	for _, ack := range w.fake.Acks() {
		conns[ack.Conn] = true
	}
	if len(conns) < 3 {
		t.Fatalf("the envelope and its retries reached %d connections; want them spread over both replicas", len(conns))
	}
	w.waitFor(t, "the submission", a.log, func() bool { return len(w.fake.Messages("C0OPS")) >= 2 })
	time.Sleep(500 * time.Millisecond) // a second request, if any, would be on its way
	if n := w.sim.CreateTaskCount(); n != 1 {
		t.Errorf("CreateTasks = %d, want 1", n)
	}
	if n, eph := len(w.fake.Messages("C0OPS")), answers(w.fake, "U0ALICE"); n != 2 || len(eph) != 0 {
		t.Errorf("%d channel messages and ephemerals %+v; want the parent and its reply only", n, eph)
	}
}

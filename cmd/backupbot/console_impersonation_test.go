package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/backupbot/backupbot/bot/store"
)

// On the bot's own database, the console's approve and deny, which decide
// in an approver's name, are refused unless --allow-impersonation; and
// every decision made from the console is marked so in the audit trail.
func TestConsoleImpersonationOnTheBotsDatabase(t *testing.T) {
	db := filepath.Join(t.TempDir(), "bot.db")
	for _, allow := range []bool{false, true} {
		clearEnv(t)
		t.Setenv("BACKUPBOT_DATABASE_URL", "sqlite:"+db)
		args := []string{"--job-duration", "5m"}
		if allow {
			args = append(args, "--allow-impersonation")
		}
		c := startConsole(t, args...)
		c.send("/backup dynamodb prod payments full before the schema migration")
		id := c.expect(`type: approve (r-[0-9a-f]+) --as`)
		c.send("approve " + id + " --as U03CAROL")
		if !allow {
			c.expect(`\(console\) refused: approve and deny decide in an approver's name`)
			c.send("/backup cancel " + id + " done testing")
			c.expect(`is withdrawn`)
		} else {
			c.expect(`Approved by @U03CAROL`)
		}
		c.send("quit")
		select {
		case <-c.done:
		case <-time.After(20 * time.Second):
			t.Fatal("console did not end on quit")
		}
	}
	st, err := store.Open(context.Background(), "sqlite:"+db, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	events, err := st.AuditSince(context.Background(), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	var approvals []store.Event
	for _, ev := range events {
		if ev.Action == "approved" {
			approvals = append(approvals, ev)
		}
	}
	if len(approvals) != 1 || approvals[0].Actor != "U03CAROL" || !strings.Contains(approvals[0].Detail, "made from the console as U03CAROL, not in Slack") {
		t.Errorf("approvals = %+v, want one, by U03CAROL, marked as made from the console", approvals)
	}
}

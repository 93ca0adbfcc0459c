package main

import (
	"strings"
	"testing"
	"time"
)

// The console shows history and cancel against the built-in simulator,
// job links as "id (url)", and Slack dates as their UTC fallback.
func TestConsoleHistoryAndCancel(t *testing.T) {
	clearEnv(t)
	t.Setenv("COMMVAULT_JOB_URL", "https://cs.example.com/commandcenter/#/jobs/{jobId}")
	c := startConsole(t, "--job-duration", "5m")
	c.expect(`built-in simulator at`)

	c.send("/backup history demo orders")
	c.expect(`(?s)only visible to @U0CONSOLE.*\*demo\* / \*orders\* \(Commvault client aws-demo-account, subclient \d+\): the last 10 of \d+ backups`)
	c.expect(`Last good full:\* \d+ (h|days) ago, job \d+ \(https://cs\.example\.com/commandcenter/#/jobs/\d+\)`)
	c.expect(`• \d+ \(https://cs\.example\.com/commandcenter/#/jobs/\d+\) · \w+ · `)

	c.send("/backup dynamodb demo orders full")
	job := c.expect(`✅ Submitted to Commvault: task \d+, job (\d+) \(https://`)
	c.send("/backup cancel " + job + " testing the cancel")
	c.expect(`(?s)↳ \[[0-9:]+\] in thread of msg 1:\n      🛑 Cancelled by @U0CONSOLE — job ` + job + ` \(https://[^)]+\) killed\. Reason: testing the cancel\.`)
	c.expect(`(?s)only visible to @U0CONSOLE.*Job ` + job + ` \(https://[^)]+\) killed`)
	c.expect(`(?s)↳ \[[0-9:]+\] in thread of msg 1:\n      ❌ Job ` + job + ` \(https://[^)]+\) Killed`)

	// A card's times are Slack dates: the console shows their UTC fallback.
	c.send("/backup dynamodb prod orders full before the schema migration")
	c.expect(`State: ⏳ waiting for approval until \d\d:\d\d UTC`)
	if strings.Contains(c.out.String(), "<!date") {
		t.Errorf("the console shows a raw Slack date:\n%s", c.out.String())
	}

	c.send("quit")
	select {
	case code := <-c.done:
		if code != 0 {
			t.Fatalf("exit %d, stderr: %s", code, c.errs.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("console did not end on quit")
	}
}

package bot

import (
	"fmt"
	"testing"
	"time"

	"github.com/backupbot/backupbot/commvault/simulator"
)

// Reads of Commvault per poll do not grow with the number of followed jobs.
func TestPollingReadsDoNotGrowWithJobs(t *testing.T) {
	const jobs = 50
	acct := simulator.Account{Name: "aws-load-account"}
	for i := range jobs {
		acct.TableGroups = append(acct.TableGroups, simulator.TableGroup{Name: fmt.Sprintf("tg%02d", i)})
	}
	e := newEnvWith(t, []byte("accounts:\n  load:\n    client: aws-load-account\n    requesters: [\"*\"]\n"),
		[]simulator.Account{acct})
	for i := range jobs {
		e.do("U0ALICE", "C0OPS", fmt.Sprintf("dynamodb load tg%02d full", i))
	}
	if n := e.createTasks(); n != jobs {
		t.Fatalf("CreateTasks = %d, want %d", n, jobs)
	}
	reads := func() int {
		n := 0
		for _, r := range e.sim.Requests() {
			if r.Op == simulator.OpJob {
				n++
			}
		}
		return n
	}
	for poll := range 4 {
		before := reads()
		e.clock.Advance(time.Second)
		e.bot.poll(t.Context())
		if got := reads() - before; got > 2 {
			t.Errorf("poll %d read Commvault %d times for %d jobs, want at most 2", poll, got, jobs)
		}
	}
	e.finishJobs(t)
	if n := e.bot.Following(t.Context()); n != 0 {
		t.Errorf("still following %d requests after every job ended", n)
	}
}

// A 429 on the listing pauses polling for Retry-After and loses no end.
func TestPollingBacksOffOn429(t *testing.T) {
	e := newEnv(t)
	e.do("U0ALICE", "C0OPS", "dynamodb demo orders full")
	e.clock.Advance(2 * simJob)
	e.sim.Inject(simulator.Fault{Op: simulator.OpJob, Kind: simulator.FaultRateLimited, RetryAfter: 42 * time.Second})
	if wait := e.bot.poll(t.Context()); wait != 42*time.Second {
		t.Errorf("poll asked to wait %v, want Retry-After 42s", wait)
	}
	e.bot.poll(t.Context())
	contains(t, "job end after the back-off", e.chat.all("reply")[1].Msg.Text, "Completed")
}

package bot

import (
	"context"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/backupbot/backupbot/commvault"
	"github.com/backupbot/backupbot/commvault/simulator"
)

// newHistoryEnv is newEnv with two weeks of past jobs in Commvault that
// the bot did not start.
func newHistoryEnv(t *testing.T) *env {
	t.Helper()
	return newEnvSim(t, nil, simulator.Config{History: simulator.SampleHistory(simulator.Catalogue(), newClock().Now())})
}

// listingReads counts the simulator's GET /Job listings (not single jobs).
func (e *env) listingReads() int {
	n := 0
	for _, r := range e.sim.Requests() {
		if r.Op == simulator.OpJob && strings.HasSuffix(strings.ToLower(r.Path), "/job") {
			n++
		}
	}
	return n
}

var historyJobLine = regexp.MustCompile(`(?m)^• (\d+) · (\w+) · \S+ ([^·]+) · (\d{4}-\d\d-\d\d \d\d:\d\d) UTC · `)

func TestHistory(t *testing.T) {
	e := newHistoryEnv(t)
	e.do("U0ALICE", "C0OPS", "dynamodb prod orders full before the migration")
	card := e.chat.all("post")[0]
	e.click(card, "U0LEAD", ActionApprove) // the bot's own job, running
	mine := e.bot.followedJobs()[0]

	past := 0
	for _, pj := range simulator.SampleHistory(simulator.Catalogue(), newClock().Now()) {
		if pj.Client == "aws-prod-account" && pj.TableGroup == "orders" {
			past++
		}
	}
	total := past + 1
	e.do("U0ALICE", "C0OPS", "history prod orders 25")
	answer := e.lastAnswer(t, "U0ALICE")
	lines := historyJobLine.FindAllStringSubmatch(answer, -1)
	if len(lines) != min(total, 25) || past < 15 {
		t.Fatalf("history shows %d jobs, want %d (two weeks of %d past jobs and the bot's):\n%s", len(lines), min(total, 25), past, answer)
	}
	if lines[0][1] != mine || !strings.HasPrefix(lines[0][3], "Waiting") {
		t.Errorf("first line = %q, want the bot's own job %s, waiting", lines[0][0], mine)
	}
	statuses := map[string]int{}
	for i, l := range lines {
		statuses[strings.TrimSpace(l[3])]++
		if i > 0 && l[4] > lines[i-1][4] {
			t.Errorf("line %d (%s) is newer than line %d (%s): want newest first", i, l[4], i-1, lines[i-1][4])
		}
		if id, _ := strconv.Atoi(l[1]); i > 0 && id >= 149800 {
			t.Errorf("line %d is job %d: want the past jobs Commvault ran before the bot", i, id)
		}
	}
	if statuses["Failed"] == 0 {
		t.Errorf("statuses %v: want the failed jobs visible", statuses)
	}
	if !regexp.MustCompile(`\*Last good full:\* \d+ (h|days) ago, job \d+ \(`).MatchString(answer) {
		t.Errorf("history has no last good full on top:\n%s", answer)
	}
	contains(t, "history", answer, "*prod* / *orders*", "aws-prod-account", "incremental", "full")
	if strings.Contains(answer, "payments") {
		t.Errorf("history of orders shows payments:\n%s", answer)
	}

	// n cuts it, and says how many more there are.
	e.do("U0ALICE", "C0OPS", "history prod orders")
	answer = e.lastAnswer(t, "U0ALICE")
	if n := len(historyJobLine.FindAllString(answer, -1)); n != 10 {
		t.Errorf("default history shows %d jobs, want 10", n)
	}
	contains(t, "default history", answer, "the last 10 of "+strconv.Itoa(total), "…and "+strconv.Itoa(total-10)+" more",
		"history prod orders 25")
}

// Whoever may neither request nor approve the table group from here gets
// the same refusal whether or not it exists, and costs no Commvault read.
func TestHistoryRefusedWithoutARead(t *testing.T) {
	e := newHistoryEnv(t)
	reads := e.sim.Reads()
	tests := []struct{ user, channel, account, tablegroup string }{
		{"U0NOBODY", "C0OPS", "prod", "orders"},         // not a requester or approver
		{"U0NOBODY", "C0OPS", "prod", "nosuch"},         // … of a table group that does not exist
		{"U0ALICE", "C0OPS", "prod", "inventory"},       // in Commvault, outside prod's policy
		{"U0ALICE", "C0OPS", "prod", "nosuch"},          // neither
		{"U0ALICE", "C0ELSEWHERE", "staging", "orders"}, // staging only from C0OPS
		{"U0ALICE", "C0OPS", "nosuch", "orders"},        // no such account
	}
	var first string
	for _, tt := range tests {
		e.do(tt.user, tt.channel, "history "+tt.account+" "+tt.tablegroup)
		got := strings.NewReplacer("*"+tt.account+"*", "A", "*"+tt.tablegroup+"*", "T").Replace(e.lastAnswer(t, tt.user))
		if first == "" {
			first = got
			contains(t, "refusal", got, "You may not see the backups of A / T from here, or there is no such table group")
		}
		if got != first {
			t.Errorf("history %s %s by %s: %q, want the same refusal as %q", tt.account, tt.tablegroup, tt.user, got, first)
		}
	}
	if n := e.sim.Reads() - reads; n != 0 {
		t.Errorf("refused histories read Commvault %d times, want 0", n)
	}
	// An approver may, and a table group that does not exist is named as such to those who may.
	e.do("U0LEAD", "C0OPS", "history prod orders")
	contains(t, "approver", e.lastAnswer(t, "U0LEAD"), "Last good full")
	e.do("U0ALICE", "C0OPS", "history demo ordrs")
	contains(t, "unknown table group", e.lastAnswer(t, "U0ALICE"), "no table group *ordrs*", "orders")
}

// A channel asking at once costs one listing; after historyTTL, another.
func TestHistoryCached(t *testing.T) {
	e := newHistoryEnv(t)
	e.do("U0ALICE", "C0OPS", "list") // resolves nothing; warms nothing
	e.do("U0ALICE", "C0OPS", "history demo orders")
	before := e.listingReads()
	if before != 1 {
		t.Fatalf("first history made %d listings, want 1", before)
	}
	// The next listing is slow: everyone asking meanwhile waits for it.
	e.clock.Advance(historyTTL)
	e.sim.Inject(simulator.Fault{Op: simulator.OpJob, Kind: simulator.FaultHang, Hang: 300 * time.Millisecond})
	var wg sync.WaitGroup
	for _, user := range []string{"U0ALICE", "U0GROUPIE", "U0NOBODY", "U0LEAD", "U0ALICE"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e.bot.Handle(context.Background(), Input{User: user, Channel: "C0OPS", Text: "history demo orders"})
		}()
	}
	wg.Wait()
	if n := e.listingReads() - before; n != 1 {
		t.Errorf("five histories at once made %d listings, want 1", n)
	}
	for _, a := range e.chat.all("ephemeral")[1:] {
		contains(t, "answer", a.Msg.Text, "Last good full")
	}
	e.do("U0ALICE", "C0OPS", "history demo payments") // another table group: its own listing
	if n := e.listingReads() - before; n != 2 {
		t.Errorf("listings = %d, want 2", n)
	}
}

// A failed listing is told, and not kept: the next history reads again.
func TestHistoryCommvaultError(t *testing.T) {
	e := newHistoryEnv(t)
	e.sim.Inject(simulator.Fault{Op: simulator.OpJob, Kind: simulator.FaultHTTP500JSON, Message: "Database is busy."})
	e.do("U0ALICE", "C0OPS", "history demo orders")
	contains(t, "answer", e.lastAnswer(t, "U0ALICE"), "Commvault answered with an error", "Database is busy")
	e.do("U0ALICE", "C0OPS", "history demo orders")
	contains(t, "answer", e.lastAnswer(t, "U0ALICE"), "Last good full")
}

// Job IDs link to Command Center when COMMVAULT_JOB_URL is set, in
// history, status and the thread.
func TestJobLinks(t *testing.T) {
	e := newHistoryEnv(t)
	e.jobURL = "https://cs.example.com/commandcenter/#/jobs/{jobId}"
	e.restart(t)
	e.do("U0ALICE", "C0OPS", "dynamodb demo orders full")
	job := e.bot.followedJobs()[0]
	link := "<https://cs.example.com/commandcenter/#/jobs/" + job + "|" + job + ">"
	contains(t, "thread", e.chat.all("reply")[0].Msg.Text, "job "+link)
	e.do("U0ALICE", "C0OPS", "status "+job)
	contains(t, "status", e.lastAnswer(t, "U0ALICE"), "Job "+link)
	e.do("U0ALICE", "C0OPS", "history demo orders")
	contains(t, "history", e.lastAnswer(t, "U0ALICE"), "• "+link+" · ")
	e.finishJobs(t)
	replies := e.chat.all("reply")
	contains(t, "end", replies[len(replies)-1].Msg.Text, "Job "+link+" Completed")
}

// However long the names and links, a history fits Slack's 4,000 characters.
func TestHistoryFitsSlack(t *testing.T) {
	v := sampleHistory(maxHistory, true, jobLinks{template: "https://" + strings.Repeat("x", 150) + ".example/jobs/{jobId}"})
	v.Account, v.TableGroup = strings.Repeat("a", maxAccountLen), strings.Repeat("t", maxTableGroupLen)
	text := historyAnswer(v).Text
	if n := len([]rune(text)); n > 4000 {
		t.Errorf("history is %d characters, want at most 4000", n)
	}
	contains(t, "cut history", text, "…and ", " more (no room for them in one message).")
}

func TestNewestFirst(t *testing.T) {
	at := func(h int) time.Time { return time.Date(2026, 11, 27, h, 0, 0, 0, time.UTC) }
	jobs := newestFirst([]commvault.Job{
		{ID: "9", Start: at(1)}, {ID: "10", Start: at(3)}, {ID: "12", Start: at(3)}, {ID: "11"}, {ID: "8", Start: at(2)},
	})
	var ids []string
	for _, j := range jobs {
		ids = append(ids, j.ID)
	}
	if got := strings.Join(ids, " "); got != "11 12 10 8 9" {
		t.Errorf("newestFirst = %s, want 11 12 10 8 9", got)
	}
}

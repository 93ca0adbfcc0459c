package main

import (
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/backupbot/backupbot/bot/slacktest"
	"github.com/backupbot/backupbot/commvault/simulator"
)

// command is one slash command of a phase: its own user and table group,
// so that its answers can be found.
type command struct {
	user    string
	channel string
	group   simulator.TableGroup
	text    string
	envID   string // "" when it could not be delivered
	sentAt  time.Time
	err     error
}

// answer is how a command was answered.
type answer int

const (
	answerNone      answer = iota // nothing (yet)
	answerSubmitted               // a thread reply with the task and job IDs
	answerFailed                  // a thread reply: Commvault did not start it
	answerUnknown                 // a thread reply: outcome unknown
	answerThread                  // another thread reply
	answerPrivate                 // an answer only the user saw
)

// tally is what the fake Slack shows of a phase's commands at one moment.
type tally struct {
	answers   []answer
	count     map[answer]int
	jobs      []string       // job IDs of the task replies
	jobEnds   map[string]int // job ID → end replies posted
	delivered int
	// toldNo is, by command, the first answer that told its user it was
	// not taken ("Nothing was submitted", "try again", "did not start");
	// "" when none did.
	toldNo []string
	// toldUnknown is, by command, whether its thread ever said "Outcome
	// unknown" (even if a later reply found the job).
	toldUnknown []bool
	// doubleParents is how many requests have more than one top-level
	// message (the card names its request ID).
	doubleParents int
	// staleCards is how many cards still say "submitting" or "running".
	staleCards int
	parents    map[string][]string // user → the ts of their cards
	endThreads map[string][]string // job ID → the threads its end was posted in
}

// answered is how many commands were answered in any way.
func (t tally) answered() int { return len(t.answers) - t.count[answerNone] }

// endsPosted is how many of the jobs have an end reply, and how many
// replies beyond the first were posted.
func (t tally) endsPosted() (posted, extra int) {
	for _, id := range t.jobs {
		if n := t.jobEnds[id]; n > 0 {
			posted++
			extra += n - 1
		}
	}
	return posted, extra
}

// reader recognises the bot's messages.
type reader struct {
	mention *regexp.Regexp
	task    *regexp.Regexp
	jobEnd  *regexp.Regexp
	request *regexp.Regexp
}

func newReader() *reader {
	return &reader{
		mention: regexp.MustCompile(`<@(U[0-9A-Z]+)>`),
		task:    regexp.MustCompile(`task (\d+), jobs? ([\d, ]+)\.`),
		jobEnd:  regexp.MustCompile(`^\S+ Job (\d+) `),
		request: regexp.MustCompile(`Request (r-[0-9A-Za-z-]+)\.`),
	}
}

// notTaken reports whether an answer tells its user that the command was
// not taken, or that nothing runs: after it, no CreateTask may be accepted
// for the command's table group.
func notTaken(text string) bool {
	t := strings.ToLower(text)
	return strings.Contains(t, "nothing was submitted") || strings.Contains(t, "try again") ||
		strings.Contains(t, "did not start")
}

// isReceipt reports whether e is the receipt the ack of a taken backup
// request carries ("⏳ Checking your request for …"): it says the command
// was taken, and answers nothing yet.
func isReceipt(e slacktest.Ephemeral) bool {
	return e.Via == "ack" && strings.HasPrefix(e.Text, "⏳ Checking your request")
}

// tally reads the commands' channels and the ephemerals for cmds.
func (r *reader) tally(fake *slacktest.Server, cmds []command) tally {
	var msgs []slacktest.Message
	seen, users := map[string]bool{}, map[string]bool{}
	for _, c := range cmds {
		users[c.user] = true
		if !seen[c.channel] {
			seen[c.channel] = true
			msgs = append(msgs, fake.Messages(c.channel)...)
		}
	}
	// user → parent ts: a request a replica posted and died before recording
	// is posted again by recovery, so a user may have two parents; the
	// answer is in the thread of either.
	replies := map[string][]string{}
	cards := map[string]int{}
	t := tally{answers: make([]answer, len(cmds)), count: map[answer]int{}, jobEnds: map[string]int{},
		toldNo: make([]string, len(cmds)), toldUnknown: make([]bool, len(cmds)),
		parents: map[string][]string{}, endThreads: map[string][]string{}}
	for _, m := range msgs {
		if m.ThreadTS == "" || m.ThreadTS == m.TS {
			sm := r.mention.FindStringSubmatch(m.Text)
			if sm == nil || !users[sm[1]] {
				continue // another phase's
			}
			t.parents[sm[1]] = append(t.parents[sm[1]], m.TS)
			if sm := r.request.FindStringSubmatch(m.Text); sm != nil {
				if cards[sm[1]]++; cards[sm[1]] == 2 {
					t.doubleParents++
				}
				if strings.Contains(m.Text, "submitting to Commvault") || strings.Contains(m.Text, "🔄 running") {
					t.staleCards++
				}
			}
			continue
		}
		replies[m.ThreadTS] = append(replies[m.ThreadTS], m.Text)
		if sm := r.jobEnd.FindStringSubmatch(m.Text); sm != nil {
			t.jobEnds[sm[1]]++
			t.endThreads[sm[1]] = append(t.endThreads[sm[1]], m.ThreadTS)
		}
	}
	private := map[string][]string{}
	for _, e := range fake.Ephemerals("") { // acks with a message included
		if isReceipt(e) {
			continue // "⏳ Checking your request…": taken, not yet answered
		}
		private[e.User] = append(private[e.User], e.Text)
	}
	for i, c := range cmds {
		if c.envID != "" {
			t.delivered++
		}
		var thread []string
		for _, ts := range t.parents[c.user] {
			thread = append(thread, replies[ts]...)
		}
		a := r.classify(thread, &t)
		if a == answerNone && len(private[c.user]) > 0 {
			a = answerPrivate
		}
		t.answers[i] = a
		t.count[a]++
		for _, text := range slices.Concat(private[c.user], thread) {
			if t.toldNo[i] == "" && notTaken(text) {
				t.toldNo[i] = text
			}
			t.toldUnknown[i] = t.toldUnknown[i] || strings.Contains(text, "Outcome unknown")
		}
	}
	return t
}

// endTold reports whether job's end was posted in a thread of user's.
func (t tally) endTold(user, job string) bool {
	for _, ts := range t.endThreads[job] {
		if slices.Contains(t.parents[user], ts) {
			return true
		}
	}
	return false
}

// classify reads one request's thread.
func (r *reader) classify(thread []string, t *tally) answer {
	a := answerNone
	for _, text := range thread {
		switch {
		case r.task.MatchString(text):
			sm := r.task.FindStringSubmatch(text)
			for id := range strings.SplitSeq(sm[2], ",") {
				if id = strings.TrimSpace(id); id != "" {
					t.jobs = append(t.jobs, id)
				}
			}
			return answerSubmitted
		case strings.Contains(text, "did not start the backup"):
			a = answerFailed
		case strings.Contains(text, "Outcome unknown") && a != answerFailed:
			a = answerUnknown
		case a == answerNone && !r.jobEnd.MatchString(text):
			a = answerThread
		}
	}
	return a
}

// latencies are the ack delays of the acked commands, sorted.
func latencies(fake *slacktest.Server, cmds []command) (sorted []time.Duration, acked map[string]bool) {
	first := map[string]slacktest.Ack{}
	for _, a := range fake.Acks() {
		if _, seen := first[a.EnvelopeID]; !seen {
			first[a.EnvelopeID] = a
		}
	}
	acked = map[string]bool{}
	for _, c := range cmds {
		if a, ok := first[c.envID]; ok && c.envID != "" {
			acked[c.envID] = true
			if !a.SentAt.IsZero() {
				sorted = append(sorted, a.AckedAt.Sub(a.SentAt))
			}
		}
	}
	slices.Sort(sorted)
	return sorted, acked
}

// percentile is the p-th percentile (0 < p <= 100) of sorted, nearest rank.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(p/100*float64(len(sorted))+0.999999) - 1
	return sorted[min(max(rank, 0), len(sorted)-1)]
}

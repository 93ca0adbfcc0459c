package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/slack-go/slack"

	"github.com/backupbot/backupbot/bot/slacktest"
	"github.com/backupbot/backupbot/commvault/simulator"
)

// golden is the text of one of the bot's sentences, from its golden files:
// the reader must recognise what the bot really says.
func golden(t *testing.T, name string) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "bot", "testdata", "golden", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var m struct{ Text string }
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m.Text
}

func TestReaderKnowsTheBotsSentences(t *testing.T) {
	r := newReader()
	for _, name := range []string{"unrecorded", "busy-now", "restarting", "lookup-timeout", "lookup-error", "denied", "busy",
		"reply-submit-failed"} {
		if !notTaken(golden(t, name)) {
			t.Errorf("%s is not read as \"not taken\": %q", name, golden(t, name))
		}
	}
	for _, name := range []string{"reply-submitted", "reply-job-completed", "reply-outcome-unknown", "parent-approved", "reply-reconciled"} {
		if notTaken(golden(t, name)) {
			t.Errorf("%s is read as \"not taken\": %q", name, golden(t, name))
		}
	}
	if !isReceipt(slacktest.Ephemeral{Via: "ack", Text: golden(t, "receipt")}) ||
		isReceipt(slacktest.Ephemeral{Via: "ack", Text: golden(t, "denied")}) {
		t.Error("the receipt of a backup request's ack is not told apart from the answers")
	}
	for _, name := range []string{"cannot-post-not-in-channel", "cannot-post-dm"} {
		if !notTaken(golden(t, name)) {
			t.Errorf("%s is not read as \"not taken\": %q", name, golden(t, name))
		}
	}
	for _, name := range []string{"parent-approved", "parent-submitted", "parent-finished", "parent-pending", "parent-unknown"} {
		if sm := r.request.FindStringSubmatch(golden(t, name)); sm == nil || sm[1] != "r-1a2b3c" {
			t.Errorf("%s: request ID %v, want r-1a2b3c", name, sm)
		}
	}
	for _, name := range []string{"reply-job-completed", "reply-job-failed", "reply-job-degraded"} {
		if sm := r.jobEnd.FindStringSubmatch(golden(t, name)); sm == nil || sm[1] != "149801" {
			t.Errorf("%s: job end %v, want job 149801", name, sm)
		}
	}
	if r.jobEnd.MatchString(golden(t, "reply-job-lost")) || !r.task.MatchString(golden(t, "reply-submitted")) {
		t.Error("a lost job is read as an end, or the task reply is not read")
	}
	for _, name := range []string{"reply-outcome-unknown", "reply-outcome-unknown-interrupted"} {
		if !strings.Contains(golden(t, name), "Outcome unknown") {
			t.Errorf("%s does not say \"Outcome unknown\"", name)
		}
	}
}

func TestTallyCountsThePromise(t *testing.T) {
	fake, err := slacktest.New(slacktest.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer fake.Close()
	api := slack.New(fake.BotToken(), slack.OptionAPIURL(fake.APIURL()))
	post := func(channel, thread, text string) string {
		t.Helper()
		opts := []slack.MsgOption{slack.MsgOptionText(text, false)}
		if thread != "" {
			opts = append(opts, slack.MsgOptionTS(thread))
		}
		_, ts, err := api.PostMessage(channel, opts...)
		if err != nil {
			t.Fatal(err)
		}
		return ts
	}
	card := func(user, id, state string) string {
		return "<@" + user + "> requested a full backup of *load* / *tg* — " + state + ". Request " + id + "."
	}
	// U0A: one card, submitted, its job's end told. U0B: two cards, told
	// "outcome unknown", its end posted in another user's thread. U0C:
	// told to try again. U0D: in the busy channel, nothing yet.
	a := post(channel, "", card("U0A", "r-aaaa", "✅ finished"))
	post(channel, a, "✅ Submitted to Commvault: task 1, job 101. I'll post here when it ends.")
	post(channel, a, "✅ Job 101 Completed after 1s.")
	post(channel, a, "✅ Job 102 Completed after 1s.")
	b1 := post(channel, "", card("U0B", "r-bbbb", "⏳ submitting to Commvault"))
	post(channel, "", card("U0B", "r-bbbb", "🔄 running — task 2, job 102"))
	post(channel, b1, "⚠️ Outcome unknown: Commvault did not answer in time.")
	if _, err := api.PostEphemeral(channel, "U0C", slack.MsgOptionText(golden(t, "unrecorded"), false)); err != nil {
		t.Fatal(err)
	}
	cmds := []command{{user: "U0A", channel: channel, envID: "E1"}, {user: "U0B", channel: channel, envID: "E2"},
		{user: "U0C", channel: channel, envID: "E3"}, {user: "U0D", channel: busyChannel, envID: "E4"}}
	tl := newReader().tally(fake, cmds)
	if tl.answers[0] != answerSubmitted || tl.answers[2] != answerPrivate || tl.answers[3] != answerNone {
		t.Errorf("answers = %v", tl.answers)
	}
	if tl.doubleParents != 1 || tl.staleCards != 2 {
		t.Errorf("double parents %d, stale cards %d; want 1, 2", tl.doubleParents, tl.staleCards)
	}
	if tl.toldNo[0] != "" || tl.toldNo[1] != "" || tl.toldNo[2] == "" || !tl.toldUnknown[1] || tl.toldUnknown[0] {
		t.Errorf("told not taken %q, told unknown %v", tl.toldNo, tl.toldUnknown)
	}
	if !tl.endTold("U0A", "101") || tl.endTold("U0B", "102") || tl.endTold("U0A", "103") {
		t.Error("endTold does not read the ends in their own thread only")
	}

	// U0C's table group got a CreateTask after all: told-but-run fails the run.
	w := &world{}
	res := runResult{Burst: &phaseResult{JobEndsWaited: true, UntoldEnds: 1}}
	groups := []simulator.TableGroup{{ID: 1}, {ID: 2}, {ID: 3}, {ID: 4}}
	for i := range cmds {
		cmds[i].group = groups[i]
	}
	w.countPromises(cmds, tl, map[int]int{1: 1, 2: 1, 3: 1}, &res)
	res.judge(scenario{fault: stallDatabase, checks: checks{oneParent: true}}, options{})
	if res.ToldButRun != 1 || res.DoubleParents != 1 || res.UnknownTold != 1 || res.UntoldEnds != 1 || res.Verdict != "FAIL" {
		t.Errorf("result = %+v", res)
	}
	if want := 3; len(res.Failures) != want { // told-but-run, untold-end, double parents
		t.Errorf("failures = %q, want %d", res.Failures, want)
	}
	if len(w.notes) != 1 || !strings.Contains(w.notes[0], "U0C was told") {
		t.Errorf("notes = %q", w.notes)
	}
}

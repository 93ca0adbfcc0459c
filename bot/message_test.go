package bot

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/backupbot/backupbot/auth"
	"github.com/backupbot/backupbot/bot/store"
	"github.com/backupbot/backupbot/commvault"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

func sampleRequest(state store.State) request {
	return request{
		ID: "r-1a2b3c", User: "U0ALICE", Channel: "C0OPS", Account: "prod",
		TableGroup: commvault.Subclient{
			ClientName: "aws-prod-account", ClientID: 12, InstanceName: "DynamoDB", InstanceID: 45,
			BackupsetName: "defaultBackupSet", BackupsetID: 67, Name: "orders", ID: 1201,
			AppName: "Cloud Apps", ApplicationID: 134,
		},
		Level: commvault.Full, Reason: "before the schema migration (INC-4711)", State: state,
		Created: time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC), ParentTS: "1764237600.000100",
		TaskID: 30451, JobIDs: []string{"149801"},
	}
}

func sampleJob(status string) commvault.Job {
	return commvault.Job{
		ID: "149801", Status: status, Percent: 100,
		Start: time.Date(2026, 11, 27, 10, 0, 5, 0, time.UTC), End: time.Date(2026, 11, 27, 10, 3, 12, 0, time.UTC),
		SizeBytes: 3 << 30, Phase: "Backup", BackupLevel: "Full", ClientName: "aws-prod-account", SubclientName: "orders",
	}
}

// sampleHistory is a history answer of prod/orders as of 2026-11-27 10:00
// UTC, showing count jobs: a running one, then a day each of incremental,
// failed and full backups, one full completed with errors.
func sampleHistory(count int, complete bool, links jobLinks) historyView {
	now := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	at := func(h int) time.Time { return now.Add(-time.Duration(h) * time.Hour) }
	jobs := []commvault.Job{
		{ID: "149812", Status: "Running", Percent: 42, Start: now.Add(-3 * time.Minute), SizeBytes: 1 << 30, BackupLevel: "Incremental"},
		{ID: "149811", Status: "Completed w/ one or more errors", Start: at(5), End: at(5).Add(21 * time.Minute), SizeBytes: 14 << 30, BackupLevel: "Full"},
		{ID: "149810", Status: "Failed", Start: at(9), End: at(9).Add(2 * time.Minute), SizeBytes: 300 << 20, BackupLevel: "Incremental"},
	}
	for i := range 20 {
		level, size, took := "Incremental", int64(512<<20), 3*time.Minute+5*time.Second
		if i%7 == 3 {
			level, size, took = "Full", 12<<30, 18*time.Minute+2*time.Second
		}
		start := at(9 + 24*(i+1))
		jobs = append(jobs, commvault.Job{ID: fmt.Sprint(149809 - i), Status: "Completed", Start: start, End: start.Add(took),
			SizeBytes: size, BackupLevel: level})
	}
	return historyView{Command: "/backup", Account: "prod", TableGroup: "orders", Client: "aws-prod-account", SubclientID: 18244,
		Jobs: jobs, Count: count, Complete: complete, Window: 30 * 24 * time.Hour, Now: now, Links: links}
}

func TestMessagesGolden(t *testing.T) {
	finished := sampleRequest(store.Finished)
	finished.Jobs = []commvault.Job{sampleJob("Completed")}
	failed := sampleRequest(store.Failed)
	failed.Problem = "Storage policy not assigned (error code 91)"
	emergency := sampleRequest(store.Submitted)
	emergency.Emergency = true
	failedJob := sampleJob("Failed")
	failedJob.PendingReason = "Access denied by AWS: dynamodb:ListBackups"
	running := sampleJob("Running")
	running.End, running.Percent = time.Time{}, 42

	pending := sampleRequest(store.Pending)
	pending.Expires, pending.Approvers = pending.Created.Add(30*time.Minute), []string{"S0LEADS", "U0LEAD"}
	decided := func(s store.State, problem string) request {
		r := sampleRequest(s)
		r.DecidedBy, r.DecidedAt, r.Problem = "U0LEAD", r.Created.Add(4*time.Minute), problem
		r.Expires = r.Created.Add(30 * time.Minute)
		return r
	}
	rejected := decided(store.Rejected, "not during the freeze")
	refused := decided(store.Rejected, "")
	refused.DecidedBy, refused.Problem = actorBot, noLongerAllowedProblem(refused, auth.RuleChannels)
	linked := jobLinks{template: "https://cs.example.com/commandcenter/#/jobs/{jobId}?a=1&b=<2>|x"}
	killedJob := sampleJob("Killed")
	killedJob.PendingReason = "The job was killed by user [admin]."
	incremental := sampleRequest(store.Submitted)
	incremental.Level = commvault.Incremental
	tests := []struct {
		name string
		msg  Message
	}{
		{"parent-pending", parentMessage(pending, jobLinks{})},
		{"parent-approved-by", parentMessage(decided(store.Approved, ""), jobLinks{})},
		{"parent-approved-running", parentMessage(decided(store.Submitted, ""), jobLinks{})},
		{"parent-rejected", parentMessage(decided(store.Rejected, "not during the freeze"), jobLinks{})},
		{"parent-expired", parentMessage(decided(store.Expired, ""), jobLinks{})},
		{"parent-cancelled", parentMessage(decided(store.Cancelled, "superseded by break-glass request r-9z8y7x"), jobLinks{})},
		{"reply-approved", approvedReply(decided(store.Approved, ""))},
		{"reply-denied", deniedReply(decided(store.Rejected, "not during the freeze"))},
		{"busy", busyAnswer(store.Request{ID: "r-1a2b3c", User: "U0ALICE", Account: "prod", TableGroup: "orders", State: store.Submitted},
			"https://example.slack.com/archives/C0OPS/p1764237600000100")},
		{"parent-approved", parentMessage(sampleRequest(store.Approved), jobLinks{})},
		{"parent-submitted", parentMessage(sampleRequest(store.Submitted), jobLinks{})},
		{"parent-finished", parentMessage(finished, jobLinks{})},
		{"parent-failed", parentMessage(failed, jobLinks{})},
		{"parent-unknown", parentMessage(sampleRequest(store.Unknown), jobLinks{})},
		{"parent-emergency", parentMessage(emergency, jobLinks{})},
		{"reply-submitted", submittedReply(sampleRequest(store.Submitted), jobLinks{})},
		{"reply-job-completed", jobEndReply(sampleJob("Completed"), jobLinks{})},
		{"reply-job-degraded", jobEndReply(sampleJob("Completed w/ one or more errors"), jobLinks{})},
		{"reply-job-failed", jobEndReply(failedJob, jobLinks{})},
		{"reply-submit-failed", submitFailedReply("Storage policy not assigned (error code 91)")},
		{"reply-outcome-unknown", outcomeUnknownReply(sampleRequest(store.Unknown), unknownCause{}, "9f8e7d")},
		{"reply-outcome-unknown-interrupted", outcomeUnknownReply(sampleRequest(store.Unknown), unknownCause{interrupted: true}, "9f8e7d")},
		{"reply-outcome-unknown-5xx", outcomeUnknownReply(sampleRequest(store.Unknown), unknownCause{status: 500}, "9f8e7d")},
		{"reply-commvault-unavailable", commvaultUnavailableReply()},
		{"commvault-unavailable", commvaultUnavailableAnswer()},
		{"ambiguous-tablegroup", ambiguousTableGroupAnswer("/backup", "prod", "aws-prod-account", "default", []string{"DynamoDB", "DynamoDB-eu"})},
		{"reply-reconciled-full", reconciledReply(incremental, sampleJob("Running"), jobLinks{})},
		{"reply-breakglass", breakglassReply(emergency, []string{"S0LEADS", "U0LEAD"})},
		{"reply-job-lost", jobLostReply("149801", 10, jobLinks{})},
		{"internal-error", internalErrorAnswer("9f8e7d")},
		{"denied", deniedAnswer(auth.Decision{Rule: "channels", Reason: "prod may only be requested from <#C0OPS>"})},
		{"usage", usageAnswer("/backup", &usageError{Problem: `unknown level "ful": use full or incremental`, Usage: usageOf(kindBackup)})},
		{"help", helpAnswer("/backup", []string{"demo", "prod"}, "/backup dynamodb demo orders full before the schema change")},
		{"list", listAnswer("/backup", "", []listEntry{
			{Account: "demo", Client: "aws-demo-account", TableGroups: []string{"orders", "customer profiles"}},
			{Account: "prod", Client: "aws-prod-account", NeedsApproval: true, TableGroups: []string{"orders", "payments"}},
			{Account: "staging", Client: "aws-staging-account", Problem: "Commvault did not list its table groups just now"},
		})},
		{"unknown-tablegroup", unknownTableGroupAnswer("/backup", "demo", "aws-demo-account", "ordres", []string{"orders"})},
		{"status-running", statusAnswer(running, jobLinks{})},
		{"status-failed", statusAnswer(failedJob, jobLinks{})},
		{"reply-reconciled", reconciledReply(sampleRequest(store.Submitted), sampleJob("Running"), jobLinks{})},
		{"lookup-timeout", lookupTimeoutAnswer()},
		{"lookup-error", lookupErrorAnswer("aws-prod-account", "Access denied (error code 5)")},
		{"status-refused", statusRefusedAnswer("149801")},
		{"slow-down", slowDownAnswer(10, 42*time.Second)},
		{"click-from-elsewhere", clickFromElsewhereAnswer()},
		{"not-its-card", notItsCardAnswer("r-1a2b3c")},
		{"no-longer-allowed", noLongerAllowedAnswer("r-1a2b3c", noLongerAllowedProblem(sampleRequest(store.Pending), auth.RuleRequesters))},
		{"recheck-failed", recheckFailedAnswer("r-1a2b3c")},
		{"parent-no-longer-allowed", parentMessage(refused, jobLinks{})},
		{"reply-no-longer-allowed", noLongerAllowedReply(refused, "U0LEAD")},
		{"reply-no-longer-allowed-recovered", noLongerAllowedReply(refused, "")},
		{"announce-breakglass", breakglassAnnouncement(emergency, "https://example.slack.com/archives/C0OPS/p1764237600000100")},
		{"announce-approved", decisionAnnouncement(decided(store.Approved, ""), "https://example.slack.com/archives/C0OPS/p1764237600000100")},
		{"announce-denied", decisionAnnouncement(rejected, "")},
		{"announce-no-longer-allowed", noLongerAllowedAnnouncement(refused, "U0LEAD", "https://example.slack.com/archives/C0OPS/p1764237600000100")},
		{"commvault-timeout", commvaultTimeoutAnswer()},
		{"commvault-error", commvaultErrorAnswer("Commvault is rate-limiting requests (HTTP 429)")},
		{"click-refused", clickRefusedAnswer("approve", "r-1a2b3c", "you asked for it: someone else must approve it")},
		{"no-such-request", noSuchRequestAnswer("r-9z8y7x")},
		{"not-waiting", notWaitingAnswer("r-1a2b3c", &rejected, jobLinks{})},
		{"not-waiting-unread", notWaitingAnswer("r-1a2b3c", nil, jobLinks{})},
		{"expired", expiredAnswer(decided(store.Pending, ""))},
		{"cancel-refused", cancelRefusedAnswer("r-9z8y7x")},
		{"cancelled-unsent", cancelledUnsentAnswer("r-1a2b3c")},
		{"reply-cancelled-unsent", cancelledUnsentReply("U0LEAD", "wrong table group")},
		{"still-submitting", stillSubmittingAnswer("/backup", "r-1a2b3c")},
		{"cancel-unknown", cancelUnknownAnswer("/backup", sampleRequest(store.Unknown))},
		{"already-ended", alreadyEndedAnswer(finished, linked)},
		{"reply-cancel-killed", cancelReply("U0ALICE", "it eats the table's read capacity (INC-4711)", []killOutcome{{JobID: "149801", Killed: true}}, linked)},
		{"reply-cancel-refused", cancelReply("U0LEAD", "", []killOutcome{{JobID: "149801",
			Refused: "Job [149801] is already in [Completed] state and cannot be killed. (error code 3)"}}, jobLinks{})},
		{"reply-cancel-mixed", cancelReply("U0LEAD", "stop", []killOutcome{{JobID: "149801", Killed: true}, {JobID: "149802", Ended: "Completed"},
			{JobID: "149803", Unknown: true}, {JobID: "149804", Problem: "Commvault could not be reached (ref 9f8e7d)"}}, jobLinks{})},
		{"killed", killedAnswer([]killOutcome{{JobID: "149801", Killed: true}}, linked, true)},
		{"killed-not-ours", killedAnswer([]killOutcome{{JobID: "149801", Killed: true}}, jobLinks{}, false)},
		{"kill-refused", killedAnswer([]killOutcome{{JobID: "149801", Refused: "Job [149801] is already in [Killed] state and cannot be killed. (error code 3)"}}, jobLinks{}, true)},
		{"history", historyAnswer(sampleHistory(10, true, jobLinks{}))},
		{"history-linked-cut", historyAnswer(sampleHistory(3, true, linked))},
		{"history-partial", historyAnswer(sampleHistory(25, false, jobLinks{}))},
		{"history-no-good-full", historyAnswer(func() historyView { v := sampleHistory(10, true, jobLinks{}); v.Jobs = v.Jobs[:2]; return v }())},
		{"history-empty", historyAnswer(func() historyView { v := sampleHistory(10, true, jobLinks{}); v.Jobs = nil; return v }())},
		{"history-refused", historyRefusedAnswer("/backup", "prod", "inventory")},
		{"reply-submitted-linked", submittedReply(sampleRequest(store.Submitted), linked)},
		{"reply-job-killed-linked", jobEndReply(killedJob, linked)},
		{"status-linked", statusAnswer(running, linked)},
		{"parent-finished-linked", parentMessage(finished, linked)},
		{"withdrawn", withdrawnAnswer("r-1a2b3c")},
		{"no-such-button", noSuchButtonAnswer()},
		{"busy-now", busyNowAnswer()},
		{"restarting", restartingAnswer()},
		{"unrecorded", unrecordedAnswer()},
		{"not-served", notServedAnswer("/backup")},
		{"click-not-taken", clickNotTakenAnswer()},
		{"reply-not-recorded", notRecordedReply()},
		{"reply-no-job-appeared", noJobAppearedReply(sampleRequest(store.Unknown))},
		{"cannot-post-not-in-channel", cannotPostAnswer("not_in_channel", "C0ELSEWHERE", []string{"C0OPS"})},
		{"cannot-post-dm", cannotPostAnswer("channel_not_found", "D0ALICE", nil)},
		{"cannot-post-archived", cannotPostAnswer("is_archived", "C0OLD", nil)},
		{"cannot-post-restricted", cannotPostAnswer("restricted_action_read_only_channel", "C0NEWS", []string{"C0OPS", "C0SRE"})},
		{"receipt", receiptAnswer(command{Kind: kindBackup, Account: "prod", TableGroup: "customer profiles"})},
		{"given-up-command", givenUpAnswer("/backup", &Input{Text: "dynamodb prod orders full"}, nil, 5)},
		{"given-up-click", givenUpAnswer("/backup", nil, &Click{Value: "r-1a2b3c"}, 5)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := json.MarshalIndent(tt.msg, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			path := filepath.Join("testdata", "golden", tt.name+".json")
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./bot -run TestMessagesGolden -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from %s:\n%s", tt.name, path, got)
			}
			if strings.TrimSpace(tt.msg.Text) == "" {
				t.Error("no plain-text fallback")
			}
		})
	}
}

// User text is shown, never obeyed: it cannot ping, link or break markup.
func TestMessagesEscapeUserText(t *testing.T) {
	r := sampleRequest(store.Approved)
	r.Reason = "<!channel> & <https://evil.example|click> <@U0BOSS>"
	r.TableGroup.Name = "<!here>"
	r.Account = "a&b"
	for _, m := range []Message{parentMessage(r, jobLinks{}), outcomeUnknownReply(r, unknownCause{}, "x"),
		outcomeUnknownReply(r, unknownCause{status: 500}, "x"), breakglassReply(r, nil), breakglassAnnouncement(r, ""),
		decisionAnnouncement(r, ""), noLongerAllowedAnnouncement(r, "", ""),
		ambiguousTableGroupAnswer("/backup", "a&b", "c", "<!here>", []string{"<!channel>"})} {
		raw, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		for _, bad := range []string{"<!channel>", "<!here>", "<https://evil", "<@U0BOSS>", "a&b"} {
			if strings.Contains(string(raw), bad) || strings.Contains(m.Text, bad) {
				t.Errorf("message %s carries %q unescaped", raw, bad)
			}
		}
	}
}

func TestFormatting(t *testing.T) {
	sizes := []struct {
		n    int64
		want string
	}{{0, "0 B"}, {1023, "1023 B"}, {1024, "1.0 KiB"}, {1536, "1.5 KiB"}, {3 << 30, "3.0 GiB"}, {5 << 40, "5.0 TiB"}}
	for _, tt := range sizes {
		if got := formatSize(tt.n); got != tt.want {
			t.Errorf("formatSize(%d) = %q, want %q", tt.n, got, tt.want)
		}
	}
	durs := []struct {
		d    time.Duration
		want string
	}{{42 * time.Second, "42s"}, {185 * time.Second, "3m05s"}, {3720 * time.Second, "1h02m"}, {1500 * time.Millisecond, "2s"}}
	for _, tt := range durs {
		if got := formatDuration(tt.d); got != tt.want {
			t.Errorf("formatDuration(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
}

func TestPlain(t *testing.T) {
	tests := []struct{ in, want string }{
		{"<@U0ALICE> asked", "@U0ALICE asked"},
		{"<@U0ALICE|alice> asked", "@alice asked"},
		{"in <#C0OPS>", "in #C0OPS"},
		{"<!subteam^S0LEADS> review", "@S0LEADS review"},
		{"see <https://x.example|the doc>", "see the doc (https://x.example)"},
		{"a &lt;b&gt; &amp; c", "a <b> & c"},
	}
	for _, tt := range tests {
		if got := plain(tt.in); got != tt.want {
			t.Errorf("Plain(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// Long lists are cut to fit Slack's 4,000 characters, with a hint.
func TestListIsCutToFitSlack(t *testing.T) {
	var many []string
	for i := range 2000 {
		many = append(many, fmt.Sprintf("table-group-%04d", i))
	}
	var entries []listEntry
	for i := range 40 {
		entries = append(entries, listEntry{Account: fmt.Sprintf("account%02d", i), Client: "aws-" + fmt.Sprint(i), TableGroups: many})
	}
	got := listAnswer("/backup", "", entries).Text
	if n := runes(got); n > 4000 {
		t.Errorf("list answer is %d characters, want at most 4000", n)
	}
	contains(t, "list answer", got, "…and ", "more", "/backup list")
}

func TestFitText(t *testing.T) {
	long := strings.Repeat("<@U0LEAD> &amp; ", 400)
	got := fitText(long, maxUpdateText)
	if n := runes(got); n > maxUpdateText || !strings.HasSuffix(got, "…") {
		t.Errorf("fitText = %d characters, ends %q", n, got[len(got)-10:])
	}
	if strings.Count(got, "<") != strings.Count(got, ">") || strings.HasSuffix(strings.TrimSuffix(got, "…"), "&am") {
		t.Errorf("fitText cut a mention or an escape in two: …%q", got[len(got)-20:])
	}
	if short := "fits"; fitText(short, 10) != short {
		t.Errorf("fitText changed a text that fits")
	}
}

func TestDeniedMessageKeepsChannelLinksOnly(t *testing.T) {
	d := auth.Decision{Reason: `no account named "<!channel>" & prod may only be requested from <#C01OPS> or <#G02PRIV>`}
	got := deniedAnswer(d).Text
	contains(t, "denial", got, "<#C01OPS>", "<#G02PRIV>", "&lt;!channel&gt;", "&amp;")
	if strings.Contains(got, "<!channel>") {
		t.Errorf("denial %q can ping", got)
	}
}

package main

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/backupbot/backupbot/bot/slacktest"
	"github.com/backupbot/backupbot/commvault"
	"github.com/backupbot/backupbot/commvault/simulator"
)

// slackPolicy is the policy of the Slack end-to-end tests.
const slackPolicy = `
accounts:
  load:
    client: aws-load-account
    requesters: ["*"]
  demo:
    client: aws-demo-account
    requesters: ["*"]
  staging:
    client: aws-staging-account
    requesters: [S0ONCALL]
    channels: [C0OPS]
`

// burst is how many commands TestSlackBurst sends at once, each for its own
// table group of the load account.
const burst = 200

// commvaultPassword is the simulator's password in the Slack tests: it
// must never show in the bot's log.
const commvaultPassword = "pw-Kq8-never-logged"

// slackBot is the real backupbot (the same run as production) against a
// fake Slack and a Commvault simulator, all on 127.0.0.1.
type slackBot struct {
	t      *testing.T
	slack  *slacktest.Server
	sim    *simulator.Server
	cv     *commvault.Client
	stderr *syncBuffer
	done   chan int
	stop   context.CancelFunc
}

func startSlackBot(t *testing.T, policyText string, env map[string]string) *slackBot {
	t.Helper()
	clearEnv(t)
	fake, err := slacktest.New(slacktest.Config{UserGroups: map[string][]string{"S0ONCALL": {"U0ONCALL"}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fake.Close)
	load := simulator.Account{Name: "aws-load-account"}
	for i := range burst {
		load.TableGroups = append(load.TableGroups, simulator.TableGroup{Name: fmt.Sprintf("tg%03d", i)})
	}
	sim := simulator.New(simulator.Config{JobDuration: 1500 * time.Millisecond, Password: commvaultPassword,
		Accounts: append(simulator.Catalogue(), load), History: simulator.SampleHistory(simulator.Catalogue(), time.Now())})
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	policy := filepath.Join(t.TempDir(), "policy.yaml")
	if policyText == "" {
		policyText = slackPolicy
	}
	if err := os.WriteFile(policy, []byte(policyText), 0o600); err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{
		"SLACK_APP_TOKEN": fake.AppToken(), "SLACK_BOT_TOKEN": fake.BotToken(), "SLACK_API_URL": fake.APIURL(),
		"COMMVAULT_API_URL": srv.URL + "/commandcenter/api", "COMMVAULT_USERNAME": "admin", "COMMVAULT_PASSWORD": commvaultPassword,
		"BACKUPBOT_POLICY": policy, "BACKUPBOT_JOB_POLL_INTERVAL": "1s", "BACKUPBOT_LOG_LEVEL": "debug",
		"BACKUPBOT_DATABASE_URL": "sqlite:" + filepath.Join(t.TempDir(), "backupbot.db"),
		"BACKUPBOT_HTTP_ADDR":    "127.0.0.1:0",
	}
	for k, v := range env {
		vars[k] = v
	}
	for k, v := range vars {
		t.Setenv(k, v)
	}
	cv, err := commvault.New(commvault.Config{BaseURL: srv.URL + "/commandcenter/api", Username: "admin", Password: commvaultPassword})
	if err != nil {
		t.Fatal(err)
	}
	b := &slackBot{t: t, slack: fake, sim: sim, cv: cv, stderr: &syncBuffer{}}
	b.startBot()
	t.Cleanup(func() {
		b.stopBot(t)
		// The whole debug log of the run holds no secret.
		secrets := []string{fake.AppToken(), fake.BotToken(), commvaultPassword}
		for _, r := range sim.Requests() { // the session tokens Commvault issued
			if r.Authtoken != "" {
				secrets = append(secrets, strings.TrimPrefix(r.Authtoken, "QSDK "))
			}
		}
		for _, secret := range secrets {
			if strings.Contains(b.stderr.String(), secret) {
				t.Errorf("the bot's log shows a secret (%.6s…)", secret)
			}
		}
	})
	return b
}

// startBot runs backupbot with the environment set, and waits for its
// two connections.
func (b *slackBot) startBot() {
	b.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	b.done, b.stop = make(chan int, 1), cancel
	go func() { b.done <- run(ctx, nil, strings.NewReader(""), &syncBuffer{}, b.stderr) }()
	b.wait("two socket-mode connections", func() bool { return b.slack.Connections() >= 2 })
}

// stopBot stops backupbot as SIGTERM would, and waits for it.
func (b *slackBot) stopBot(t *testing.T) {
	t.Helper()
	if b.stop == nil {
		return
	}
	b.stop()
	b.stop = nil
	select {
	case code := <-b.done:
		if code != exitOK {
			t.Errorf("bot exited %d; log:\n%s", code, b.stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Error("the bot did not stop within 30s")
	}
}

// restartBot stops backupbot and starts it again on the same state.
func (b *slackBot) restartBot(t *testing.T) {
	t.Helper()
	b.stopBot(t)
	b.wait("the old connections to close", func() bool { return b.slack.Connections() == 0 })
	b.startBot()
}

// wait polls cond for up to 20 s.
func (b *slackBot) wait(what string, cond func() bool) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := b.slack.WaitFor(ctx, cond); err != nil {
		b.t.Fatalf("waiting for %s: %v\nbot log:\n%s", what, err, b.stderr.String())
	}
}

// command types a slash command and checks that it was acked within 3 s.
func (b *slackBot) command(user, channel, text string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	id, err := b.slack.SlashCommand(ctx, slacktest.SlashCommand{UserID: user, ChannelID: channel, Text: text})
	if err != nil {
		b.t.Fatalf("slash command %q: %v", text, err)
	}
	ack, err := b.slack.Ack(ctx, id)
	if err != nil {
		b.t.Fatalf("ack of %q: %v\nbot log:\n%s", text, err, b.stderr.String())
	}
	if d := ack.AckedAt.Sub(ack.SentAt); d > 3*time.Second {
		b.t.Errorf("ack of %q after %v, want within 3s", text, d)
	}
	return id
}

// ephemerals returns the texts user was shown privately.
// ephemerals are the private answers user got, without the receipts a
// backup request's ack carries (receipts lists those).
func (b *slackBot) ephemerals(user string) []string {
	var out []string
	for _, e := range b.slack.Ephemerals(user) {
		if !isReceipt(e) {
			out = append(out, e.Text)
		}
	}
	return out
}

// answers are the private answers fake showed user, without the receipts.
func answers(fake *slacktest.Server, user string) []slacktest.Ephemeral {
	var out []slacktest.Ephemeral
	for _, e := range fake.Ephemerals(user) {
		if !isReceipt(e) {
			out = append(out, e)
		}
	}
	return out
}

func isReceipt(e slacktest.Ephemeral) bool {
	return e.Via == "ack" && strings.HasPrefix(e.Text, "⏳ Checking your request")
}

// receipts are the receipts user got in acks.
func (b *slackBot) receipts(user string) []string {
	var out []string
	for _, e := range b.slack.Ephemerals(user) {
		if isReceipt(e) {
			out = append(out, e.Text)
		}
	}
	return out
}

var taskReply = regexp.MustCompile(`task (\d+), jobs? ([\d, ]+)\.`)

func TestSlackBackupEndToEnd(t *testing.T) {
	b := startSlackBot(t, "", nil)
	b.command("U0ALICE", "C0OPS", "dynamodb demo orders full before the schema migration (INC-4711)")

	b.wait("a thread reply with the task", func() bool {
		ms := b.slack.Messages("C0OPS")
		return len(ms) >= 2 && ms[1].ThreadTS != ""
	})
	if n := b.sim.CreateTaskCount(); n != 1 {
		t.Fatalf("CreateTasks = %d, want 1", n)
	}
	var body map[string]any
	for _, r := range b.sim.Requests() {
		if r.Op == simulator.OpCreateTask {
			body, _ = r.Body.(map[string]any)
		}
	}
	sc, err := b.cv.TableGroup(t.Context(), "aws-demo-account", "orders")
	if err != nil {
		t.Fatal(err)
	}
	assoc := body["taskInfo"].(map[string]any)["associations"].([]any)[0].(map[string]any)
	if assoc["subclientId"] != float64(sc.ID) || assoc["clientName"] != "aws-demo-account" {
		t.Errorf("association = %v, want subclient %d of aws-demo-account", assoc, sc.ID)
	}
	opts := body["taskInfo"].(map[string]any)["subTasks"].([]any)[0].(map[string]any)["options"].(map[string]any)
	if lvl := opts["backupOpts"].(map[string]any)["backupLevel"]; lvl != "FULL" {
		t.Errorf("backupLevel = %v, want FULL", lvl)
	}

	ms := b.slack.Messages("C0OPS")
	parent, reply := ms[0], ms[1]
	if parent.ThreadTS != "" || !strings.Contains(parent.Text, "<@U0ALICE>") || !strings.Contains(parent.Text, "INC-4711") {
		t.Errorf("parent = %+v", parent)
	}
	if len(parent.Blocks) == 0 {
		t.Error("parent has no blocks")
	}
	if reply.ThreadTS != parent.TS {
		t.Errorf("reply thread_ts = %q, want the parent's ts %q", reply.ThreadTS, parent.TS)
	}
	m := taskReply.FindStringSubmatch(reply.Text)
	if m == nil {
		t.Fatalf("reply %q has no task and job IDs", reply.Text)
	}
	for _, id := range strings.Split(m[2], ", ") {
		j, err := b.cv.Job(t.Context(), id)
		if err != nil || j.SubclientName != "orders" {
			t.Errorf("job %s of the reply: %+v, %v", id, j, err)
		}
	}

	b.wait("the job's end in the thread", func() bool {
		for _, r := range b.slack.Thread("C0OPS", parent.TS) {
			if strings.Contains(r.Text, "Completed") {
				return true
			}
		}
		return false
	})
	b.wait("the parent showing the end", func() bool {
		p, _ := b.slack.Message("C0OPS", parent.TS)
		return strings.Contains(p.Text, "finished")
	})
	if n := len(b.ephemerals("U0ALICE")); n != 0 {
		t.Errorf("ephemerals = %v, want none", b.ephemerals("U0ALICE"))
	}
}

func TestSlackRefusals(t *testing.T) {
	b := startSlackBot(t, "", nil)
	b.command("U0STRANGER", "C0OPS", "dynamodb staging orders full")
	b.command("U0ONCALL", "C0ELSEWHERE", "dynamodb staging orders full")
	b.wait("two answers", func() bool { return len(b.ephemerals("U0STRANGER")) == 1 && len(b.ephemerals("U0ONCALL")) == 1 })
	for _, user := range []string{"U0STRANGER", "U0ONCALL"} {
		if got := b.ephemerals(user)[0]; !strings.Contains(got, "Not allowed") {
			t.Errorf("answer to %s = %q", user, got)
		}
	}
	if !strings.Contains(b.ephemerals("U0ONCALL")[0], "<#C0OPS>") {
		t.Errorf("wrong-channel answer does not name the channel: %q", b.ephemerals("U0ONCALL")[0])
	}
	if n := b.sim.CreateTaskCount(); n != 0 {
		t.Errorf("CreateTasks = %d, want 0", n)
	}
	if n := len(b.slack.Messages("C0OPS")) + len(b.slack.Messages("C0ELSEWHERE")); n != 0 {
		t.Errorf("channel messages = %d, want 0", n)
	}
	// A group member in the right channel may.
	b.command("U0ONCALL", "C0OPS", "dynamodb staging sessions incr")
	b.wait("the submission", func() bool { return b.sim.CreateTaskCount() == 1 })
}

func TestSlackBadInputs(t *testing.T) {
	b := startSlackBot(t, "", nil)
	bad := []string{
		"bakup", "dynamodb", "dynamodb demo", "dynamodb demo orders", "dynamodb demo orders ful",
		"dynamodb demo orders weekly", "dynamodb nosuch orders full", "dynamodb demo ordrs full",
		"dynamodb demo \"orders full", "dynamodb demo \"\" full", "dynamodb demo orders full <!channel>",
		"dynamodb demo orders full <!here> now", "dynamodb demo orders full <!subteam^S1> look",
		"dynamodb demo orders full " + strings.Repeat("x", 1200), "dynamodb demo " + strings.Repeat("t", 200) + " full",
		"dynamodb demo ord\u0000ers full", "dynamodb demo orders full \u202eevil", "status", "status abc",
		"status 12 34", "cancel", "emergency dynamodb demo orders full", "dynamodb <@U0BOSS> orders full",
		"list nosuch", "dynamodb demo orders incremental\u200b", "emergency dynamodb staging orders full fire",
		"status 99999999",
	}
	for _, text := range bad {
		b.command("U0ALICE", "C0OPS", text)
	}
	b.wait(fmt.Sprintf("%d answers", len(bad)), func() bool { return len(b.ephemerals("U0ALICE")) == len(bad) })
	for i, got := range b.ephemerals("U0ALICE") {
		if strings.TrimSpace(got) == "" {
			t.Errorf("answer %d is empty", i)
		}
		for _, ping := range []string{"<!channel>", "<!here>", "<!subteam", "<@U0BOSS>"} {
			if strings.Contains(got, ping) {
				t.Errorf("answer %q carries %s", got, ping)
			}
		}
	}
	if n := b.sim.CreateTaskCount(); n != 0 {
		t.Fatalf("CreateTasks = %d after bad inputs, want 0", n)
	}
	if n := len(b.slack.Messages("C0OPS")); n != 0 {
		t.Errorf("channel messages = %d after bad inputs, want 0", n)
	}
	b.command("U0ALICE", "C0OPS", "dynamodb demo orders full still serving")
	b.wait("a submission after the bad inputs", func() bool { return b.sim.CreateTaskCount() == 1 })
}

func TestSlackRetriedEnvelopeSubmitsOnce(t *testing.T) {
	b := startSlackBot(t, "", nil)
	id := b.command("U0ALICE", "C0OPS", "dynamodb demo payments full")
	ctx := t.Context()
	for _, same := range []bool{true, false} {
		rid, err := b.slack.Resend(ctx, id, 1, same)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.slack.Ack(ctx, rid); err != nil {
			t.Fatalf("retry not acked: %v", err)
		}
	}
	b.wait("the thread reply", func() bool { return len(b.slack.Messages("C0OPS")) >= 2 })
	time.Sleep(300 * time.Millisecond) // a second submission, if any, would have started
	if n := b.sim.CreateTaskCount(); n != 1 {
		t.Errorf("CreateTasks = %d, want 1", n)
	}
	if n := len(b.slack.Messages("C0OPS")); n != 2 {
		t.Errorf("channel messages = %d, want parent and reply only", n)
	}
}

func TestSlackReconnects(t *testing.T) {
	b := startSlackBot(t, "", nil)
	opened := b.slack.ConnectionsOpened()

	// A refresh of one connection: a command sent meanwhile goes to the other.
	if !b.slack.DisconnectOne("refresh_requested") {
		t.Fatal("no connection to refresh")
	}
	b.command("U0ALICE", "C0OPS", "dynamodb demo orders full during a refresh")
	b.wait("the command sent during the refresh", func() bool { return b.sim.CreateTaskCount() == 1 })
	b.wait("the refreshed connection", func() bool { return b.slack.Connections() >= 2 && b.slack.ConnectionsOpened() > opened })

	b.slack.Disconnect("warning")
	b.wait("reconnection after disconnect", func() bool { return b.slack.Connections() >= 2 })
	b.command("U0ALICE", "C0OPS", "dynamodb demo payments full after a disconnect")
	b.wait("the command after the disconnect", func() bool { return b.sim.CreateTaskCount() == 2 })

	b.slack.DropConnections()
	b.wait("reconnection after a drop", func() bool { return b.slack.Connections() >= 2 })
	b.command("U0ALICE", "C0OPS", `dynamodb demo "customer profiles" full after a drop`)
	b.wait("the command after the drop", func() bool { return b.sim.CreateTaskCount() == 3 })
}

func TestSlackRateLimitDelaysButLosesNothing(t *testing.T) {
	b := startSlackBot(t, "", nil)
	b.slack.RateLimit("chat.postMessage", 2, time.Second)
	b.command("U0ALICE", "C0OPS", "dynamodb demo orders full")
	b.wait("parent and reply after the 429s", func() bool { return len(b.slack.Messages("C0OPS")) >= 2 })
	limited := 0
	for _, c := range b.slack.Calls("chat.postMessage") {
		if c.Status == 429 {
			limited++
		}
	}
	if limited != 2 {
		t.Errorf("429 answers = %d, want 2", limited)
	}
	if n := b.sim.CreateTaskCount(); n != 1 {
		t.Errorf("CreateTasks = %d, want 1", n)
	}
}

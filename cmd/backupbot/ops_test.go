package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/backupbot/backupbot/bot/slacktest"
	"github.com/backupbot/backupbot/commvault/simulator"
)

// opsAddr finds the address the bot serves /healthz on, from its log.
func opsAddr(t *testing.T, logText func() string) string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		for _, line := range strings.Split(logText(), "\n") {
			var entry struct {
				Msg  string `json:"msg"`
				Addr string `json:"addr"`
			}
			if json.Unmarshal([]byte(line), &entry) == nil && strings.HasPrefix(entry.Msg, "serving /healthz") {
				return entry.Addr
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("the bot never said where it serves /healthz:\n%s", logText())
	return ""
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func TestOpsEndpoints(t *testing.T) {
	b := startSlackBot(t, "", nil)
	base := "http://" + opsAddr(t, b.stderr.String)

	if code, body := get(t, base+"/healthz"); code != 200 || strings.TrimSpace(body) != "ok" {
		t.Errorf("/healthz = %d %q", code, body)
	}
	code, body := get(t, base+"/readyz")
	if code != 200 {
		t.Fatalf("/readyz = %d %q", code, body)
	}
	for _, want := range []string{"✓ slack socket connected", "✓ database reachable", "✓ policy loaded"} {
		if !strings.Contains(body, want) {
			t.Errorf("/readyz body %q lacks %q", body, want)
		}
	}

	b.command("U0ALICE", "C0OPS", "dynamodb demo orders full")
	b.command("U0STRANGER", "C0OPS", "dynamodb staging orders full")
	b.wait("the submission and the refusal", func() bool {
		return len(b.slack.Messages("C0OPS")) >= 2 && len(b.ephemerals("U0STRANGER")) == 1
	})
	_, metrics := get(t, base+"/metrics")
	for _, want := range []string{
		`backupbot_commands_total{kind="backup",outcome="denied"} 1`,
		`backupbot_denials_total{rule="requesters"} 1`,
		`backupbot_submissions_total{outcome="submitted"} 1`,
		"backupbot_commvault_submit_seconds_count 1",
		"backupbot_commvault_request_seconds_count",
		"backupbot_slack_ack_seconds_count",
		`backupbot_slack_envelopes_total{result="queued",type="slash_commands"} 2`,
		"backupbot_slack_connections 2",
		"backupbot_build_info{commit=",
		"backupbot_policy_info{hash=",
		"go_goroutines",
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}

	// Slack unreachable: unready, and says why; back: ready again.
	b.slack.SetConnectionsOpenError("internal_error")
	b.slack.DropConnections()
	b.wait("unready", func() bool {
		code, body := get(t, base+"/readyz")
		return code == 503 && strings.Contains(body, "✗ slack socket connected")
	})
	b.slack.SetConnectionsOpenError("")
	b.wait("ready again", func() bool { code, _ := get(t, base+"/readyz"); return code == 200 })
}

func TestVersion(t *testing.T) {
	var out, errs syncBuffer
	if code := run(t.Context(), []string{"version"}, strings.NewReader(""), &out, &errs); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if !strings.HasPrefix(out.String(), "backupbot ") || !strings.Contains(out.String(), "commit ") {
		t.Errorf("version = %q", out.String())
	}
}

// builtBot builds the backupbot binary once per test run, with a version.
var builtBot = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "backupbot-bin-")
	if err != nil {
		return "", err
	}
	// go test puts its own toolchain first on PATH.
	gobin, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("the go command: %w", err)
	}
	bin := filepath.Join(dir, "backupbot")
	out, err := exec.Command(gobin, "build", "-ldflags", "-X main.version=9.9.9-test -X main.commit=feedface", "-o", bin, ".").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

// process is the built binary running as a subprocess.
type process struct {
	cmd  *exec.Cmd
	log  *syncBuffer
	exit chan error
}

func startProcess(t *testing.T, env []string) *process {
	t.Helper()
	bin, err := builtBot()
	if err != nil {
		t.Fatal(err)
	}
	p := &process{log: &syncBuffer{}, exit: make(chan error, 1)}
	p.cmd = exec.Command(bin)
	p.cmd.Env = env
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.exit <- p.cmd.Wait() }()
	t.Cleanup(func() { _ = p.cmd.Process.Kill(); <-p.exit })
	return p
}

// wait waits for the process to exit and returns its exit code.
func (p *process) wait(t *testing.T, within time.Duration) int {
	t.Helper()
	select {
	case <-p.exit:
		p.exit <- nil // for the cleanup
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(within):
		t.Fatalf("still running after %v; log:\n%s", within, p.log.String())
		return -1
	}
}

// subprocessEnv is the environment of a bot subprocess against fake and
// simulator on 127.0.0.1.
func subprocessEnv(t *testing.T, fake *slacktest.Server, cvURL, policy, db string) []string {
	return []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"),
		"SLACK_APP_TOKEN=" + fake.AppToken(), "SLACK_BOT_TOKEN=" + fake.BotToken(), "SLACK_API_URL=" + fake.APIURL(),
		"COMMVAULT_API_URL=" + cvURL, "COMMVAULT_USERNAME=admin", "COMMVAULT_PASSWORD=" + commvaultPassword,
		"BACKUPBOT_POLICY=" + policy, "BACKUPBOT_DATABASE_URL=" + db, "BACKUPBOT_HTTP_ADDR=127.0.0.1:0",
		"BACKUPBOT_JOB_POLL_INTERVAL=1s", "BACKUPBOT_SHUTDOWN_TIMEOUT=15s", "BACKUPBOT_LOG_LEVEL=debug",
	}
}

type subprocessWorld struct {
	fake   *slacktest.Server
	sim    *simulator.Server
	cvURL  string
	policy string
	db     string
}

func newSubprocessWorld(t *testing.T) *subprocessWorld {
	t.Helper()
	fake, err := slacktest.New(slacktest.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fake.Close)
	sim := simulator.New(simulator.Config{JobDuration: 2 * time.Second, Password: commvaultPassword})
	srv := newLocalServer(t, sim)
	dir := t.TempDir()
	policy := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(policy, []byte(slackPolicy), 0o600); err != nil {
		t.Fatal(err)
	}
	return &subprocessWorld{fake: fake, sim: sim, cvURL: srv + "/commandcenter/api", policy: policy,
		db: "sqlite:" + filepath.Join(dir, "bot.db")}
}

func (w *subprocessWorld) waitFor(t *testing.T, what string, log *syncBuffer, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := w.fake.WaitFor(ctx, cond); err != nil {
		t.Fatalf("waiting for %s: %v\nlog:\n%s", what, err, log.String())
	}
}

func TestSIGTERMDrainsAndWorkCompletesAfterRestart(t *testing.T) {
	w := newSubprocessWorld(t)
	env := subprocessEnv(t, w.fake, w.cvURL, w.policy, w.db)
	p := startProcess(t, env)
	w.waitFor(t, "connections", p.log, func() bool { return w.fake.Connections() >= 2 })

	// A submission in flight: Commvault takes 3 s to answer CreateTask.
	w.sim.Inject(simulator.Fault{Op: simulator.OpCreateTask, Kind: simulator.FaultHang, Hang: 3 * time.Second})
	ctx := t.Context()
	if _, err := w.fake.SlashCommand(ctx, slacktest.SlashCommand{UserID: "U0ALICE", ChannelID: "C0OPS", Text: "dynamodb demo orders full"}); err != nil {
		t.Fatal(err)
	}
	w.waitFor(t, "CreateTask in flight", p.log, func() bool { return w.sim.CreateTaskCount() == 1 })
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	w.waitFor(t, "draining", p.log, func() bool { return strings.Contains(p.log.String(), "shutting down") })
	// A command during the drain is answered "restarting", not lost in silence.
	id, err := w.fake.SlashCommand(ctx, slacktest.SlashCommand{UserID: "U0BOB", ChannelID: "C0OPS", Text: "dynamodb demo payments full"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.fake.Ack(ctx, id); err != nil {
		t.Fatal(err)
	}
	started := time.Now()
	if code := p.wait(t, 20*time.Second); code != 0 {
		t.Fatalf("exit %d after SIGTERM; log:\n%s", code, p.log.String())
	}
	t.Logf("exited %v after SIGTERM", time.Since(started).Round(time.Millisecond))
	if eph := answers(w.fake, "U0BOB"); len(eph) != 1 || !strings.Contains(eph[0].Text, "restarting") {
		t.Errorf("command during the drain answered %+v", eph)
	}
	thread := func() []string {
		ms := w.fake.Messages("C0OPS")
		var out []string
		for _, m := range ms {
			if m.ThreadTS != "" {
				out = append(out, m.Text)
			}
		}
		return out
	}
	if r := thread(); len(r) != 1 || !strings.Contains(r[0], "Submitted to Commvault") {
		t.Fatalf("thread after the drain = %q, want the submission", r)
	}

	// The job ends while the bot is down; the restarted bot posts it.
	p2 := startProcess(t, env)
	w.waitFor(t, "the job's end after the restart", p2.log, func() bool {
		r := thread()
		return len(r) == 2 && strings.Contains(r[1], "Completed")
	})
	if n := w.sim.CreateTaskCount(); n != 1 {
		t.Errorf("CreateTasks = %d, want 1", n)
	}
	_ = p2.cmd.Process.Signal(syscall.SIGTERM)
	if code := p2.wait(t, 20*time.Second); code != 0 {
		t.Errorf("second run exit %d", code)
	}
}

func TestSIGHUPReloadsThePolicy(t *testing.T) {
	w := newSubprocessWorld(t)
	p := startProcess(t, subprocessEnv(t, w.fake, w.cvURL, w.policy, w.db))
	w.waitFor(t, "connections", p.log, func() bool { return w.fake.Connections() >= 2 })
	base := "http://" + opsAddr(t, p.log.String)
	_, before := get(t, base+"/metrics")

	ask := func(user string) {
		if _, err := w.fake.SlashCommand(t.Context(), slacktest.SlashCommand{UserID: user, ChannelID: "C0OPS", Text: "list"}); err != nil {
			t.Fatal(err)
		}
	}
	// An invalid file is rejected and the old policy stays.
	if err := os.WriteFile(w.policy, []byte("accounts:\n  demo:\n    aprovers: [U0X]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_ = p.cmd.Process.Signal(syscall.SIGHUP)
	w.waitFor(t, "the rejection", p.log, func() bool { return strings.Contains(p.log.String(), "policy reload rejected") })
	if !strings.Contains(p.log.String(), "aprovers") {
		t.Errorf("the rejection does not name the bad field:\n%s", p.log.String())
	}
	ask("U0ONCALL")
	w.waitFor(t, "an answer", p.log, func() bool { return len(answers(w.fake, "U0ONCALL")) == 1 })
	if !strings.Contains(answers(w.fake, "U0ONCALL")[0].Text, "*load*") {
		t.Errorf("after a rejected reload, list = %q; want the old policy's accounts", answers(w.fake, "U0ONCALL")[0].Text)
	}

	// A valid file takes over, and the metric says which.
	if err := os.WriteFile(w.policy, []byte("accounts:\n  reloaded:\n    client: aws-demo-account\n    requesters: [\"*\"]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_ = p.cmd.Process.Signal(syscall.SIGHUP)
	w.waitFor(t, "the reload", p.log, func() bool { return strings.Contains(p.log.String(), "policy reloaded") })
	ask("U0ONCALL")
	w.waitFor(t, "an answer", p.log, func() bool { return len(answers(w.fake, "U0ONCALL")) == 2 })
	if got := answers(w.fake, "U0ONCALL")[1].Text; !strings.Contains(got, "*reloaded*") || strings.Contains(got, "*load*") {
		t.Errorf("after the reload, list = %q", got)
	}
	_, after := get(t, base+"/metrics")
	if before == after || strings.Count(after, "backupbot_policy_info{") != 1 {
		t.Errorf("policy_info did not change to one new hash:\n%s", after)
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	if code := p.wait(t, 20*time.Second); code != 0 {
		t.Errorf("exit %d", code)
	}
}

// newLocalServer serves h on 127.0.0.1 for the test and returns its URL.
func newLocalServer(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

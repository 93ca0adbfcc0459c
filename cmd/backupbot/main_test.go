package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer that the program and the test share.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// clearEnv unsets every variable backupbot reads, for the test's duration.
func clearEnv(t *testing.T) {
	t.Helper()
	for _, name := range configVars() {
		if v, ok := os.LookupEnv(name); ok {
			t.Cleanup(func() { os.Setenv(name, v) })
		}
		os.Unsetenv(name)
	}
}

// console drives `backupbot console` through its stdin and stdout.
type console struct {
	t     *testing.T
	in    *io.PipeWriter
	out   *syncBuffer
	errs  *syncBuffer
	done  chan int
	since int // offset of output already consumed by expect
}

func startConsole(t *testing.T, args ...string) *console {
	t.Helper()
	pr, pw := io.Pipe()
	c := &console{t: t, in: pw, out: &syncBuffer{}, errs: &syncBuffer{}, done: make(chan int, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go func() {
		c.done <- run(ctx, append([]string{"console"}, args...), pr, c.out, c.errs)
	}()
	return c
}

// send types a line.
func (c *console) send(line string) {
	c.t.Helper()
	if _, err := io.WriteString(c.in, line+"\n"); err != nil {
		c.t.Fatalf("type %q: %v (stderr: %s)", line, err, c.errs.String())
	}
}

// expect waits for output matching re after what earlier calls consumed,
// and returns the first submatch (or the match).
func (c *console) expect(re string) string {
	c.t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		out := c.out.String()
		if loc := rx.FindStringSubmatchIndex(out[c.since:]); loc != nil {
			m := rx.FindStringSubmatch(out[c.since:])
			c.since += loc[1]
			if len(m) > 1 {
				return m[1]
			}
			return m[0]
		}
		time.Sleep(10 * time.Millisecond)
	}
	c.t.Fatalf("no output matching %q; output after offset %d:\n%s\nstderr:\n%s", re, c.since, c.out.String()[c.since:], c.errs.String())
	return ""
}

func TestConsole(t *testing.T) {
	clearEnv(t)
	c := startConsole(t, "--job-duration", "1500ms")
	c.expect(`built-in simulator at http://127\.0\.0\.1:\d+/commandcenter/api`)
	c.expect(`Policy deploy/policy.yaml \(built in\)`)

	c.send("/backup help")
	c.expect(`(?s)only visible to @U0CONSOLE.*/backup dynamodb <account>`)

	c.send("/backup list")
	c.expect(`(?s)only visible to @U0CONSOLE.*\*demo\*.*customer profiles`)

	c.send("/backup dynamodb demo ordrs full")
	c.expect(`(?s)only visible.*no table group \*ordrs\*.*Did you mean: orders`)

	c.send("/backup dynamodb prod inventory full the warehouse")
	c.expect(`(?s)only visible.*Not allowed`)

	c.send("/backup dynamodb demo orders ful")
	c.expect(`(?s)only visible.*"ful".*Usage: ` + "`" + `/backup dynamodb`)

	c.send(`/backup dynamodb demo orders full before the migration`)
	c.expect(`(?s)#C01OPS — backupbot \(msg 1\):\n  @U0CONSOLE requested a full backup of \*demo\* / \*orders\*`)
	job := c.expect(`(?s)    ↳ \[[0-9:]+\] in thread of msg 1:\n      ✅ Submitted to Commvault: task \d+, job (\d+)`)

	c.send("/backup status " + job)
	c.expect(`(?s)only visible.*Job ` + job + `: \*(Waiting|Running|Completed)\*`)

	c.expect(`(?s)↳ \[[0-9:]+\] in thread of msg 1:\n      ✅ Job ` + job + ` Completed`)
	c.expect(`✎ \[[0-9:]+\] msg 1 edited:\n.*finished`)

	// An approval-gated account: the card, a refused self-approval, then an approver.
	c.send("/backup dynamodb prod orders full before the schema migration")
	id := c.expect(`(?s)Table group: orders \(subclient \d+\).*Approvers:\* @S02SRELEADS.*\[ Approve \] \(type: approve (r-[0-9a-f]+) --as U…\)`)
	c.send("approve " + id + " --as U0CONSOLE")
	c.expect(`(?s)only visible to @U0CONSOLE.*You may not approve ` + id)
	c.send("approve " + id)
	c.expect(`\(console\) U03CAROL clicks Approve on ` + id)
	c.expect(`(?s)Approved by @U03CAROL.*✅ Submitted to Commvault: task \d+, job \d+`)

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

// Piped input: the console waits for the jobs it follows before it exits.
func TestConsolePipedWaitsForJobs(t *testing.T) {
	clearEnv(t)
	var out, errs syncBuffer
	in := strings.NewReader("dynamodb demo payments incr nightly\n")
	code := run(t.Context(), []string{"console", "--job-duration", "1s"}, in, &out, &errs)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs.String())
	}
	for _, want := range []string{"Submitted to Commvault", "waiting for the jobs of 1 request", "Completed"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestConsoleUserFlag(t *testing.T) {
	clearEnv(t)
	var out, errs syncBuffer
	in := strings.NewReader("/backup dynamodb staging orders full\n")
	if code := run(t.Context(), []string{"console", "--user", "U09NOBODY"}, in, &out, &errs); code != 0 {
		t.Fatalf("exit %d: %s", code, errs.String())
	}
	if !strings.Contains(out.String(), "Not allowed") || strings.Contains(out.String(), "Submitted") {
		t.Errorf("a stranger's request was not refused:\n%s", out.String())
	}
}

func TestConsolePolicyFromEnvironment(t *testing.T) {
	clearEnv(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(path, []byte("accounts:\n  demo:\n    client: aws-demo-account\n    aprovers: [U0X]\n    requesters: [\"*\"]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("BACKUPBOT_POLICY", path)
	var out, errs syncBuffer
	code := run(t.Context(), []string{"console"}, strings.NewReader(""), &out, &errs)
	if code != exitUsage {
		t.Fatalf("exit %d, want %d for an invalid policy", code, exitUsage)
	}
	for _, want := range []string{path + ":4", "aprovers"} {
		if !strings.Contains(errs.String(), want) {
			t.Errorf("stderr %q lacks %q", errs.String(), want)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	const secret = "s3cr3t-Value-never-shown"
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"malformed duration", map[string]string{"COMMVAULT_TIMEOUT": "soon"}, []string{"console"}, "COMMVAULT_TIMEOUT: cannot read it as a duration (like 30s or 5m)"},
		{"poll interval too short", map[string]string{"BACKUPBOT_JOB_POLL_INTERVAL": "10ms"}, []string{"console"}, "BACKUPBOT_JOB_POLL_INTERVAL"},
		{"app token prefix", map[string]string{"SLACK_APP_TOKEN": "xoxb-" + secret}, []string{"console"}, "SLACK_APP_TOKEN"},
		{"bot token prefix", map[string]string{"SLACK_BOT_TOKEN": "xapp-" + secret}, []string{"console"}, "SLACK_BOT_TOKEN"},
		{"log level", map[string]string{"BACKUPBOT_LOG_LEVEL": "loud"}, []string{"console"}, "BACKUPBOT_LOG_LEVEL"},
		{"username without password", map[string]string{"COMMVAULT_USERNAME": "admin"}, []string{"console"}, "COMMVAULT_PASSWORD"},
		{"password without username", map[string]string{"COMMVAULT_PASSWORD": secret}, []string{"console"}, "COMMVAULT_USERNAME"},
		{"token and username", map[string]string{"COMMVAULT_AUTHTOKEN": secret, "COMMVAULT_USERNAME": "a", "COMMVAULT_PASSWORD": secret}, []string{"console"}, "COMMVAULT_AUTHTOKEN"},
		{"access token without refresh token", map[string]string{"COMMVAULT_ACCESS_TOKEN": secret}, []string{"console"},
			"COMMVAULT_REFRESH_TOKEN: required with COMMVAULT_ACCESS_TOKEN"},
		{"refresh token without access token", map[string]string{"COMMVAULT_REFRESH_TOKEN": secret}, []string{"console"},
			"COMMVAULT_ACCESS_TOKEN: required with COMMVAULT_REFRESH_TOKEN"},
		{"access token and login", map[string]string{"COMMVAULT_ACCESS_TOKEN": secret, "COMMVAULT_REFRESH_TOKEN": secret,
			"COMMVAULT_USERNAME": "a", "COMMVAULT_PASSWORD": secret}, []string{"console"}, "COMMVAULT_ACCESS_TOKEN: set either it"},
		{"access token and session token", map[string]string{"COMMVAULT_ACCESS_TOKEN": secret, "COMMVAULT_REFRESH_TOKEN": secret,
			"COMMVAULT_AUTHTOKEN": secret}, []string{"console"}, "COMMVAULT_AUTHTOKEN: set either it or COMMVAULT_ACCESS_TOKEN"},
		{"access token in the console without a database", map[string]string{"COMMVAULT_API_URL": "https://cs.example.com/commandcenter/api",
			"COMMVAULT_ACCESS_TOKEN": secret, "COMMVAULT_REFRESH_TOKEN": secret}, []string{"console"}, "BACKUPBOT_DATABASE_URL: required with COMMVAULT_ACCESS_TOKEN"},
		{"commvault URL", map[string]string{"COMMVAULT_API_URL": "ftp://cs/" + secret}, []string{"console"}, "COMMVAULT_API_URL"},
		{"commvault URL with credentials", map[string]string{"COMMVAULT_API_URL": "https://u:" + secret + "@cs/commandcenter/api"}, []string{"console"}, "COMMVAULT_API_URL"},
		{"database URL", map[string]string{"BACKUPBOT_DATABASE_URL": "mysql://x"}, []string{"console"}, "BACKUPBOT_DATABASE_URL"},
		{"job URL without {jobId}", map[string]string{"COMMVAULT_JOB_URL": "https://cs.example.com/commandcenter/#/jobs/"}, []string{"console"}, "COMMVAULT_JOB_URL: must hold {jobId}"},
		{"job URL not http", map[string]string{"COMMVAULT_JOB_URL": "javascript:alert({jobId})"}, []string{"console"}, "COMMVAULT_JOB_URL: not an http(s) URL"},
		{"job URL relative", map[string]string{"COMMVAULT_JOB_URL": "/jobs/{jobId}"}, []string{"console"}, "COMMVAULT_JOB_URL: not an http(s) URL"},
		{"job URL with a space", map[string]string{"COMMVAULT_JOB_URL": "https://cs.example.com/jobs/{jobId} x"}, []string{"console"}, "COMMVAULT_JOB_URL: must not hold spaces"},
		{"job URL with credentials", map[string]string{"COMMVAULT_JOB_URL": "https://u:" + secret + "@cs/#/jobs/{jobId}"}, []string{"console"}, "COMMVAULT_JOB_URL: must not hold credentials"},
		{"http addr", map[string]string{"BACKUPBOT_HTTP_ADDR": "8080"}, []string{"console"}, "BACKUPBOT_HTTP_ADDR"},
		{"command", map[string]string{"BACKUPBOT_COMMAND": "backup"}, []string{"console"}, "BACKUPBOT_COMMAND"},
		{"missing policy file", map[string]string{"BACKUPBOT_POLICY": "/nonexistent/policy.yaml"}, []string{"console"}, "/nonexistent/policy.yaml"},
		{"bot without slack tokens", nil, nil, "SLACK_APP_TOKEN"},
		{"bot without commvault", map[string]string{"SLACK_APP_TOKEN": "xapp-" + secret, "SLACK_BOT_TOKEN": "xoxb-" + secret,
			"BACKUPBOT_POLICY": "../../deploy/policy.yaml"}, nil, "COMMVAULT_API_URL"},
		{"unknown subcommand", nil, []string{"consle"}, `unknown command "consle"`},
		{"unknown flag", nil, []string{"console", "--usr", "U1"}, "usr"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clearEnv(t)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			var out, errs syncBuffer
			code := run(t.Context(), tt.args, strings.NewReader(""), &out, &errs)
			if code != exitUsage {
				t.Errorf("exit %d, want %d", code, exitUsage)
			}
			if !strings.Contains(errs.String(), tt.want) {
				t.Errorf("stderr = %q, want it to name %q", errs.String(), tt.want)
			}
			if strings.Contains(errs.String()+out.String(), secret) {
				t.Errorf("output shows a secret: %q", errs.String())
			}
		})
	}
}

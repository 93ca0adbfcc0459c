package main

import (
	"bytes"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/backupbot/backupbot/bot/slacktest"
	"github.com/backupbot/backupbot/commvault/simulator"
)

// The secrets of the check tests. Every one holds "secret", and so do the
// wrong values the tests set: no output line may contain the word.
const (
	checkBotToken = "xoxb-check-bot-secret-7Qz"
	checkAppToken = "xapp-1-check-app-secret-9Wy"
	checkPassword = "cv-pw-check-secret-3Rt"
)

// checkPolicy is the policy of the check tests: accounts of the
// simulator's catalogue.
const checkPolicy = `accounts:
  prod:
    client: aws-prod-account
    requesters: ["*"]
    tablegroups: [orders, payments]
  demo:
    client: aws-demo-account
    requesters: ["*"]
`

// checkLine is the shape of every line `backupbot check` prints.
var checkLine = regexp.MustCompile(`^(✓ .+?: .+|⚠ .+?: .+|✗ .+?: .+ — fix: .+)$`)

// startCheckEnv starts a fake Slack and a Commvault simulator on 127.0.0.1
// and points the environment at them, with policyText as the policy.
func startCheckEnv(t *testing.T, slackCfg slacktest.Config, policyText string) {
	t.Helper()
	clearEnv(t)
	slackCfg.BotToken, slackCfg.AppToken = checkBotToken, checkAppToken
	fake, err := slacktest.New(slackCfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fake.Close)
	srv := httptest.NewServer(simulator.New(simulator.Config{Password: checkPassword}))
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	policy := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(policy, []byte(policyText), 0o600); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{
		"SLACK_APP_TOKEN": fake.AppToken(), "SLACK_BOT_TOKEN": fake.BotToken(), "SLACK_API_URL": fake.APIURL(),
		"COMMVAULT_API_URL": srv.URL + "/commandcenter/api", "COMMVAULT_USERNAME": "admin", "COMMVAULT_PASSWORD": checkPassword,
		"BACKUPBOT_POLICY": policy, "BACKUPBOT_DATABASE_URL": "sqlite:" + filepath.Join(dir, "backupbot.db"),
	} {
		t.Setenv(k, v)
	}
}

// runCheckCommand runs `backupbot check args…` and returns its exit
// status and lines, after checking that every line has the check shape
// and that nothing shows a secret.
func runCheckCommand(t *testing.T, args ...string) (int, []string) {
	t.Helper()
	var out, errs syncBuffer
	code := run(t.Context(), append([]string{"check"}, args...), strings.NewReader(""), &out, &errs)
	if strings.Contains(out.String()+errs.String(), "secret") {
		t.Errorf("output shows a secret:\n%s%s", out.String(), errs.String())
	}
	if errs.String() != "" {
		t.Errorf("stderr = %q, want nothing", errs.String())
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	for _, l := range lines {
		if !checkLine.MatchString(l) {
			t.Errorf("line %q is not `✓ what: detail`, `⚠ what: warning` or `✗ what: problem — fix: …`", l)
		}
	}
	return code, lines
}

// closedPort is a 127.0.0.1 address where nothing listens.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

func TestCheckAllPass(t *testing.T) {
	startCheckEnv(t, slacktest.Config{}, checkPolicy)
	code, lines := runCheckCommand(t)
	if code != exitOK {
		t.Errorf("exit %d, want 0:\n%s", code, strings.Join(lines, "\n"))
	}
	want := []string{
		`^✓ configuration: `,
		`^✓ slack settings: `,
		`^✓ commvault settings: http://127\.0\.0\.1:\d+/commandcenter/api, login as admin`,
		`^✓ policy .*policy\.yaml: 2 accounts \(hash [0-9a-f]{12}\)$`,
		`^✓ commvault http://127\.0\.0\.1:\d+/commandcenter/api: logged in as admin$`,
		`^✓ account prod → aws-prod-account: 4 table groups, including the policy's orders, payments$`,
		`^✓ account demo → aws-demo-account: 4 table groups$`,
		`^✓ slack bot token: workspace T0TEAM \(Fake Team\), bot U0BOT \(backupbot\)$`,
		`^✓ slack bot token scopes: commands, chat:write, usergroups:read$`,
		`^✓ slack app token: socket mode enabled \(app A0APP\)$`,
		`^✓ database sqlite:.*backupbot\.db: opens, schema up to date, answers \(the file did not exist: this check created it`,
	}
	if len(lines) != len(want) {
		t.Errorf("%d lines, want %d:\n%s", len(lines), len(want), strings.Join(lines, "\n"))
	}
	for i, re := range want {
		if i < len(lines) && !regexp.MustCompile(re).MatchString(lines[i]) {
			t.Errorf("line %d = %q, want it to match %s", i+1, lines[i], re)
		}
	}

	// Run again: the database exists now, and nothing else changes.
	code, lines = runCheckCommand(t)
	if last := lines[len(lines)-1]; code != exitOK || strings.Contains(last, "created") {
		t.Errorf("second run: exit %d, database line %q", code, last)
	}
}

// Break-glass without an audit_channel is allowed, and warned about: its
// uses would be seen only in their own channel.
func TestCheckWarnsBreakglassWithoutAuditChannel(t *testing.T) {
	const glass = checkPolicy + `    approvers: [U0LEAD]
    breakglass: [U0ONCALL]
`
	for _, tt := range []struct {
		policy string
		warned bool
	}{{glass, true}, {"audit_channel: C0AUDIT\n" + glass, false}, {checkPolicy, false}} {
		startCheckEnv(t, slacktest.Config{}, tt.policy)
		code, lines := runCheckCommand(t)
		var warnings []string
		for _, l := range lines {
			if strings.HasPrefix(l, "⚠ ") {
				warnings = append(warnings, l)
			}
		}
		if code != exitOK {
			t.Errorf("exit %d, want 0: a warning fails nothing\n%s", code, strings.Join(lines, "\n"))
		}
		if got := len(warnings) == 1 && strings.Contains(warnings[0], "break-glass is enabled for demo") &&
			strings.Contains(warnings[0], "no audit_channel"); got != tt.warned || (!tt.warned && len(warnings) > 0) {
			t.Errorf("policy %q: warnings %q, want warned: %v", tt.policy, warnings, tt.warned)
		}
	}
}

func TestCheckSimulate(t *testing.T) {
	startCheckEnv(t, slacktest.Config{}, checkPolicy)
	t.Setenv("COMMVAULT_API_URL", "http://"+closedPort(t)+"/commandcenter/api") // not used with --simulate
	code, lines := runCheckCommand(t, "--simulate")
	out := strings.Join(lines, "\n")
	if code != exitOK || !strings.Contains(out, "✓ commvault (built-in simulator at http://127.0.0.1:") ||
		!strings.Contains(out, "✓ account prod → aws-prod-account") {
		t.Errorf("exit %d:\n%s", code, out)
	}
}

func TestCheckFailures(t *testing.T) {
	tests := []struct {
		name   string
		slack  slacktest.Config
		policy string            // "": checkPolicy
		env    map[string]string // applied after startCheckEnv; "COMMVAULT_DOWN" sets COMMVAULT_API_URL to a closed port
		want   []string          // regular expressions, each matching one line, in order
		absent []string          // regular expressions no line may match
	}{
		{
			name: "malformed variable",
			env:  map[string]string{"COMMVAULT_TIMEOUT": "soon"},
			want: []string{`^✗ configuration: COMMVAULT_TIMEOUT: cannot read it as a .*[dD]uration.* \(nothing else was checked\) — fix: correct COMMVAULT_TIMEOUT in the environment`},
			// A configuration error stops everything.
			absent: []string{`^. policy`, `^. slack`, `^. database`},
		},
		{
			name: "missing slack token",
			env:  map[string]string{"SLACK_APP_TOKEN": ""},
			want: []string{
				`^✗ slack settings: SLACK_APP_TOKEN: required .*; Slack was not checked — fix: set SLACK_BOT_TOKEN `,
				`^✓ account prod → aws-prod-account`,
				`^✓ database `,
			},
			absent: []string{`^. slack bot token`, `^. slack app token`},
		},
		{
			name: "missing commvault settings",
			env:  map[string]string{"COMMVAULT_API_URL": "", "COMMVAULT_USERNAME": "", "COMMVAULT_PASSWORD": ""},
			want: []string{
				`^✗ commvault settings: COMMVAULT_API_URL: required \(or run with --simulate\); Commvault and the policy's accounts were not checked — fix: `,
				`^✓ policy `,
				`^✓ slack bot token: `,
			},
			absent: []string{`^. account`},
		},
		{
			name: "invalid policy file",
			policy: `accounts:
  demo:
    client: aws-demo-account
    aprovers: [U0X]
    requesters: ["*"]
`,
			want: []string{
				`^✗ policy: /\S+/policy\.yaml:4: accounts\.demo\.aprovers: unknown field .*; Commvault and the accounts were not checked — fix: correct the file`,
				`^✓ slack bot token: `,
				`^✓ database `,
			},
			absent: []string{`^. commvault http`, `^. account`},
		},
		{
			name: "missing policy file",
			env:  map[string]string{"BACKUPBOT_POLICY": "/nonexistent/policy.yaml"},
			want: []string{`^✗ policy: open /nonexistent/policy\.yaml: no such file.* — fix: set BACKUPBOT_POLICY to the policy file's path$`},
		},
		{
			name: "commvault down",
			env:  map[string]string{"COMMVAULT_DOWN": ""},
			want: []string{
				`^✗ commvault http://127\.0\.0\.1:\d+/commandcenter/api: cannot connect: .*connection refused; the accounts were not checked — fix: check COMMVAULT_API_URL`,
				`^✓ slack bot token: `,
				`^✓ slack app token: `,
				`^✓ database `,
			},
			absent: []string{`^. account`},
		},
		{
			name: "bad commvault password",
			env:  map[string]string{"COMMVAULT_PASSWORD": "wrong-secret-password"},
			want: []string{
				`^✗ commvault http://\S+: login refused: error 1127: Invalid Username or Password; the accounts were not checked — fix: check COMMVAULT_USERNAME and COMMVAULT_PASSWORD`,
				`^✓ slack bot token: `,
			},
			absent: []string{`^. account`},
		},
		{
			name: "refused commvault token",
			env:  map[string]string{"COMMVAULT_USERNAME": "", "COMMVAULT_PASSWORD": "", "COMMVAULT_AUTHTOKEN": "QSDK wrong-secret-token"},
			want: []string{`^✗ commvault http://\S+: the session token was refused: the Commvault session token expired; .* — fix: set COMMVAULT_ACCESS_TOKEN and COMMVAULT_REFRESH_TOKEN`},
		},
		{
			name: "bare commvault token",
			env:  map[string]string{"COMMVAULT_USERNAME": "", "COMMVAULT_PASSWORD": "", "COMMVAULT_AUTHTOKEN": "wrong-secret-token"},
			want: []string{`^✗ commvault http://\S+: commvault refused the session token: session tokens start with "QSDK " .* — fix: give COMMVAULT_AUTHTOKEN with its "QSDK " prefix`},
		},
		{
			name: "unknown account client",
			policy: checkPolicy + `  ghost:
    client: aws-nosuch-account
    requesters: ["*"]
`,
			want: []string{
				`^✓ commvault http://\S+: logged in as admin$`,
				`^✓ account prod → aws-prod-account: `,
				`^✓ account demo → aws-demo-account: `,
				`^✗ account ghost: client aws-nosuch-account: Commvault says error 2: Client \[aws-nosuch-account\] not found\. — fix: set accounts\.ghost\.client in the policy to the cloud account's client name in Commvault$`,
				`^✓ slack bot token: `,
			},
		},
		{
			name: "unknown account client first",
			policy: `accounts:
  ghost:
    client: aws-nosuch-account
    requesters: ["*"]
  demo:
    client: aws-demo-account
    requesters: ["*"]
`,
			// The login check lists the first account: its missing client is
			// the account's failure, not the login's.
			want: []string{
				`^✓ commvault http://\S+: logged in as admin$`,
				`^✗ account ghost: client aws-nosuch-account: Commvault says error 2: `,
				`^✓ account demo → aws-demo-account: `,
			},
		},
		{
			name: "unknown table group",
			policy: `accounts:
  prod:
    client: aws-prod-account
    requesters: ["*"]
    tablegroups: [ordrs, payments, zzz]
`,
			want: []string{
				`^✓ account prod → aws-prod-account: 4 table groups$`,
				`^✗ account prod: table group "ordrs" not found in aws-prod-account \(did you mean orders\?\) — fix: correct tablegroups in the policy$`,
				`^✗ account prod: table group "zzz" not found in aws-prod-account \(it has orders, payments, inventory, default\) — fix: correct tablegroups in the policy$`,
				`^✓ slack bot token: `,
			},
		},
		{
			name: "bad slack bot token",
			env:  map[string]string{"SLACK_BOT_TOKEN": "xoxb-wrong-secret"},
			want: []string{
				`^✗ slack bot token: Slack says invalid_auth — fix: copy the Bot User OAuth Token \(xoxb-…\) from the app's OAuth & Permissions page into SLACK_BOT_TOKEN`,
				// The checks after it still run.
				`^✓ slack app token: socket mode enabled`,
				`^✓ database `,
			},
			absent: []string{`^. slack bot token scopes`},
		},
		{
			name: "bad slack app token",
			env:  map[string]string{"SLACK_APP_TOKEN": "xapp-1-wrong-secret"},
			want: []string{
				`^✓ slack bot token: `,
				`^✓ slack bot token scopes: `,
				`^✗ slack app token: Slack says invalid_auth — fix: create an App-Level Token with the connections:write scope .* and put it in SLACK_APP_TOKEN$`,
				`^✓ database `,
			},
		},
		{
			name:  "missing scope",
			slack: slacktest.Config{Scopes: []string{"commands", "chat:write", "users:read"}},
			want: []string{
				`^✓ slack bot token: `,
				`^✗ slack bot token scopes: missing usergroups:read — fix: add them in the app's OAuth & Permissions, or recreate the app from deploy/slack-app-manifest\.yaml, and reinstall$`,
				`^✓ slack app token: `,
			},
		},
		{
			name: "database directory missing",
			env:  map[string]string{"BACKUPBOT_DATABASE_URL": "sqlite:/nonexistent/dir/backupbot.db"},
			want: []string{`^✗ database sqlite:/nonexistent/dir/backupbot\.db: .*does not exist — fix: set BACKUPBOT_DATABASE_URL`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			policy := tt.policy
			if policy == "" {
				policy = checkPolicy
			}
			startCheckEnv(t, tt.slack, policy)
			for k, v := range tt.env {
				if k == "COMMVAULT_DOWN" {
					k, v = "COMMVAULT_API_URL", "http://"+closedPort(t)+"/commandcenter/api"
				}
				t.Setenv(k, v)
			}
			code, lines := runCheckCommand(t)
			out := strings.Join(lines, "\n")
			if code != exitError {
				t.Errorf("exit %d, want %d", code, exitError)
			}
			next := 0
			for _, re := range tt.want {
				rx := regexp.MustCompile(re)
				for next < len(lines) && !rx.MatchString(lines[next]) {
					next++
				}
				if next == len(lines) {
					t.Errorf("no line matching %s (in order); output:\n%s", re, out)
					break
				}
				next++
			}
			for _, re := range tt.absent {
				for _, l := range lines {
					if regexp.MustCompile(re).MatchString(l) {
						t.Errorf("line %q should not be there (%s); output:\n%s", l, re, out)
					}
				}
			}
		})
	}
}

func TestCheckUsage(t *testing.T) {
	clearEnv(t)
	for _, args := range [][]string{{"--simulat"}, {"now"}} {
		var out, errs syncBuffer
		if code := run(t.Context(), append([]string{"check"}, args...), strings.NewReader(""), &out, &errs); code != exitUsage {
			t.Errorf("check %q: exit %d, want %d", args, code, exitUsage)
		}
		if out.String() != "" || errs.String() == "" {
			t.Errorf("check %q: stdout %q, stderr %q; want only stderr", args, out.String(), errs.String())
		}
	}
}

func TestCheckScopesHeader(t *testing.T) {
	tests := []struct {
		name   string
		header http.Header
		want   string
	}{
		{"not reported", http.Header{}, "✗ slack bot token scopes: Slack did not report the token's scopes"},
		{"none", http.Header{"X-Oauth-Scopes": {""}}, "✗ slack bot token scopes: missing commands, chat:write, usergroups:read — fix:"},
		{"spaces and extras", http.Header{"X-Oauth-Scopes": {"usergroups:read, commands,chat:write,users:read"}},
			"✓ slack bot token scopes: commands, chat:write, usergroups:read; also granted, not needed: users:read"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			(&checkReport{w: &out}).scopes(tt.header)
			if !strings.HasPrefix(out.String(), tt.want) {
				t.Errorf("scopes(%v) = %q, want %q…", tt.header, out.String(), tt.want)
			}
		})
	}
}

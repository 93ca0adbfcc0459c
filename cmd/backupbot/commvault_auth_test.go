package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/backupbot/backupbot/bot/slacktest"
	"github.com/backupbot/backupbot/commvault"
	"github.com/backupbot/backupbot/commvault/simulator"
)

// settableClock is a clock for the simulator that a test moves.
type settableClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *settableClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *settableClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// lineMatching is the first line matching re, or "".
func lineMatching(lines []string, re string) string {
	r := regexp.MustCompile(re)
	for _, l := range lines {
		if r.MatchString(l) {
			return l
		}
	}
	return ""
}

// `backupbot check` with an access token says so, says when it expires
// once Commvault told, and continues the chain from the database: run
// again after a renewal, it uses the stored pair, not the configured one
// (which Commvault would take for an old pair and invalidate the chain).
func TestCheckAccessToken(t *testing.T) {
	startCheckEnv(t, slacktest.Config{}, checkPolicy)
	clock := &settableClock{t: time.Now()}
	sim := simulator.New(simulator.Config{Password: checkPassword, Now: clock.now})
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	access, refresh := sim.IssueAccessToken()
	t.Setenv("COMMVAULT_API_URL", srv.URL+"/commandcenter/api")
	t.Setenv("COMMVAULT_USERNAME", "")
	t.Setenv("COMMVAULT_PASSWORD", "")
	t.Setenv("COMMVAULT_ACCESS_TOKEN", access)
	t.Setenv("COMMVAULT_REFRESH_TOKEN", refresh)

	runs := []struct {
		name    string
		advance time.Duration
		want    string
	}{
		{"fresh token", 0, `^✓ commvault http://\S+: access token accepted; renewed with its refresh token when it expires \(Commvault gives the expiry at the first renewal\)$`},
		{"expired, renewed", 31 * time.Minute, `^✓ commvault http://\S+: access token accepted; the current one expires at \d\d:\d\d UTC \(in \S+\) and is renewed before then$`},
		{"the stored pair", time.Minute, `^✓ commvault http://\S+: access token accepted; the current one expires at `},
	}
	for _, run := range runs {
		clock.advance(run.advance)
		code, lines := runCheckCommand(t)
		if code != exitOK {
			t.Fatalf("%s: exit %d:\n%s", run.name, code, strings.Join(lines, "\n"))
		}
		if lineMatching(lines, `^✓ commvault settings: \S+, access token with refresh token \(COMMVAULT_ACCESS_TOKEN, renewed; the newest pair kept in sqlite:\S+backupbot\.db\)`) == "" {
			t.Errorf("%s: no settings line naming the access token and where its chain is kept:\n%s", run.name, strings.Join(lines, "\n"))
		}
		if lineMatching(lines, run.want) == "" {
			t.Errorf("%s: no line matching %s:\n%s", run.name, run.want, strings.Join(lines, "\n"))
		}
		for _, r := range sim.Requests() {
			for _, l := range lines {
				if r.Bearer != "" && strings.Contains(l, r.Bearer) {
					t.Errorf("%s: line %q shows an access token", run.name, l)
				}
			}
		}
	}
	if n, inv := sim.Renewals(), sim.InvalidatedChains(); n != 1 || inv != 0 {
		t.Errorf("renewals = %d, invalidated chains = %d; want 1 and 0", n, inv)
	}
}

// tokenEnv is env with an access token pair instead of the username and
// password.
func tokenEnv(env []string, access, refresh string) []string {
	var out []string
	for _, kv := range env {
		if !strings.HasPrefix(kv, "COMMVAULT_USERNAME=") && !strings.HasPrefix(kv, "COMMVAULT_PASSWORD=") {
			out = append(out, kv)
		}
	}
	return append(out, "COMMVAULT_ACCESS_TOKEN="+access, "COMMVAULT_REFRESH_TOKEN="+refresh)
}

// Two replicas on PostgreSQL share one access token chain across several
// expiries: whichever renews, the other uses the newest pair (the
// simulator refuses a superseded one), and Commvault never sees an old
// pair renewed, which would invalidate the chain.
func TestReplicasShareOneTokenChain(t *testing.T) {
	db := postgresURL(t)
	fake, err := slacktest.New(slacktest.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fake.Close)
	const ttl = 3 * time.Second
	sim := simulator.New(simulator.Config{AccessTokenTTL: ttl, JobDuration: 5 * ttl})
	cvURL := newLocalServer(t, sim) + "/commandcenter/api"
	policy := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(policy, []byte(slackPolicy), 0o600); err != nil {
		t.Fatal(err)
	}
	w := &subprocessWorld{fake: fake, sim: sim, cvURL: cvURL, policy: policy, db: db}
	access, refresh := sim.IssueAccessToken()
	env := tokenEnv(subprocessEnv(t, fake, cvURL, policy, db), access, refresh)
	a := startProcess(t, env)
	w.waitFor(t, "replica A's connections", a.log, func() bool { return fake.Connections() == 2 })
	b := startProcess(t, env)
	w.waitFor(t, "replica B's connections", b.log, func() bool { return fake.Connections() == 4 })

	if _, err := fake.SlashCommand(t.Context(), slacktest.SlashCommand{UserID: "U0ALICE", ChannelID: "C0OPS",
		Text: "dynamodb demo orders full"}); err != nil {
		t.Fatal(err)
	}
	w.waitFor(t, "the submission", a.log, func() bool { return len(fake.Messages("C0OPS")) >= 2 })
	parent := fake.Messages("C0OPS")[0]
	// While the job runs (five token lifetimes), the lease holder polls it,
	// and status commands reach both replicas: from several users, since
	// each may ask only 10 a minute.
	sent := 0
	asker := func(i int) string { return fmt.Sprintf("U0BOB%d", i%5) }
	answers := func() []slacktest.Ephemeral {
		var out []slacktest.Ephemeral
		for i := range 5 {
			out = append(out, answers(fake, asker(i))...)
		}
		return out
	}
	for end := time.Now().Add(5 * ttl); time.Now().Before(end); sent++ {
		if _, err := fake.SlashCommand(t.Context(), slacktest.SlashCommand{UserID: asker(sent), ChannelID: "C0OPS", Text: "status 149800"}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(ttl / 5)
	}
	w.waitFor(t, "every status answer", b.log, func() bool { return len(answers()) == sent })
	w.waitFor(t, "the job's end", a.log, func() bool {
		for _, m := range fake.Thread("C0OPS", parent.TS) {
			if strings.Contains(m.Text, "Completed") {
				return true
			}
		}
		return false
	})
	for _, e := range answers() {
		if !strings.HasPrefix(e.Text, "Job 149800: ") {
			t.Errorf("status answer %q, want the job's state", e.Text)
		}
	}
	conns := map[int]bool{}
	for _, ack := range fake.Acks() {
		conns[ack.Conn] = true
	}
	if len(conns) < 3 {
		t.Errorf("the commands reached %d connections, want both replicas' (at least 3 of 4)", len(conns))
	}
	if n, inv := sim.Renewals(), sim.InvalidatedChains(); n < 3 || inv != 0 {
		t.Errorf("renewals = %d, invalidated chains = %d; want at least 3 renewals (several expiries) and no invalidation", n, inv)
	}
	for _, p := range []*process{a, b} {
		for _, secret := range []string{access, refresh} {
			if strings.Contains(p.log.String(), secret) {
				t.Errorf("a replica's log shows a token")
			}
		}
		for _, r := range sim.Requests() {
			if r.Bearer != "" && strings.Contains(p.log.String(), r.Bearer) {
				t.Fatalf("a replica's log shows a renewed access token")
			}
		}
	}
}

// sessionToken logs in to the simulator at cvURL and returns the session
// token it issued.
func sessionToken(t *testing.T, cvURL string) string {
	t.Helper()
	body := `{"username":"admin","password":"` + base64.StdEncoding.EncodeToString([]byte(commvaultPassword)) + `"}`
	resp, err := http.Post(cvURL+"/Login", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Token string `json:"token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || !strings.HasPrefix(out.Token, "QSDK ") {
		t.Fatalf("login: %v, token %q", err, out.Token)
	}
	return out.Token
}

// A session token that expires: /readyz fails, the log says what to do,
// and the user is told Commvault is unavailable.
func TestSessionTokenExpiryMakesTheBotUnready(t *testing.T) {
	w := newSubprocessWorld(t)
	var env []string
	for _, kv := range subprocessEnv(t, w.fake, w.cvURL, w.policy, w.db) {
		if !strings.HasPrefix(kv, "COMMVAULT_USERNAME=") && !strings.HasPrefix(kv, "COMMVAULT_PASSWORD=") {
			env = append(env, kv)
		}
	}
	token := sessionToken(t, w.cvURL)
	p := startProcess(t, append(env, "COMMVAULT_AUTHTOKEN="+token))
	base := "http://" + opsAddr(t, p.log.String)
	w.waitFor(t, "ready", p.log, func() bool { code, _ := get(t, base+"/readyz"); return code == 200 })
	if _, body := get(t, base+"/readyz"); !strings.Contains(body, "✓ commvault credentials") {
		t.Errorf("/readyz = %q, want the commvault credentials check", body)
	}

	w.sim.ExpireTokens()
	if _, err := w.fake.SlashCommand(t.Context(), slacktest.SlashCommand{UserID: "U0ALICE", ChannelID: "C0OPS", Text: "status 149800"}); err != nil {
		t.Fatal(err)
	}
	w.waitFor(t, "the answer", p.log, func() bool { return len(answers(w.fake, "U0ALICE")) == 1 })
	if got := answers(w.fake, "U0ALICE")[0].Text; !strings.HasPrefix(got, "Commvault is unavailable") {
		t.Errorf("answer = %q, want Commvault is unavailable", got)
	}
	code, body := get(t, base+"/readyz")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "✗ commvault credentials") ||
		strings.Contains(body, commvault.ErrSessionExpired.Error()) {
		t.Errorf("/readyz = %d %q, want 503 naming the failing check only", code, body)
	}
	w.waitFor(t, "the log's reason", p.log, func() bool {
		return strings.Contains(p.log.String(), `"msg":"readiness check fails","check":"commvault credentials"`) &&
			strings.Contains(p.log.String(), commvault.ErrSessionExpired.Error())
	})
	if want := `"msg":"the Commvault session token expired; use an access token with its refresh token, or a username and password"`; !strings.Contains(p.log.String(), want) {
		t.Errorf("log lacks %s:\n%s", want, p.log.String())
	}
	if strings.Contains(p.log.String(), strings.TrimPrefix(token, "QSDK ")) {
		t.Error("the log shows the session token")
	}
}

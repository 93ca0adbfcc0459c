package main

import (
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/backupbot/backupbot/bot/slacktest"
)

// A SIGHUP while the bot starts (here: while Slack's auth.test is held)
// does not end it: the reload is queued and done once it is up.
func TestSIGHUPDuringStartUpIsQueued(t *testing.T) {
	w := newSubprocessWorld(t)
	target, err := url.Parse(strings.TrimSuffix(w.fake.APIURL(), "/api/"))
	if err != nil {
		t.Fatal(err)
	}
	held, release := make(chan struct{}, 1), make(chan struct{})
	proxy := httputil.NewSingleHostReverseProxy(target)
	front := newLocalServer(t, http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/auth.test") {
			select {
			case held <- struct{}{}:
			default:
			}
			<-release
		}
		proxy.ServeHTTP(rw, r)
	}))
	var once sync.Once
	releaseAuthTest := func() { once.Do(func() { close(release) }) }
	t.Cleanup(releaseAuthTest) // before the server closes: it waits for the held call
	var env []string
	for _, kv := range subprocessEnv(t, w.fake, w.cvURL, w.policy, w.db) {
		if strings.HasPrefix(kv, "SLACK_API_URL=") {
			kv = "SLACK_API_URL=" + front + "/api/"
		}
		env = append(env, kv)
	}
	p := startProcess(t, env)
	select {
	case <-held:
	case <-time.After(30 * time.Second):
		t.Fatalf("the bot never called auth.test; log:\n%s", p.log.String())
	}
	base := "http://" + opsAddr(t, p.log.String)
	if err := os.WriteFile(w.policy, []byte("accounts:\n  reloaded:\n    client: aws-demo-account\n    requesters: [\"*\"]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	for range 5 { // a few round trips: time for a SIGHUP's default action to end the process
		if code, _ := get(t, base+"/healthz"); code != http.StatusOK {
			t.Fatalf("/healthz = %d after a SIGHUP during start-up", code)
		}
	}
	releaseAuthTest()
	w.waitFor(t, "connections", p.log, func() bool { return w.fake.Connections() >= 2 })
	w.waitFor(t, "the queued reload", p.log, func() bool { return strings.Contains(p.log.String(), "policy reloaded") })
	if _, err := w.fake.SlashCommand(t.Context(), slacktest.SlashCommand{UserID: "U0ALICE", ChannelID: "C0OPS", Text: "list"}); err != nil {
		t.Fatal(err)
	}
	w.waitFor(t, "an answer", p.log, func() bool { return len(w.fake.Ephemerals("U0ALICE")) == 1 })
	if got := w.fake.Ephemerals("U0ALICE")[0].Text; !strings.Contains(got, "*reloaded*") {
		t.Errorf("list = %q, want the policy reloaded during start-up", got)
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	if code := p.wait(t, 20*time.Second); code != 0 {
		t.Errorf("exit %d; log:\n%s", code, p.log.String())
	}
}

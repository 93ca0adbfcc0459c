package commvault

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/backupbot/backupbot/commvault/simulator"
)

const (
	leakToken    = "QSDK sekrit-TOKEN-0xDEAD"
	leakPassword = "hunter2-SEKRIT-pw"
)

// checkNoSecret fails when err, printed any way, shows one of secrets.
func checkNoSecret(t *testing.T, what string, err error, secrets ...string) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: no error, want one", what)
		return
	}
	for _, s := range []string{err.Error(), fmt.Sprintf("%v", err), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)} {
		if leak, ok := containsAny(s, secrets...); ok {
			t.Errorf("%s: error %q contains the secret %q", what, s, leak)
		}
	}
}

// TestNoSecretInErrors drives every failure mode with a distinctive token
// and password and checks no error shows them.
func TestNoSecretInErrors(t *testing.T) {
	ctx := context.Background()
	secrets := []string{leakToken, "sekrit-TOKEN", leakPassword, encodePassword(leakPassword)}

	t.Run("static token against the simulator", func(t *testing.T) {
		e := newEnv(t, simulator.Config{Tokens: []string{leakToken}})
		c := e.client(t, func(c *Config) { c.Token = leakToken; c.Timeout = 200 * time.Millisecond })
		faults := []simulator.FaultKind{
			simulator.FaultUnauthorized, simulator.FaultHTTP500JSON, simulator.FaultHTTP500HTML,
			simulator.FaultErrorCode, simulator.FaultRateLimited, simulator.FaultNoJobIDs, simulator.FaultHang,
		}
		for _, k := range faults {
			e.sim.Inject(simulator.Fault{Op: simulator.OpCreateTask, Kind: k})
			_, err := c.CreateBackup(ctx, prodOrders(), Full)
			checkNoSecret(t, "CreateBackup with "+string(k), err, secrets...)
			if k == simulator.FaultNoJobIDs {
				continue // CreateTask only
			}
			e.sim.Inject(simulator.Fault{Op: simulator.OpJob, Kind: k})
			_, err = c.Jobs(ctx, prodClientID, time.Hour)
			checkNoSecret(t, "Jobs with "+string(k), err, secrets...)
		}
		_, err := c.TableGroup(ctx, prodAccount, "nope")
		checkNoSecret(t, "TableGroup not found", err, secrets...)
		_, err = c.Subclients(ctx, "no-such-account")
		checkNoSecret(t, "Subclients unknown client", err, secrets...)
		_, err = c.Job(ctx, "999999")
		checkNoSecret(t, "Job not found", err, secrets...)
		bad := prodOrders()
		bad.Entity = []byte(`{"subclientId":0}`)
		bad.ID = 0
		_, err = c.CreateBackup(ctx, bad, Full)
		checkNoSecret(t, "CreateBackup invalid subclient", err, secrets...)
	})

	t.Run("servers that echo secrets", func(t *testing.T) {
		echoes := map[string]func(token, body string) (int, string, string){
			"HTML title": func(tok, _ string) (int, string, string) {
				return 500, "text/html", "<html><title>Error for " + tok + "</title></html>"
			},
			"HTML body": func(tok, _ string) (int, string, string) {
				return 500, "text/html", "<html><body><pre>Authtoken: " + tok + "\n</pre></body></html>"
			},
			"JSON message": func(tok, _ string) (int, string, string) {
				m, _ := json.Marshal(map[string]any{"errorCode": 5, "errorMessage": "token " + tok + " expired"})
				return 401, "application/json", string(m)
			},
			"errorCode in 200": func(tok, _ string) (int, string, string) {
				m, _ := json.Marshal(map[string]any{"errorCode": 9, "errorMessage": "bad token " + tok})
				return 200, "application/json", string(m)
			},
			"plain text split": func(tok, _ string) (int, string, string) {
				return 400, "text/plain", strings.Replace("bad header "+tok, " ", "\n  ", -1)
			},
			"long body": func(tok, _ string) (int, string, string) {
				return 503, "text/plain", strings.Repeat("x", maxMessage-8) + tok
			},
			"no jobs with message": func(tok, _ string) (int, string, string) {
				m, _ := json.Marshal(map[string]any{"errorMessage": "no job for " + tok})
				return 200, "application/json", string(m)
			},
		}
		for name, echo := range echoes {
			base := stub(t, func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				code, ct, body := echo(r.Header.Get("Authtoken"), string(b))
				w.Header().Set("Content-Type", ct)
				w.WriteHeader(code)
				_, _ = io.WriteString(w, body)
			})
			c := stubClient(t, base, 2*time.Second)
			c.token = leakToken
			_, err := c.CreateBackup(ctx, prodOrders(), Full)
			checkNoSecret(t, "CreateBackup, echo "+name, err, secrets...)
			if _, err = c.Subclients(ctx, prodAccount); err != nil || name != "no jobs with message" {
				checkNoSecret(t, "Subclients, echo "+name, err, secrets...)
			}
		}
	})

	t.Run("login", func(t *testing.T) {
		// The simulator knows another password: a bad-password login.
		e := newEnv(t, simulator.Config{Username: testUser, Password: "the-right-one"})
		c := e.loginClient(t, func(c *Config) { c.Password = leakPassword; c.Timeout = 200 * time.Millisecond })
		_, err := c.Subclients(ctx, prodAccount)
		checkNoSecret(t, "bad password", err, secrets...)
		for _, k := range []simulator.FaultKind{simulator.FaultHTTP500HTML, simulator.FaultHang, simulator.FaultUnauthorized, simulator.FaultRateLimited} {
			e.sim.Inject(simulator.Fault{Op: simulator.OpLogin, Kind: k})
			_, err := c.Job(ctx, "1")
			checkNoSecret(t, "login with "+string(k), err, secrets...)
		}

		// A server that quotes the login body (password, base64 password).
		base := stub(t, func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			var in map[string]any
			_ = json.Unmarshal(b, &in)
			m, _ := json.Marshal(map[string]any{"errList": []any{map[string]any{
				"errorCode": 1127, "errLogMessage": fmt.Sprintf("bad login %s (%v) for %v", b, in["password"], leakPassword),
			}}})
			_, _ = w.Write(m)
		})
		c2, err := New(Config{BaseURL: base, Username: testUser, Password: leakPassword})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c2.Job(ctx, "1")
		checkNoSecret(t, "login echoing its body", err, secrets...)
	})

	t.Run("session token", func(t *testing.T) {
		e := newEnv(t, simulator.Config{})
		c := e.loginClient(t, func(c *Config) { c.Timeout = 200 * time.Millisecond })
		if _, err := c.Subclients(ctx, prodAccount); err != nil {
			t.Fatal(err)
		}
		session := e.sim.Requests()[1].Authtoken
		if session == "" {
			t.Fatal("no session token seen")
		}
		tokenPart := strings.TrimPrefix(session, "QSDK ")
		for _, k := range []simulator.FaultKind{simulator.FaultHTTP500HTML, simulator.FaultHang, simulator.FaultErrorCode} {
			e.sim.Inject(simulator.Fault{Op: simulator.OpCreateTask, Kind: k})
			_, err := c.CreateBackup(ctx, prodOrders(), Full)
			checkNoSecret(t, "session, CreateBackup with "+string(k), err, session, tokenPart, testPassword)
		}
		e.sim.Inject(simulator.Fault{Op: simulator.OpJob, Kind: simulator.FaultUnauthorized, Times: 2})
		_, err := c.Job(ctx, "1")
		checkNoSecret(t, "session, 401 twice", err, session, tokenPart, testPassword)
	})

	t.Run("transport", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		c := stubClient(t, "http://"+addr+"/commandcenter/api", time.Second)
		c.token = leakToken
		_, err = c.CreateBackup(ctx, prodOrders(), Full)
		checkNoSecret(t, "refused", err, secrets...)

		base := stub(t, cut)
		c = stubClient(t, base, time.Second)
		c.token = leakToken
		_, err = c.CreateBackup(ctx, prodOrders(), Full)
		checkNoSecret(t, "cut", err, secrets...)
	})
}

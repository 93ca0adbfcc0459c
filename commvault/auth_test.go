package commvault

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/backupbot/backupbot/commvault/simulator"
)

func TestStaticToken(t *testing.T) {
	e := newEnv(t, simulator.Config{})
	c := e.client(t, nil)
	if _, err := c.Subclients(context.Background(), prodAccount); err != nil {
		t.Fatalf("Subclients error: %v", err)
	}
	reqs := e.sim.Requests()
	if len(reqs) != 2 || reqs[0].Op != simulator.OpSubclient || reqs[1].Op != simulator.OpInstance {
		t.Fatalf("requests = %+v, want the listing and its instance's type", reqs)
	}
	for _, r := range reqs {
		if r.Authtoken != testToken || r.Bearer != "" {
			t.Errorf("request %s sent Authtoken %q, Bearer %q; want Authtoken %q", r.Path, r.Authtoken, r.Bearer, testToken)
		}
	}

	// A static token cannot be renewed: a 401 is the answer.
	e.sim.Inject(simulator.Fault{Op: simulator.OpJob, Kind: simulator.FaultUnauthorized})
	_, err := c.Job(context.Background(), "149800")
	var ae *APIError
	if !errors.As(err, &ae) || ae.StatusCode != http.StatusUnauthorized || ae.Code != 5 {
		t.Errorf("Job with a refused static token = %v, want *APIError 401 code 5", err)
	}
	if n := e.count(simulator.OpLogin); n != 0 {
		t.Errorf("static-token client made %d logins, want 0", n)
	}
	if n := e.count(simulator.OpJob); n != 1 {
		t.Errorf("static-token client sent %d job requests, want 1 (no repeat)", n)
	}
}

func TestLogin(t *testing.T) {
	e := newEnv(t, simulator.Config{})
	c := e.loginClient(t, nil)
	if _, err := c.Subclients(context.Background(), prodAccount); err != nil {
		t.Fatalf("Subclients error: %v", err)
	}
	reqs := e.sim.Requests()
	if len(reqs) != 3 || reqs[0].Op != simulator.OpLogin || reqs[1].Op != simulator.OpSubclient || reqs[2].Op != simulator.OpInstance {
		t.Fatalf("requests = %+v, want Login then Subclient and Instance", reqs)
	}
	body, _ := reqs[0].Body.(map[string]any)
	if body["username"] != testUser || body["password"] != encodePassword(testPassword) ||
		!strings.HasPrefix(fmt.Sprint(body["deviceId"]), "backupbot-") || body["timeout"] != float64(30) {
		t.Errorf("login body = %v, want username, base64 password, deviceId, timeout 30", body)
	}
	if tok := reqs[1].Authtoken; !strings.HasPrefix(tok, "QSDK ") {
		t.Errorf("Authtoken after login = %q, want the login token as is (QSDK …)", tok)
	}
	// The session is reused.
	if _, err := c.SubclientsByClientID(context.Background(), prodClientID); err != nil {
		t.Fatal(err)
	}
	if n := e.count(simulator.OpLogin); n != 1 {
		t.Errorf("logins = %d, want 1", n)
	}
}

func TestLoginBadPassword(t *testing.T) {
	e := newEnv(t, simulator.Config{})
	c := e.loginClient(t, func(c *Config) { c.Password = "wrong-pw-Xy" })
	_, err := c.Subclients(context.Background(), prodAccount)
	var ae *APIError
	if !errors.As(err, &ae) || ae.Code != 1127 || ae.Message != "Invalid Username or Password" {
		t.Fatalf("Subclients with a bad password = %v, want *APIError 1127 Invalid Username or Password", err)
	}
	if !strings.Contains(err.Error(), "log in as "+testUser) {
		t.Errorf("error %q does not name the login", err)
	}
	if n := e.count(simulator.OpSubclient); n != 0 {
		t.Errorf("subclient requests = %d after a failed login, want 0", n)
	}
}

func TestLoginTokenShapes(t *testing.T) {
	tests := []struct {
		name, body string
		wantToken  string
		wantErr    string
	}{
		{"token", `{"token":"QSDK a1","userName":"u"}`, "QSDK a1", ""},
		{"authToken", `{"authToken":"QSDK a2"}`, "QSDK a2", ""},
		{"data.token", `{"data":{"token":"QSDK a3"}}`, "QSDK a3", ""},
		{"data.authToken", `{"data":{"authToken":"QSDK a4"}}`, "QSDK a4", ""},
		{"errList", `{"errList":[{"errorCode":1127,"errLogMessage":"Invalid Username or Password"}]}`, "", "error 1127: Invalid Username or Password"},
		{"nothing", `{"userName":"u"}`, "", "no token in login response"},
		{"401", "", "", "status 401"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var seen string
			base := stub(t, func(w http.ResponseWriter, r *http.Request) {
				if strings.HasSuffix(r.URL.Path, "/Login") {
					if tt.body == "" {
						http.Error(w, `{"errorCode":5,"errorMessage":"Access denied"}`, http.StatusUnauthorized)
						return
					}
					fmt.Fprint(w, tt.body)
					return
				}
				seen = r.Header.Get("Authtoken")
				fmt.Fprint(w, `{"totalRecordsWithoutPaging":0,"jobs":[]}`)
			})
			c, err := New(Config{BaseURL: base, Username: "u", Password: "pass-Q9z"})
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Job(context.Background(), "7")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("Job after login %s = %v, want an error containing %q", tt.body, err, tt.wantErr)
				}
				return
			}
			if !errors.Is(err, ErrJobNotFound) || seen != tt.wantToken {
				t.Errorf("Job after login %s = %v with Authtoken %q, want ErrJobNotFound with %q", tt.body, err, seen, tt.wantToken)
			}
		})
	}
}

func TestReloginOnce(t *testing.T) {
	t.Run("expired token renewed", func(t *testing.T) {
		e := newEnv(t, simulator.Config{})
		c := e.loginClient(t, nil)
		if _, err := c.Subclients(context.Background(), prodAccount); err != nil {
			t.Fatal(err)
		}
		e.sim.ExpireTokens()
		if _, err := c.SubclientsByClientID(context.Background(), prodClientID); err != nil {
			t.Fatalf("SubclientsByClientID after expiry = %v, want success after one re-login", err)
		}
		if n := e.count(simulator.OpLogin); n != 2 {
			t.Errorf("logins = %d, want 2 (first, then one re-login)", n)
		}
	})
	t.Run("idle expiry on the clock", func(t *testing.T) {
		e := newEnv(t, simulator.Config{TokenTTL: 30 * time.Minute})
		c := e.loginClient(t, func(c *Config) { c.CacheTTL = -1 })
		if _, err := c.Subclients(context.Background(), prodAccount); err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(31 * time.Minute)
		if _, err := c.Subclients(context.Background(), prodAccount); err != nil {
			t.Fatalf("Subclients after 31 idle minutes = %v, want success", err)
		}
		if n := e.count(simulator.OpLogin); n != 2 {
			t.Errorf("logins = %d, want 2", n)
		}
	})
	t.Run("second 401 is an error", func(t *testing.T) {
		e := newEnv(t, simulator.Config{})
		c := e.loginClient(t, nil)
		e.sim.Inject(simulator.Fault{Op: simulator.OpSubclient, Kind: simulator.FaultUnauthorized, Times: 5})
		_, err := c.Subclients(context.Background(), prodAccount)
		if !isUnauthorized(err) {
			t.Fatalf("Subclients with 401 twice = %v, want a 401 *APIError", err)
		}
		if n, m := e.count(simulator.OpLogin), e.count(simulator.OpSubclient); n != 2 || m != 2 {
			t.Errorf("logins = %d, subclient calls = %d, want 2 and 2 (no loop)", n, m)
		}
	})
	t.Run("CreateTask repeated after 401", func(t *testing.T) {
		e := newEnv(t, simulator.Config{})
		c := e.loginClient(t, nil)
		e.sim.Inject(simulator.Fault{Op: simulator.OpCreateTask, Kind: simulator.FaultUnauthorized})
		task, err := c.CreateBackup(context.Background(), prodOrders(), Full)
		if err != nil || len(task.JobIDs) != 1 {
			t.Fatalf("CreateBackup after a 401 = %+v, %v, want one job", task, err)
		}
		if n := e.sim.CreateTaskCount(); n != 1 {
			t.Errorf("tasks created = %d, want 1", n)
		}
	})
	t.Run("login refused on renewal", func(t *testing.T) {
		e := newEnv(t, simulator.Config{})
		c := e.loginClient(t, nil)
		if _, err := c.Subclients(context.Background(), prodAccount); err != nil {
			t.Fatal(err)
		}
		e.sim.ExpireTokens()
		e.sim.Inject(simulator.Fault{Op: simulator.OpLogin, Kind: simulator.FaultHTTP500HTML})
		_, err := c.Job(context.Background(), "149800")
		if err == nil || !strings.Contains(err.Error(), "renew session after 401") {
			t.Errorf("Job with renewal refused = %v, want a renewal error", err)
		}
	})
}

func TestConcurrentReloginSharesOneLogin(t *testing.T) {
	e := newEnv(t, simulator.Config{})
	c := e.loginClient(t, func(c *Config) { c.CacheTTL = -1 })
	ctx := context.Background()
	if _, err := c.Subclients(ctx, prodAccount); err != nil {
		t.Fatal(err)
	}
	e.sim.ExpireTokens()
	const n = 16
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			_, err := c.Subclients(ctx, prodAccount)
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("concurrent Subclients error: %v", err)
		}
	}
	if got := e.count(simulator.OpLogin); got != 2 {
		t.Errorf("logins = %d, want 2 (first, then one shared re-login for %d callers)", got, n)
	}
}

func TestConcurrentFirstLoginFailureShared(t *testing.T) {
	e := newEnv(t, simulator.Config{})
	c := e.loginClient(t, func(c *Config) { c.Password = "nope-nope" })
	const n = 8
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			if _, err := c.Job(context.Background(), "149800"); err == nil {
				t.Errorf("Job with a bad password succeeded")
			}
		})
	}
	wg.Wait()
	if got := e.count(simulator.OpLogin); got < 1 || got > n {
		t.Errorf("logins = %d, want between 1 and %d", got, n)
	}
}

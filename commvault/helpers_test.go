package commvault

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/backupbot/backupbot/commvault/simulator"
)

const (
	testToken    = "QSDK static-tok-Zq81xW"
	testUser     = "backupbot"
	testPassword = "pw-Vb7!kLq2"
	prodAccount  = "aws-prod-account"
	prodClientID = 4131
)

// fakeClock is a settable clock for simulator.Config.Now.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// env is a simulator on 127.0.0.1 with a fake clock.
type env struct {
	sim   *simulator.Server
	srv   *httptest.Server
	clock *fakeClock
	url   string // base URL ending in /commandcenter/api
}

// newEnv starts a simulator that accepts testToken and testUser/testPassword.
func newEnv(t *testing.T, cfg simulator.Config) *env {
	t.Helper()
	clock := newFakeClock()
	if cfg.Now == nil {
		cfg.Now = clock.Now
	}
	if cfg.Tokens == nil {
		cfg.Tokens = []string{testToken}
	}
	if cfg.Username == "" {
		cfg.Username, cfg.Password = testUser, testPassword
	}
	sim := simulator.New(cfg)
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	return &env{sim: sim, srv: srv, clock: clock, url: srv.URL + "/commandcenter/api"}
}

// client returns a static-token client; edit changes the Config first.
func (e *env) client(t *testing.T, edit func(*Config)) *Client {
	t.Helper()
	cfg := Config{BaseURL: e.url, Token: testToken, Timeout: 5 * time.Second}
	if edit != nil {
		edit(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New(%v) error: %v", cfg, err)
	}
	return c
}

// loginClient returns a client that logs in as testUser.
func (e *env) loginClient(t *testing.T, edit func(*Config)) *Client {
	t.Helper()
	return e.client(t, func(c *Config) {
		c.Token, c.Username, c.Password = "", testUser, testPassword
		if edit != nil {
			edit(c)
		}
	})
}

// count returns how many requests the simulator got for op.
func (e *env) count(op simulator.Op) int {
	n := 0
	for _, r := range e.sim.Requests() {
		if r.Op == op {
			n++
		}
	}
	return n
}

// stub serves h on 127.0.0.1 and returns its base URL, for answers the
// simulator cannot give (gateway errors, cut connections, garbage).
func stub(t *testing.T, h http.HandlerFunc) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL + "/commandcenter/api"
}

// stubClient is a static-token client of a stub.
func stubClient(t *testing.T, baseURL string, timeout time.Duration) *Client {
	t.Helper()
	c, err := New(Config{BaseURL: baseURL, Token: testToken, Timeout: timeout})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

// prodOrders is the listed entity of aws-prod-account/orders, fixed for
// golden files (the simulator's own GUIDs are derived, not random).
func prodOrders() Subclient {
	entity := `{"_type_":7,"clientName":"aws-prod-account","clientId":4131,"instanceName":"DynamoDB","instanceId":869,` +
		`"backupsetName":"defaultBackupSet","backupsetId":2218,"subclientName":"orders","subclientId":18244,` +
		`"appName":"Cloud Apps","applicationId":134,"displayName":"aws-prod-account","commCellName":"cvsim-cs01",` +
		`"csGUID":"6D2A5F0E-3C41-4B8F-9E1A-7B52C0D4E913","subclientGUID":"2F7E1B44-9A0C-4D3E-8B61-5C9F0A7D2E18",` +
		`"entityInfo":{"companyId":0,"companyName":"Commcell","multiCommcellId":0}}`
	return Subclient{
		ClientName: prodAccount, ClientID: prodClientID,
		InstanceName: "DynamoDB", InstanceID: 869,
		BackupsetName: "defaultBackupSet", BackupsetID: 2218,
		Name: "orders", ID: 18244,
		AppName: "Cloud Apps", ApplicationID: 134,
		Entity: []byte(entity),
	}
}

// containsAny reports the first of subs found in s.
func containsAny(s string, subs ...string) (string, bool) {
	for _, sub := range subs {
		if sub != "" && strings.Contains(s, sub) {
			return sub, true
		}
	}
	return "", false
}

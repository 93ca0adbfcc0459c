package commvault

import (
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/backupbot/backupbot/commvault/simulator"
)

func TestNewValidates(t *testing.T) {
	const base = "https://cs.example.com/commandcenter/api"
	tests := []struct {
		name    string
		cfg     Config
		wantErr string // substring; "" = valid
	}{
		{"token", Config{BaseURL: base, Token: "QSDK x"}, ""},
		{"login", Config{BaseURL: base, Username: "u", Password: "p"}, ""},
		{"trailing slash", Config{BaseURL: base + "/", Token: "t"}, ""},
		{"webconsole", Config{BaseURL: "http://cs:81/webconsole/api", Token: "t"}, ""},
		{"no URL", Config{Token: "t"}, "base URL is required"},
		{"relative", Config{BaseURL: "cs.example.com/commandcenter/api", Token: "t"}, "absolute http or https"},
		{"ftp", Config{BaseURL: "ftp://cs/commandcenter/api", Token: "t"}, "absolute http or https"},
		{"no host", Config{BaseURL: "https:///commandcenter/api", Token: "t"}, "no host"},
		{"userinfo", Config{BaseURL: "https://u:hunter2@cs/commandcenter/api", Token: "t"}, "must not contain credentials"},
		{"query", Config{BaseURL: base + "?x=1", Token: "t"}, "query or fragment"},
		{"access token", Config{BaseURL: base, AccessToken: "a", RefreshToken: "r"}, ""},
		{"no credentials", Config{BaseURL: base}, "an access token and its refresh token, a username and password, or a session token is required"},
		{"user without password", Config{BaseURL: base, Username: "u"}, "a username and a password go together"},
		{"password without user", Config{BaseURL: base, Password: "p"}, "a username and a password go together"},
		{"access token without refresh token", Config{BaseURL: base, AccessToken: "a"}, "needs its refresh token"},
		{"refresh token without access token", Config{BaseURL: base, RefreshToken: "r"}, "needs its access token"},
		{"token and login", Config{BaseURL: base, Token: "t", Username: "u", Password: "p"}, "not several"},
		{"access and session token", Config{BaseURL: base, Token: "t", AccessToken: "a", RefreshToken: "r"}, "not several"},
		{"access token and login", Config{BaseURL: base, Username: "u", Password: "p", AccessToken: "a", RefreshToken: "r"}, "not several"},
		{"refresh token with newline", Config{BaseURL: base, AccessToken: "a", RefreshToken: "r\nX"}, "control characters"},
		{"token with newline", Config{BaseURL: base, Token: "QSDK a\r\nX: y"}, "control characters"},
		{"negative timeout", Config{BaseURL: base, Token: "t", Timeout: -time.Second}, "negative timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.cfg)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("New(%v) error: %v", tt.cfg, err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("New(%v) = %v, want an error containing %q", tt.cfg, err, tt.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), "hunter2") {
				t.Errorf("New error %q shows the URL's password", err)
			}
		})
	}
}

func TestBaseURLVariants(t *testing.T) {
	e := newEnv(t, simulator.Config{})
	root := e.srv.URL
	tests := []struct {
		name, base, wantPath string
	}{
		{"commandcenter", root + "/commandcenter/api", "/commandcenter/api/Subclient"},
		{"commandcenter slash", root + "/commandcenter/api/", "/commandcenter/api/Subclient"},
		{"webconsole", root + "/webconsole/api", "/webconsole/api/Subclient"},
		{"webconsole slash", root + "/webconsole/api/", "/webconsole/api/Subclient"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := e.client(t, func(c *Config) { c.BaseURL = tt.base })
			subs, err := c.Subclients(context.Background(), prodAccount)
			if err != nil {
				t.Fatalf("Subclients(%q) error: %v", prodAccount, err)
			}
			if len(subs) != 4 {
				t.Errorf("Subclients(%q) = %d table groups, want 4", prodAccount, len(subs))
			}
			var paths []string
			for _, r := range e.sim.Requests() {
				paths = append(paths, r.Path)
			}
			if !slices.Contains(paths, tt.wantPath) {
				t.Errorf("request paths = %q, want %q among them", paths, tt.wantPath)
			}
		})
	}
}

func TestRequestHeaders(t *testing.T) {
	var got atomic.Value
	base := stub(t, func(w http.ResponseWriter, r *http.Request) {
		got.Store(r.Header.Clone())
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"taskId":1,"jobIds":["2"]}`)
	})
	c := stubClient(t, base, 5*time.Second)
	if _, err := c.CreateBackup(context.Background(), prodOrders(), Full); err != nil {
		t.Fatalf("CreateBackup error: %v", err)
	}
	h := got.Load().(http.Header)
	want := map[string]string{"Accept": "application/json", "Content-Type": "application/json", "Authtoken": testToken}
	for k, v := range want {
		if h.Get(k) != v {
			t.Errorf("header %s = %q, want %q", k, h.Get(k), v)
		}
	}
}

func TestNoRedirects(t *testing.T) {
	var elsewhere atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		elsewhere.Add(1)
	}))
	defer other.Close()
	base := stub(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+"/steal", http.StatusFound)
	})
	c := stubClient(t, base, 5*time.Second)
	_, err := c.Job(context.Background(), "12")
	var ae *APIError
	if !errors.As(err, &ae) || ae.StatusCode != http.StatusFound {
		t.Errorf("Job on a redirect = %v, want *APIError with status 302", err)
	}
	if n := elsewhere.Load(); n != 0 {
		t.Errorf("the redirect target got %d requests, want 0 (the token would have gone along)", n)
	}
}

func TestNewHTTPClientCAFile(t *testing.T) {
	sim := simulator.New(simulator.Config{Tokens: []string{testToken}})
	srv := httptest.NewUnstartedServer(sim)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the untrusted case logs a handshake error
	srv.StartTLS()
	defer srv.Close()
	dir := t.TempDir()
	caFile := filepath.Join(dir, "ca.pem")
	block := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(caFile, block, 0o600); err != nil {
		t.Fatal(err)
	}

	t.Run("trusted", func(t *testing.T) {
		hc, err := NewHTTPClient(5*time.Second, caFile)
		if err != nil {
			t.Fatalf("NewHTTPClient error: %v", err)
		}
		c, err := New(Config{BaseURL: srv.URL + "/commandcenter/api", Token: testToken, HTTPClient: hc})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Subclients(context.Background(), prodAccount); err != nil {
			t.Errorf("Subclients over TLS with the CA file: %v", err)
		}
	})
	t.Run("untrusted without it", func(t *testing.T) {
		c, err := New(Config{BaseURL: srv.URL + "/commandcenter/api", Token: testToken})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Subclients(context.Background(), prodAccount); err == nil {
			t.Errorf("Subclients over TLS without the CA file succeeded, want a certificate error")
		}
	})
	t.Run("bad files", func(t *testing.T) {
		notPEM := filepath.Join(dir, "not.pem")
		if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{notPEM, filepath.Join(dir, "missing.pem")} {
			if _, err := NewHTTPClient(time.Second, f); err == nil {
				t.Errorf("NewHTTPClient(%q) succeeded, want an error", f)
			}
		}
	})
	t.Run("timeouts", func(t *testing.T) {
		hc, err := NewHTTPClient(0, "")
		if err != nil {
			t.Fatal(err)
		}
		tr := hc.Transport.(*http.Transport)
		if hc.Timeout != defaultTimeout || tr.ResponseHeaderTimeout == 0 || tr.TLSHandshakeTimeout == 0 || tr.DialContext == nil {
			t.Errorf("NewHTTPClient(0) = timeout %s, header %s, TLS %s: want all set", hc.Timeout, tr.ResponseHeaderTimeout, tr.TLSHandshakeTimeout)
		}
	})
}

func TestTimeout(t *testing.T) {
	e := newEnv(t, simulator.Config{})
	c := e.client(t, func(c *Config) { c.Timeout = 200 * time.Millisecond })
	e.sim.Inject(simulator.Fault{Op: simulator.OpJob, Kind: simulator.FaultHang})
	_, err := c.Job(context.Background(), "149800")
	if !errors.Is(err, ErrTimeout) {
		t.Errorf("Job on a hang = %v, want ErrTimeout", err)
	}
	if errors.Is(err, ErrOutcomeUnknown) {
		t.Errorf("Job on a hang = %v: a read is never ErrOutcomeUnknown", err)
	}

	t.Run("caller deadline", func(t *testing.T) {
		e.sim.Inject(simulator.Fault{Op: simulator.OpSubclient, Kind: simulator.FaultHang})
		c := e.client(t, nil)
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		if _, err := c.Subclients(ctx, prodAccount); !errors.Is(err, ErrTimeout) {
			t.Errorf("Subclients past the caller's deadline = %v, want ErrTimeout", err)
		}
	})
}

// A listing past its bound is refused, not read on (the bound is 64 MiB;
// this test lowers it to 1 MiB rather than send 64).
func TestOversizedBody(t *testing.T) {
	const limit = 1 << 20
	base := stub(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"subClientProperties":[],"pad":"`)
		fmt.Fprint(w, strings.Repeat("x", limit))
		fmt.Fprint(w, `"}`)
	})
	c := stubClient(t, base, 5*time.Second)
	if c.subclientLimit != maxSubclientBody {
		t.Fatalf("subclient listing bound %d, want %d", c.subclientLimit, maxSubclientBody)
	}
	c.subclientLimit = limit
	_, err := c.Subclients(context.Background(), prodAccount)
	if err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("Subclients with a %d-byte answer = %v, want a size error", limit, err)
	}
}

func TestStringsHideSecrets(t *testing.T) {
	cfg := Config{BaseURL: "https://cs/commandcenter/api", Username: "u", Password: testPassword}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tok := Config{BaseURL: "https://cs/commandcenter/api", Token: testToken}
	for _, s := range []string{
		fmt.Sprint(cfg), fmt.Sprintf("%+v", cfg), fmt.Sprintf("%#v", cfg), fmt.Sprintf("%+v", &cfg),
		fmt.Sprintf("%+v", tok), fmt.Sprintf("%#v", tok), fmt.Sprintf("%v", c), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c),
	} {
		if leak, ok := containsAny(s, testPassword, testToken, encodePassword(testPassword)); ok {
			t.Errorf("printed %q contains the secret %q", s, leak)
		}
	}
}

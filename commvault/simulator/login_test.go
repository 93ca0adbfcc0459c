package simulator

import (
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
	"time"
)

func loginBody(user, password string) map[string]any {
	return map[string]any{"username": user, "password": base64.StdEncoding.EncodeToString([]byte(password))}
}

// login logs in with the default credentials and returns the token.
func (h *harness) login() string {
	h.t.Helper()
	r := h.do(http.MethodPost, api+"/Login", "", loginBody("admin", "simulator"))
	var out loginAnswer
	r.decode(h.t, &out)
	if out.Token == "" {
		h.t.Fatalf("Login = %d %s, want a token", r.status, r.body)
	}
	return out.Token
}

func TestLogin(t *testing.T) {
	tests := []struct {
		name      string
		body      any
		wantToken bool
	}{
		{name: "good credentials", body: loginBody("admin", "simulator"), wantToken: true},
		{name: "user name case-insensitive", body: loginBody("Admin", "simulator"), wantToken: true},
		{name: "userName spelling", body: map[string]any{"userName": "admin", "password": "c2ltdWxhdG9y"}, wantToken: true},
		{name: "wrong password", body: loginBody("admin", "nope")},
		{name: "wrong user", body: loginBody("root", "simulator")},
		{name: "password not base64", body: map[string]any{"username": "admin", "password": "simulator"}},
		{name: "no password", body: map[string]any{"username": "admin"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, Config{})
			r := h.do(http.MethodPost, api+"/Login", "", tt.body)
			if r.status != http.StatusOK {
				t.Fatalf("Login status = %d, want 200", r.status)
			}
			var out loginAnswer
			r.decode(t, &out)
			if !tt.wantToken {
				if out.Token != "" || len(out.ErrList) != 1 || out.ErrList[0].ErrorCode != 1127 ||
					out.ErrList[0].ErrLogMessage != "Invalid Username or Password" {
					t.Errorf("Login = %s, want errList 1127 and no token", r.body)
				}
				return
			}
			if !strings.HasPrefix(out.Token, "QSDK ") || len(out.Token) < 40 {
				t.Errorf("Login token = %q, want QSDK <hex>", out.Token)
			}
			if out.UserName != "admin" || out.AliasName != "1" || out.ErrList == nil || len(out.ErrList) != 0 {
				t.Errorf("Login = %s, want userName admin, aliasName 1, errList []", r.body)
			}
			if r := h.do(http.MethodGet, api+"/Subclient?clientName=aws-prod-account", out.Token, nil); r.status != http.StatusOK {
				t.Errorf("Subclient with login token = %d %s, want 200", r.status, r.body)
			}
		})
	}
}

func TestLoginTokensDiffer(t *testing.T) {
	h := newHarness(t, Config{})
	if a, b := h.login(), h.login(); a == b {
		t.Errorf("two logins gave the same token %q", a)
	}
}

func TestLoginBadBody(t *testing.T) {
	for _, body := range []string{"", "not json", "null"} {
		h := newHarness(t, Config{})
		r := h.do(http.MethodPost, api+"/Login", "", body)
		if body == "null" {
			// JSON null decodes to no credentials: a login failure, not a 400.
			if r.status != http.StatusOK || !strings.Contains(string(r.body), "1127") {
				t.Errorf("Login(%q) = %d %s, want 200 with errList 1127", body, r.status, r.body)
			}
			continue
		}
		if r.status != http.StatusBadRequest || string(r.body) != "Request body is empty or format is invalid." {
			t.Errorf("Login(%q) = %d %q, want 400 plain text", body, r.status, r.body)
		}
	}
}

func TestTokenRequired(t *testing.T) {
	tests := []struct {
		name, method, path, token string
	}{
		{name: "subclient without token", method: http.MethodGet, path: "/Subclient?clientName=aws-prod-account"},
		{name: "subclient with unknown token", method: http.MethodGet, path: "/Subclient?clientName=aws-prod-account", token: "QSDK 0123"},
		{name: "job without token", method: http.MethodGet, path: "/Job/149800"},
		{name: "job listing with token missing its prefix", method: http.MethodGet, path: "/Job?clientId=4131", token: "static-test-token"},
		{name: "createtask without token", method: http.MethodPost, path: "/CreateTask"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, Config{})
			r := h.do(tt.method, api+tt.path, tt.token, nil)
			if r.status != http.StatusUnauthorized || string(r.body) != `{"errorCode":5,"errorMessage":"Access denied"}` {
				t.Errorf("%s %s = %d %s, want 401 Access denied", tt.method, tt.path, r.status, r.body)
			}
		})
	}
}

func TestTokenExpiry(t *testing.T) {
	h := newHarness(t, Config{TokenTTL: 30 * time.Minute})
	token := h.login()
	steps := []struct {
		advance time.Duration
		want    int
	}{
		{advance: 29 * time.Minute, want: http.StatusOK},
		{advance: 29 * time.Minute, want: http.StatusOK}, // idle time restarts on use
		{advance: 30 * time.Minute, want: http.StatusUnauthorized},
		{advance: 0, want: http.StatusUnauthorized}, // stays expired
	}
	for i, st := range steps {
		h.clock.Advance(st.advance)
		if r := h.do(http.MethodGet, api+"/Job/1", token, nil); r.status != st.want {
			t.Fatalf("step %d: GET /Job/1 after %v idle = %d, want %d", i, st.advance, r.status, st.want)
		}
	}
	h.clock.Advance(24 * time.Hour)
	if r := h.do(http.MethodGet, api+"/Job/1", staticToken, nil); r.status != http.StatusOK {
		t.Errorf("static token after a day = %d, want 200", r.status)
	}
}

func TestExpireTokens(t *testing.T) {
	h := newHarness(t, Config{})
	a, b := h.login(), h.login()
	h.sim.ExpireTokens()
	for _, tok := range []string{a, b} {
		if r := h.do(http.MethodGet, api+"/Job/1", tok, nil); r.status != http.StatusUnauthorized {
			t.Errorf("login token after ExpireTokens = %d, want 401", r.status)
		}
	}
	if r := h.do(http.MethodGet, api+"/Job/1", staticToken, nil); r.status != http.StatusOK {
		t.Errorf("static token after ExpireTokens = %d, want 200", r.status)
	}
	if r := h.do(http.MethodGet, api+"/Job/1", h.login(), nil); r.status != http.StatusOK {
		t.Errorf("fresh login after ExpireTokens = %d, want 200", r.status)
	}
}

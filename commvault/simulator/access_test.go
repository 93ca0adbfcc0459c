package simulator

import (
	"net/http"
	"testing"
	"time"
)

// renew posts a pair to /V4/AccessToken/Renew.
func (h *harness) renew(access, refresh string) (response, renewAnswer) {
	h.t.Helper()
	r := h.do(http.MethodPost, api+"/V4/AccessToken/Renew", "Bearer "+access,
		map[string]string{"accessToken": access, "refreshToken": refresh})
	var out renewAnswer
	if r.status == http.StatusOK {
		r.decode(h.t, &out)
	}
	return r, out
}

// listWith lists aws-prod-account's subclients with token, and returns the status.
func (h *harness) listWith(token string) int {
	h.t.Helper()
	return h.do(http.MethodGet, api+"/Subclient?clientName=aws-prod-account", token, nil).status
}

func TestAccessTokenRenewal(t *testing.T) {
	h := newHarness(t, Config{AccessTokenTTL: 30 * time.Minute})
	access, refresh := h.sim.IssueAccessToken()
	if got := h.listWith("Bearer " + access); got != http.StatusOK {
		t.Fatalf("listing with a new access token = %d, want 200", got)
	}
	if got := h.listWith(access); got != http.StatusUnauthorized {
		t.Errorf("access token in Authtoken = %d, want 401: it goes in Authorization: Bearer", got)
	}
	h.clock.Advance(30 * time.Minute)
	if got := h.listWith("Bearer " + access); got != http.StatusUnauthorized {
		t.Errorf("listing with an access token 30 minutes old = %d, want 401", got)
	}

	r, next := h.renew(access, refresh)
	if r.status != http.StatusOK || next.AccessToken == "" || next.RefreshToken == "" || next.AccessToken == access ||
		next.TokenExpiryTimestamp != h.clock.Now().Add(30*time.Minute).Unix() {
		t.Fatalf("Renew of an expired newest pair = %d %s, want a new pair expiring in 30 minutes", r.status, r.body)
	}
	if got := h.listWith("Bearer " + next.AccessToken); got != http.StatusOK {
		t.Errorf("listing with the renewed access token = %d, want 200", got)
	}
	if h.sim.Renewals() != 1 || h.sim.InvalidatedChains() != 0 {
		t.Errorf("Renewals = %d, InvalidatedChains = %d; want 1 and 0", h.sim.Renewals(), h.sim.InvalidatedChains())
	}

	// Renewing with the old pair again invalidates every token of the chain.
	if r, _ := h.renew(access, refresh); r.status != http.StatusUnauthorized {
		t.Errorf("Renew with a superseded pair = %d %s, want 401", r.status, r.body)
	}
	if h.sim.InvalidatedChains() != 1 {
		t.Errorf("InvalidatedChains = %d, want 1", h.sim.InvalidatedChains())
	}
	if got := h.listWith("Bearer " + next.AccessToken); got != http.StatusUnauthorized {
		t.Errorf("listing with the newest token of an invalidated chain = %d, want 401", got)
	}
	if r, _ := h.renew(next.AccessToken, next.RefreshToken); r.status != http.StatusUnauthorized {
		t.Errorf("Renew of the newest pair of an invalidated chain = %d, want 401", r.status)
	}
}

func TestAccessTokenRenewalRefusals(t *testing.T) {
	h := newHarness(t, Config{})
	a1, r1 := h.sim.IssueAccessToken()
	a2, r2 := h.sim.IssueAccessToken()
	tests := []struct {
		name             string
		access, refresh  string
		wantStatus       int
		wantInvalidation bool
	}{
		{"unknown pair", "cvat-nope", "cvrt-nope", http.StatusUnauthorized, false},
		{"pairs of two chains", a1, r2, http.StatusUnauthorized, false},
		{"no refresh token", a1, "", http.StatusBadRequest, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := h.do(http.MethodPost, api+"/V4/AccessToken/Renew", "", map[string]string{"accessToken": tt.access, "refreshToken": tt.refresh})
			if r.status != tt.wantStatus {
				t.Errorf("Renew = %d %s, want %d", r.status, r.body, tt.wantStatus)
			}
		})
	}
	if h.sim.InvalidatedChains() != 0 || h.sim.Renewals() != 0 {
		t.Errorf("refusals renewed %d and invalidated %d chains, want none", h.sim.Renewals(), h.sim.InvalidatedChains())
	}
	// Both chains still work.
	for _, p := range [][2]string{{a1, r1}, {a2, r2}} {
		if r, _ := h.renew(p[0], p[1]); r.status != http.StatusOK {
			t.Errorf("Renew after the refusals = %d, want 200", r.status)
		}
	}
	// Past 14 days after its expiry a pair is not renewed any more.
	a3, r3 := h.sim.IssueAccessToken()
	h.clock.Advance(30*time.Minute + 14*24*time.Hour)
	if r, _ := h.renew(a3, r3); r.status != http.StatusUnauthorized {
		t.Errorf("Renew 14 days after expiry = %d, want 401", r.status)
	}
}

func TestExpireStaticTokens(t *testing.T) {
	h := newHarness(t, Config{})
	if got := h.listWith(staticToken); got != http.StatusOK {
		t.Fatalf("listing = %d, want 200", got)
	}
	h.sim.ExpireStaticTokens()
	if got := h.listWith(staticToken); got != http.StatusUnauthorized {
		t.Errorf("listing with an expired session token = %d, want 401", got)
	}
}

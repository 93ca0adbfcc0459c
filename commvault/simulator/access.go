package simulator

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"time"
)

const (
	defaultAccessTokenTTL = 30 * time.Minute
	// renewableFor is how long after it expired an access token can still
	// be renewed.
	renewableFor = 14 * 24 * time.Hour
)

// tokenChain is a Command Center access token and the pairs renewed from
// it. Renewing with any but the newest pair invalidates every token of the
// chain, as Commvault does.
type tokenChain struct {
	newest      int // index of the newest pair
	invalidated bool
}

// grant is one pair of a chain: its access token is accepted (as
// "Authorization: Bearer …") until it expires, unless a renewal superseded
// it or the chain was invalidated.
type grant struct {
	chain   *tokenChain
	index   int
	access  string
	refresh string
	issued  time.Time
}

// IssueAccessToken creates an access token and its refresh token, as
// Command Center's Security → Users → Access tokens does, and starts its
// chain. The access token expires after Config.AccessTokenTTL.
func (s *Server) IssueAccessToken() (access, refresh string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.newGrant(&tokenChain{}, 0)
	return g.access, g.refresh
}

// newGrant makes the pair at index of c; s.mu is held.
func (s *Server) newGrant(c *tokenChain, index int) *grant {
	g := &grant{chain: c, index: index, access: "cvat-" + randomHex(24), refresh: "cvrt-" + randomHex(24), issued: s.now()}
	c.newest = index
	s.grants[g.access] = g
	s.refreshes[g.refresh] = g
	return g
}

// Renewals returns how many access tokens were renewed.
func (s *Server) Renewals() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.renewals
}

// InvalidatedChains returns how many access token chains were invalidated
// by the renewal of a pair that was not the newest.
func (s *Server) InvalidatedChains() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.invalidated
}

// accessValid reports whether token is an access token that is the newest
// of its chain, unexpired, in a chain not invalidated.
func (s *Server) accessValid(token string) bool {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.grants[token]
	return ok && !g.chain.invalidated && g.index == g.chain.newest && now.Before(g.issued.Add(s.cfg.AccessTokenTTL))
}

// renewAnswer is what POST /V4/AccessToken/Renew answers.
type renewAnswer struct {
	AccessToken          string `json:"accessToken"`
	RefreshToken         string `json:"refreshToken"`
	TokenExpiryTimestamp int64  `json:"tokenExpiryTimestamp"`
}

// handleRenew answers POST /V4/AccessToken/Renew {"accessToken",
// "refreshToken"}: the newest pair of a chain, within 14 days of its
// expiry, gets a new pair, which supersedes it; any older pair of the chain
// invalidates the whole chain.
func (s *Server) handleRenew(w http.ResponseWriter, body []byte) {
	var in struct {
		AccessToken  string `json:"accessToken"`
		RefreshToken string `json:"refreshToken"`
	}
	if len(bytes.TrimSpace(body)) == 0 || json.Unmarshal(body, &in) != nil || in.AccessToken == "" || in.RefreshToken == "" {
		writeBadBody(w)
		return
	}
	now := s.now()
	s.mu.Lock()
	g, ok := s.grants[in.AccessToken]
	r, rok := s.refreshes[in.RefreshToken]
	switch {
	case !ok || !rok || g != r || g.chain.invalidated:
		s.mu.Unlock()
		writeAccessDenied(w)
		return
	case g.index != g.chain.newest:
		g.chain.invalidated = true
		s.invalidated++
		s.mu.Unlock()
		writeJSON(w, http.StatusUnauthorized, errorBody{ErrorCode: 5,
			ErrorMessage: "Access denied: an older access token and refresh token were used; every token of the chain is invalidated."})
		return
	case !now.Before(g.issued.Add(s.cfg.AccessTokenTTL + renewableFor)):
		s.mu.Unlock()
		writeJSON(w, http.StatusUnauthorized, errorBody{ErrorCode: 5, ErrorMessage: "Access denied: the access token can no longer be renewed."})
		return
	}
	n := s.newGrant(g.chain, g.index+1)
	s.renewals++
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, renewAnswer{AccessToken: n.access, RefreshToken: n.refresh,
		TokenExpiryTimestamp: n.issued.Add(s.cfg.AccessTokenTTL).Unix()})
}

// bearer is the token of an "Authorization: Bearer …" header, or "".
func bearer(r *http.Request) string {
	v := r.Header.Get("Authorization")
	if len(v) > 7 && strings.EqualFold(v[:7], "Bearer ") {
		return strings.TrimSpace(v[7:])
	}
	return ""
}

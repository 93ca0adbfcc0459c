package simulator

import (
	"bytes"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
)

const codeBadCredentials = 1127

type loginError struct {
	ErrorCode     int    `json:"errorCode"`
	ErrLogMessage string `json:"errLogMessage"`
}

type loginAnswer struct {
	Token               string       `json:"token,omitempty"`
	UserName            string       `json:"userName,omitempty"`
	AliasName           string       `json:"aliasName,omitempty"`
	UserGUID            string       `json:"userGUID,omitempty"`
	LoginAttempts       int          `json:"loginAttempts"`
	RemainingLockTime   int          `json:"remainingLockTime"`
	ProviderType        int          `json:"providerType,omitempty"`
	ForcePasswordChange bool         `json:"forcePasswordChange"`
	IsAccountLocked     bool         `json:"isAccountLocked"`
	ErrList             []loginError `json:"errList"`
}

// handleLogin answers POST /Login: {"username": …, "password": base64}.
func (s *Server) handleLogin(w http.ResponseWriter, body []byte) {
	var in struct {
		Username string `json:"username"`
		Password string `json:"password"`
	}
	if len(bytes.TrimSpace(body)) == 0 || json.Unmarshal(body, &in) != nil {
		writeBadBody(w)
		return
	}
	pw, err := base64.StdEncoding.DecodeString(in.Password)
	userOK := strings.EqualFold(in.Username, s.cfg.Username)
	passOK := err == nil && subtle.ConstantTimeCompare(pw, []byte(s.cfg.Password)) == 1
	if !userOK || !passOK {
		writeJSON(w, http.StatusOK, loginAnswer{
			LoginAttempts: 1,
			ErrList:       []loginError{{ErrorCode: codeBadCredentials, ErrLogMessage: "Invalid Username or Password"}},
		})
		return
	}
	token := "QSDK " + randomHex(48)
	s.mu.Lock()
	s.tokens[token] = s.now()
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, loginAnswer{
		Token:        token,
		UserName:     s.cfg.Username,
		AliasName:    "1",
		UserGUID:     guidFor("user/" + strings.ToLower(s.cfg.Username)),
		ProviderType: 1,
		ErrList:      []loginError{},
	})
}

// authorizedRequest reports whether r carries a valid access token
// ("Authorization: Bearer …") or Authtoken.
func (s *Server) authorizedRequest(r *http.Request) bool {
	if tok := bearer(r); tok != "" {
		return s.accessValid(tok)
	}
	return s.authorized(r.Header.Get("Authtoken"))
}

// authorized reports whether token is a static token (until
// ExpireStaticTokens) or a login token that has not been idle for TokenTTL;
// a valid login token's idle time restarts.
func (s *Server) authorized(token string) bool {
	if token == "" {
		return false
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range s.cfg.Tokens {
		if subtle.ConstantTimeCompare([]byte(t), []byte(token)) == 1 {
			return !s.staticExpired
		}
	}
	last, ok := s.tokens[token]
	if !ok {
		return false
	}
	if now.Sub(last) >= s.cfg.TokenTTL {
		delete(s.tokens, token)
		return false
	}
	s.tokens[token] = now
	return true
}

// ExpireTokens invalidates every token issued by Login (static tokens stay
// valid); the next call with one is answered 401.
func (s *Server) ExpireTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.tokens)
}

// ExpireStaticTokens makes every static token (Config.Tokens) lapse, as a
// session token does after 30 minutes without use: calls with one are
// answered 401 from now on.
func (s *Server) ExpireStaticTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.staticExpired = true
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

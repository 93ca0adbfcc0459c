package commvault

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// AuthMode is how a Client authenticates.
type AuthMode string

// The ways to authenticate, one per Client.
const (
	AuthAccessToken  AuthMode = "access token with refresh token" // renewed before it expires
	AuthLogin        AuthMode = "username and password"           // POST /Login, again on a 401
	AuthSessionToken AuthMode = "session token"                   // lapses; cannot be renewed
)

// authMode is the one way cfg sets, or a configuration error.
func authMode(cfg Config) (AuthMode, error) {
	set := 0
	for _, on := range []bool{cfg.AccessToken != "" || cfg.RefreshToken != "", cfg.Username != "" || cfg.Password != "", cfg.Token != ""} {
		if on {
			set++
		}
	}
	for _, s := range []string{cfg.AccessToken, cfg.RefreshToken, cfg.Token} {
		if strings.ContainsAny(s, "\r\n\x00") {
			return "", errors.New("commvault config: a token contains control characters")
		}
	}
	switch {
	case set > 1:
		return "", errors.New("commvault config: set one of an access token and its refresh token, a username and password, or a session token, not several")
	case cfg.AccessToken != "" && cfg.RefreshToken == "":
		return "", errors.New("commvault config: the access token needs its refresh token")
	case cfg.RefreshToken != "" && cfg.AccessToken == "":
		return "", errors.New("commvault config: the refresh token needs its access token")
	case cfg.AccessToken != "":
		return AuthAccessToken, nil
	case cfg.Username != "" && cfg.Password == "", cfg.Password != "" && cfg.Username == "":
		return "", errors.New("commvault config: a username and a password go together")
	case cfg.Username != "":
		return AuthLogin, nil
	case cfg.Token != "":
		return AuthSessionToken, nil
	}
	return "", errors.New("commvault config: an access token and its refresh token, a username and password, or a session token is required")
}

// Auth is how the client authenticates and, for an access token, when the
// one in use expires (zero when Commvault has not said yet: it says so when
// the token is renewed).
func (c *Client) Auth() (mode AuthMode, expires time.Time) {
	if c.mode != AuthAccessToken {
		return c.mode, time.Time{}
	}
	c.sess.mu.Lock()
	defer c.sess.mu.Unlock()
	return c.mode, c.sess.expires
}

// ErrSessionExpired: Commvault refused the session token, which cannot be
// renewed. Every call fails until the bot is given other credentials.
var ErrSessionExpired = errors.New("the Commvault session token expired; use an access token with its refresh token, or a username and password")

// SessionError is a 401 answered to a session token (Config.Token). It is
// ErrSessionExpired, and unwraps to the *APIError.
type SessionError struct {
	// Bare: the token has no "QSDK " prefix and never worked: it was sent as
	// given, and session tokens start with "QSDK ".
	Bare bool
	err  error
}

func (e *SessionError) Error() string {
	if e.Bare {
		return `commvault refused the session token: session tokens start with "QSDK " and this one does not (it is sent as given)`
	}
	return ErrSessionExpired.Error()
}

// Is reports whether target is ErrSessionExpired.
func (e *SessionError) Is(target error) bool { return target == ErrSessionExpired }

// Unwrap is the *APIError Commvault answered.
func (e *SessionError) Unwrap() error { return e.err }

// Ready reports whether the client's credentials still work, as far as it
// knows without a call: not when Commvault refused the session token, or
// refused to renew the access token, or a renewed access token could not be
// stored where the other processes read it.
func (c *Client) Ready() error {
	switch c.mode {
	case AuthSessionToken:
		if err := c.sess.refused.Load(); err != nil {
			return *err
		}
	case AuthAccessToken:
		return c.access.problem()
	}
	return nil
}

// session holds the token in use (login or access token) and, for an
// access token, when it expires. gen counts the tokens obtained: a caller
// that got a 401 with generation g asks for a new one only if the token is
// still generation g, and concurrent callers share one login or renewal in
// flight.
type session struct {
	mu       sync.Mutex
	token    string
	expires  time.Time // zero: not known
	renewAt  time.Time // when to renew it ahead of its expiry; zero: on a 401 only
	gen      uint64
	inflight *tokenCall

	worked  atomic.Bool           // the session token was accepted once
	refused atomic.Pointer[error] // the session token's last 401, nil once accepted
}

// tokenCall is a login or renewal in progress; done is closed when it ends.
type tokenCall struct {
	done  chan struct{}
	token string
	gen   uint64
	err   error
}

// loginTimeoutMinutes asks Commvault for its default session lifetime
// (expiry after 30 minutes of inactivity).
const loginTimeoutMinutes = 30

// accessBound is the least time an access token's renewal gets, waiting
// for another process's included.
const accessBound = 30 * time.Second

// renewAhead is how long before the expiry Commvault gave an access token
// is renewed, so that no call is sent with one about to lapse; for a token
// with less than twenty minutes to live, a tenth of that.
const renewAhead = 2 * time.Minute

// renewMargin is how long before exp a token obtained at got is renewed.
func renewMargin(got, exp time.Time) time.Duration {
	return min(renewAhead, exp.Sub(got)/10)
}

// currentToken returns the token to send and its generation, logging in or
// reading the access token first if there is none yet, and renewing an
// access token about to expire.
func (c *Client) currentToken(ctx context.Context) (string, uint64, error) {
	if c.mode == AuthSessionToken {
		return c.token, 0, nil
	}
	c.sess.mu.Lock()
	tok, gen, at := c.sess.token, c.sess.gen, c.sess.renewAt
	c.sess.mu.Unlock()
	if tok != "" && (at.IsZero() || c.now().Before(at)) {
		return tok, gen, nil
	}
	return c.renew(ctx, gen)
}

// renew returns a token newer than generation stale: the one another caller
// already obtained, the result of a login or renewal in flight, or a new
// one. Only one runs at a time, whatever the number of callers. It is not
// tied to the first caller's cancellation (the others wait for it too); it
// is bounded by the client's timeout.
func (c *Client) renew(ctx context.Context, stale uint64) (string, uint64, error) {
	c.sess.mu.Lock()
	if c.sess.token != "" && c.sess.gen != stale {
		tok, gen := c.sess.token, c.sess.gen
		c.sess.mu.Unlock()
		return tok, gen, nil
	}
	call := c.sess.inflight
	if call == nil {
		call = &tokenCall{done: make(chan struct{})}
		c.sess.inflight = call
		go c.obtain(context.WithoutCancel(ctx), call, c.sess.token)
	}
	c.sess.mu.Unlock()

	select {
	case <-call.done:
		return call.token, call.gen, call.err
	case <-ctx.Done():
		return "", 0, withTimeout(fmt.Errorf("%s: %w", c.obtaining(), ctx.Err()))
	}
}

// obtaining names what renew does, for its errors.
func (c *Client) obtaining() string {
	if c.mode == AuthAccessToken {
		return "renew access token"
	}
	return "log in as " + c.username
}

// obtain logs in, or reads or renews the access token that replaces stale,
// and publishes the result in call.
func (c *Client) obtain(ctx context.Context, call *tokenCall, stale string) {
	var tok string
	var exp time.Time
	var err error
	if c.mode == AuthAccessToken {
		// Reading the store, waiting for another process's renewal, and
		// renewing: bounded, as the store's lock lasts for the time left.
		actx, cancel := context.WithTimeout(ctx, max(3*c.timeout, accessBound))
		tok, exp, err = c.access.next(actx, c, stale)
		cancel()
	} else {
		tok, err = c.login(ctx)
	}
	c.sess.mu.Lock()
	if err == nil {
		c.sess.gen++
		c.sess.token, c.sess.expires, c.sess.renewAt = tok, exp, time.Time{}
		if now := c.now(); !exp.IsZero() {
			c.sess.renewAt = exp.Add(-renewMargin(now, exp))
		}
		call.token, call.gen = tok, c.sess.gen
	}
	call.err = err
	c.sess.inflight = nil
	c.sess.mu.Unlock()
	close(call.done)
}

// do runs r with the token in use and decodes a success into out. On a 401
// it logs in again or renews the access token (once, shared with
// concurrent callers) and repeats the call once; the server refused the
// first attempt, so even CreateTask may be repeated then. A session token
// cannot be renewed: its 401 is a *SessionError.
func (c *Client) do(ctx context.Context, r request, out any) error {
	tok, gen, err := c.currentToken(ctx)
	if err != nil {
		return err
	}
	err = c.send(ctx, r, tok, out)
	if !isUnauthorized(err) {
		if c.mode == AuthSessionToken && err == nil {
			c.sess.worked.Store(true)
			c.sess.refused.Store(nil)
		}
		return err
	}
	if c.mode == AuthSessionToken {
		var se error = &SessionError{Bare: !c.sess.worked.Load() && !strings.HasPrefix(c.token, "QSDK "), err: err}
		c.sess.refused.Store(&se)
		return se
	}
	if tok, _, err = c.renew(ctx, gen); err != nil {
		if c.mode == AuthAccessToken {
			return fmt.Errorf("renew access token after 401: %w", err)
		}
		return fmt.Errorf("renew session after 401: %w", err)
	}
	return c.send(ctx, r, tok, out)
}

// loginRequest is the POST /Login body. It holds the password: it is never
// printed, logged or put in an error.
type loginRequest struct {
	Username string `json:"username"`
	Password string `json:"password"` // base64 of the UTF-8 password
	DeviceID string `json:"deviceId"`
	Timeout  int    `json:"timeout"` // minutes of inactivity before expiry
}

// loginResponse accepts the token where the API versions put it: token,
// authToken, data.token or data.authToken.
type loginResponse struct {
	Token     string          `json:"token"`
	AuthToken string          `json:"authToken"`
	Data      json.RawMessage `json:"data"`
	ErrList   []struct {
		ErrorCode     flexInt `json:"errorCode"`
		ErrLogMessage string  `json:"errLogMessage"`
	} `json:"errList"`
	ErrorMessage string `json:"errorMessage"`
}

// login posts the credentials and returns the token, used as is (it
// already carries its "QSDK " prefix). A refusal is an *APIError.
func (c *Client) login(ctx context.Context) (string, error) {
	body := loginRequest{
		Username: c.username,
		Password: encodePassword(c.password),
		DeviceID: c.deviceID,
		Timeout:  loginTimeoutMinutes,
	}
	var out loginResponse
	err := c.send(ctx, request{method: http.MethodPost, path: "/Login", body: body}, "", &out)
	if err != nil {
		return "", fmt.Errorf("log in as %s: %w", c.username, err)
	}
	tok := firstNonEmpty(out.Token, out.AuthToken)
	if tok == "" && len(out.Data) > 0 {
		var data struct {
			Token     string `json:"token"`
			AuthToken string `json:"authToken"`
		}
		if json.Unmarshal(out.Data, &data) == nil {
			tok = firstNonEmpty(data.Token, data.AuthToken)
		}
	}
	if tok != "" {
		return tok, nil
	}
	ae := &APIError{StatusCode: http.StatusOK}
	msg := out.ErrorMessage
	if len(out.ErrList) > 0 {
		ae.Code = int(out.ErrList[0].ErrorCode)
		msg = out.ErrList[0].ErrLogMessage
	}
	// The server's words could quote what it was sent: redact them.
	if ae.Message = message(msg, c.secrets("")); ae.Message == "" {
		ae.Message = "no token in login response"
	}
	return "", fmt.Errorf("log in as %s: %w", c.username, ae)
}

// encodePassword is how /Login wants the password: base64 of its UTF-8 bytes.
func encodePassword(p string) string {
	return base64.StdEncoding.EncodeToString([]byte(p))
}

package commvault

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
)

// loginTimeoutMinutes asks Commvault for its default session lifetime
// (expiry after 30 minutes of inactivity).
const loginTimeoutMinutes = 30

// session holds the login token. gen counts logins: a caller that got a 401
// with generation g asks for a new login only if the token is still
// generation g, and concurrent callers share one login in flight.
type session struct {
	mu       sync.Mutex
	token    string
	gen      uint64
	inflight *loginCall
}

// loginCall is a login in progress; done is closed when it ends.
type loginCall struct {
	done  chan struct{}
	token string
	gen   uint64
	err   error
}

// currentToken returns the token to send and its generation, logging in
// first if there is no session yet.
func (c *Client) currentToken(ctx context.Context) (string, uint64, error) {
	if c.token != "" {
		return c.token, 0, nil
	}
	c.sess.mu.Lock()
	tok, gen := c.sess.token, c.sess.gen
	c.sess.mu.Unlock()
	if tok != "" {
		return tok, gen, nil
	}
	return c.renew(ctx, gen)
}

// renew returns a token newer than generation stale: the one another caller
// already obtained, the result of a login in flight, or a new login. Only
// one login runs at a time, whatever the number of callers. The login itself
// is not tied to the first caller's cancellation (the others wait for it
// too); it is bounded by the client's timeout.
func (c *Client) renew(ctx context.Context, stale uint64) (string, uint64, error) {
	c.sess.mu.Lock()
	if c.sess.token != "" && c.sess.gen != stale {
		tok, gen := c.sess.token, c.sess.gen
		c.sess.mu.Unlock()
		return tok, gen, nil
	}
	call := c.sess.inflight
	if call == nil {
		call = &loginCall{done: make(chan struct{})}
		c.sess.inflight = call
		go c.runLogin(context.WithoutCancel(ctx), call)
	}
	c.sess.mu.Unlock()

	select {
	case <-call.done:
		return call.token, call.gen, call.err
	case <-ctx.Done():
		return "", 0, withTimeout(fmt.Errorf("log in as %s: %w", c.username, ctx.Err()))
	}
}

// runLogin performs call and publishes its result.
func (c *Client) runLogin(ctx context.Context, call *loginCall) {
	tok, err := c.login(ctx)
	c.sess.mu.Lock()
	if err == nil {
		c.sess.gen++
		c.sess.token = tok
		call.token, call.gen = tok, c.sess.gen
	}
	call.err = err
	c.sess.inflight = nil
	c.sess.mu.Unlock()
	close(call.done)
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

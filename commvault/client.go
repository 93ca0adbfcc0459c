// Package commvault is a client for the parts of the Commvault REST API the
// backup bot needs: log in, list a cloud account's DynamoDB table groups
// (subclients), submit a backup with POST /CreateTask, read job state, list
// a table group's past jobs and kill a job.
//
// It uses the standard library only. Tokens and passwords never appear in
// its errors; it does not log.
package commvault

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"time"
)

const (
	defaultTimeout  = 30 * time.Second
	defaultCacheTTL = 5 * time.Minute

	maxBody        = 1 << 20 // most answers
	maxListingBody = 4 << 20 // a page of a job listing
	// maxSubclientBody bounds a client's subclient listing, which Commvault
	// does not page and which lists every agent's subclients: some 450
	// bytes each from the simulator, a few KB from a CommServe. 4 MiB
	// failed every backup of a 9,460-group account.
	maxSubclientBody = 64 << 20
	maxErrorBody     = 64 << 10 // non-2xx bodies, reduced to one line anyway
)

// Config configures a Client. Set exactly one of: AccessToken and
// RefreshToken (recommended: renewed as they expire), Username and Password
// (a service account: logged in again on a 401), or Token (a session token
// that lapses and cannot be renewed).
type Config struct {
	BaseURL string // ".../commandcenter/api" or ".../webconsole/api", trailing slash optional
	// AccessToken and RefreshToken are a Command Center access token and its
	// refresh token, sent as "Authorization: Bearer …" and renewed with POST
	// /V4/AccessToken/Renew on a 401 or shortly before the expiry Commvault
	// gave. Renewing with any but the newest pair invalidates the whole
	// chain: Tokens, when set, is where every process using the chain finds
	// the newest pair and renews it once between them.
	AccessToken, RefreshToken string
	Tokens                    TokenChain
	Username, Password        string        // POST /Login instead (password sent base64)
	Token                     string        // session token, sent as given in the Authtoken header
	HTTPClient                *http.Client  // nil: New builds one with Timeout (and sane dial/TLS/header timeouts); copied, redirects never followed
	Timeout                   time.Duration // per request; 0 = 30s
	NotifyOnCompletion        bool          // commonOpts.notifyUserOnJobCompletion, default false
	CacheTTL                  time.Duration // subclient listing cache; 0 = 5m; negative = no cache
}

// String describes the configuration without its secrets, so that printing
// a Config (even with %+v) never shows a token or the password.
func (c Config) String() string {
	auth := "no credentials"
	switch {
	case c.AccessToken != "":
		auth = "access token"
	case c.Token != "":
		auth = "session token"
	case c.Username != "":
		auth = "login as " + c.Username
	}
	return fmt.Sprintf("commvault.Config{BaseURL: %q, %s, Timeout: %s}", c.BaseURL, auth, c.Timeout)
}

// GoString is String, for %#v.
func (c Config) GoString() string { return c.String() }

// Client talks to one Commvault CommServe. It is safe for concurrent use.
type Client struct {
	base     string // scheme://host/path, no trailing slash
	http     *http.Client
	timeout  time.Duration
	mode     AuthMode
	token    string // session token (AuthSessionToken)
	username string
	password string
	deviceID string
	notify   bool
	cacheTTL time.Duration
	now      func() time.Time
	// subclientLimit bounds a subclient listing: maxSubclientBody, less in
	// a test that would not send 64 MiB.
	subclientLimit int64

	sess      session
	access    accessChain
	cache     subclientCache
	instances instanceCache
}

// New checks cfg and returns a Client. It does no I/O: a login, if any,
// happens on the first call.
func New(cfg Config) (*Client, error) {
	base, err := parseBaseURL(cfg.BaseURL)
	if err != nil {
		return nil, err
	}
	mode, err := authMode(cfg)
	if err != nil {
		return nil, err
	}
	if cfg.Timeout < 0 {
		return nil, fmt.Errorf("commvault config: negative timeout %s", cfg.Timeout)
	}
	c := &Client{
		base:           base,
		timeout:        cfg.Timeout,
		mode:           mode,
		token:          cfg.Token,
		username:       cfg.Username,
		password:       cfg.Password,
		deviceID:       newDeviceID(),
		notify:         cfg.NotifyOnCompletion,
		cacheTTL:       cfg.CacheTTL,
		subclientLimit: maxSubclientBody,
		now:            time.Now,
	}
	if c.timeout == 0 {
		c.timeout = defaultTimeout
	}
	c.access = newAccessChain(cfg)
	if c.cacheTTL == 0 {
		c.cacheTTL = defaultCacheTTL
	}
	if cfg.HTTPClient != nil {
		hc := *cfg.HTTPClient
		c.http = &hc
	} else if c.http, err = NewHTTPClient(c.timeout, ""); err != nil {
		return nil, err
	}
	// Never follow redirects: the Authtoken header would go along to
	// wherever the Location points, and a POST would turn into a GET.
	c.http.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return c, nil
}

// String names the client's server, never its credentials.
func (c *Client) String() string { return "commvault.Client(" + c.base + ")" }

// GoString is String, for %#v.
func (c *Client) GoString() string { return c.String() }

// parseBaseURL accepts an absolute http(s) URL without credentials, query or
// fragment, and returns it without a trailing slash.
func parseBaseURL(raw string) (string, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return "", errors.New("commvault config: base URL is required")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("commvault config: base URL: %w", err)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return "", fmt.Errorf("commvault config: base URL %q: want an absolute http or https URL", u.Redacted())
	case u.Host == "":
		return "", fmt.Errorf("commvault config: base URL %q: no host", u.Redacted())
	case u.User != nil:
		return "", fmt.Errorf("commvault config: base URL %q: must not contain credentials", u.Redacted())
	case u.RawQuery != "" || u.Fragment != "":
		return "", fmt.Errorf("commvault config: base URL %q: must not have a query or fragment", u.Redacted())
	}
	return strings.TrimRight(u.String(), "/"), nil
}

// NewHTTPClient returns an *http.Client for Commvault with a per-request
// timeout (0 = 30s), dial, TLS handshake and response header timeouts, and,
// when caFile is set (COMMVAULT_CA_FILE), the PEM certificates in it trusted
// in addition to the system roots.
func NewHTTPClient(timeout time.Duration, caFile string) (*http.Client, error) {
	if timeout <= 0 {
		timeout = defaultTimeout
	}
	tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("read commvault CA file: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("read commvault CA file %s: no PEM certificate found", caFile)
		}
		tlsConfig.RootCAs = pool
	}
	dialer := &net.Dialer{Timeout: min(10*time.Second, timeout), KeepAlive: 30 * time.Second}
	transport := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           dialer.DialContext,
		TLSClientConfig:       tlsConfig,
		TLSHandshakeTimeout:   min(10*time.Second, timeout),
		ResponseHeaderTimeout: timeout,
		ExpectContinueTimeout: time.Second,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConnsPerHost:   4,
		ForceAttemptHTTP2:     true,
	}
	return &http.Client{Transport: transport, Timeout: timeout}, nil
}

// request is one REST call.
type request struct {
	method string
	path   string // starts with "/"
	query  url.Values
	header http.Header // extra headers
	body   any         // JSON-encoded when not nil
	limit  int64       // response body cap; 0 = maxBody
	// mutates marks a call that must never be repeated once it may have
	// reached the server (CreateTask): such failures become ErrOutcomeUnknown.
	mutates bool
	// started marks CreateTask: an answer that carries jobIds started jobs,
	// whatever errorCode says beside them (cvpysdk reads jobIds first).
	started bool
}

// send makes one HTTP request. It returns *APIError for a non-2xx status or
// a nonzero errorCode, and sanitised transport errors otherwise.
func (c *Client) send(ctx context.Context, r request, token string, out any) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()

	var wrote atomic.Bool
	if r.mutates {
		ctx = traceWrite(ctx, &wrote)
	}
	req, err := c.newRequest(ctx, r, token)
	if err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		// *url.Error holds method, URL (never credentials: New refuses
		// them and the token travels in a header) and the cause.
		if r.mutates && wrote.Load() {
			return outcomeUnknown(err)
		}
		return withTimeout(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode >= 300 {
		return c.refusal(resp, r, token)
	}
	return c.answer(resp, r, token, out)
}

// traceWrite returns ctx with a trace that sets wrote once the request has
// been written without error: from then on it may have reached the server.
func traceWrite(ctx context.Context, wrote *atomic.Bool) context.Context {
	return httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		WroteRequest: func(info httptrace.WroteRequestInfo) {
			if info.Err == nil {
				wrote.Store(true)
			}
		},
	})
}

// newRequest builds the HTTP request for r: the URL with its query, the
// JSON body, and the Accept, User-Agent, Content-Type and extra headers, and
// the token: "Authorization: Bearer" for an access token, Authtoken else.
func (c *Client) newRequest(ctx context.Context, r request, token string) (*http.Request, error) {
	var payload io.Reader
	if r.body != nil {
		b, err := json.Marshal(r.body)
		if err != nil {
			return nil, fmt.Errorf("encode request: %w", err)
		}
		payload = bytes.NewReader(b)
	}
	u := c.base + r.path
	if len(r.query) > 0 {
		u += "?" + r.query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, r.method, u, payload)
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "backupbot")
	if r.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, vs := range r.header {
		req.Header[k] = vs
	}
	switch {
	case token == "":
	case c.mode == AuthAccessToken:
		req.Header.Set("Authorization", "Bearer "+token)
	default:
		req.Header.Set("Authtoken", token)
	}
	return req, nil
}

// refusal is the *APIError for a non-2xx answer, read from at most
// maxErrorBody of its body. A 5xx answer to a call that mutates is
// ErrOutcomeUnknown: Commvault (or a gateway before it) may or may not have
// acted; a CreateTask answered HTTP 500 can have created the job.
func (c *Client) refusal(resp *http.Response, r request, token string) error {
	// A truncated or unreadable error body still says what the status says.
	data, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody+1))
	ae := apiError(resp, data, c.now(), c.secrets(token))
	if r.mutates && resp.StatusCode >= 500 {
		return outcomeUnknown(ae)
	}
	return ae
}

// answer reads a 2xx answer of at most r.limit (0: maxBody) bytes into out.
// A nonzero errorCode in it is an *APIError. The server said yes, so when a
// mutating call's answer cannot be read the error is ErrOutcomeUnknown: the
// task may exist.
func (c *Client) answer(resp *http.Response, r request, token string, out any) error {
	limit := r.limit
	if limit == 0 {
		limit = maxBody
	}
	fail := withTimeout
	if r.mutates {
		fail = outcomeUnknown
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return fail(fmt.Errorf("read response of %s %s: %w", r.method, r.path, err))
	}
	if int64(len(data)) > limit {
		return fail(fmt.Errorf("read response of %s %s: larger than %d bytes", r.method, r.path, limit))
	}
	if code, msg, isJSON := errorFromJSON(data); isJSON && code != 0 && !(r.started && hasJobIDs(data)) {
		return &APIError{StatusCode: resp.StatusCode, Code: code, Message: message(msg, c.secrets(token))}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		// The JSON error may quote the body; give only its type.
		return fail(fmt.Errorf("decode response of %s %s: invalid JSON (%s)", r.method, r.path, jsonErrorKind(err)))
	}
	return nil
}

// hasJobIDs reports whether a JSON answer lists at least one job ID.
func hasJobIDs(data []byte) bool {
	var v struct {
		JobIDs []flexString `json:"jobIds"`
	}
	if json.Unmarshal(data, &v) != nil {
		return false
	}
	for _, id := range v.JobIDs {
		if id != "" {
			return true
		}
	}
	return false
}

// jsonErrorKind describes a decode error without quoting the input.
func jsonErrorKind(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Sprintf("syntax error at byte %d", syn.Offset)
	case errors.As(err, &typ):
		return fmt.Sprintf("%s where %s %s was expected", typ.Value, typ.Field, typ.Type)
	default:
		return "unexpected content"
	}
}

// secrets lists what must never reach an error message: the session
// token, the password (plain and base64), the access and refresh tokens
// (configured and renewed) and the token in use.
func (c *Client) secrets(inUse string) []string {
	s := append([]string{c.token, inUse}, c.access.secrets()...)
	if c.password != "" {
		s = append(s, c.password, encodePassword(c.password))
	}
	return s
}

// newDeviceID names this client instance at login, so that Commvault can
// tell our sessions apart.
func newDeviceID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return "backupbot-" + hex.EncodeToString(b)
}

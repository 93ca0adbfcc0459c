package slacktest

import (
	"bytes"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

const maxBody = 4 << 20

// Call is one recorded Web API call.
type Call struct {
	Method     string     // e.g. "chat.postMessage"
	HTTPMethod string     // GET or POST
	Params     url.Values // query, form or flattened JSON body (arrays and objects as JSON text); no token
	Token      string     // from the token field or Authorization: Bearer
	At         time.Time
	Status     int    // HTTP status answered
	Error      string // the "error" answered, "" when ok
}

type apiRequest struct {
	method string
	params url.Values
	token  string
}

type apiResult struct {
	status     int
	retryAfter int // seconds, for 429
	body       map[string]any
}

func ok(fields map[string]any) apiResult {
	body := map[string]any{"ok": true}
	for k, v := range fields {
		body[k] = v
	}
	return apiResult{status: http.StatusOK, body: body}
}

func fail(code string) apiResult {
	return apiResult{status: http.StatusOK, body: map[string]any{"ok": false, "error": code}}
}

// fault is an injected answer for the next calls of a method.
type fault struct {
	rateLimit  bool
	retryAfter int    // seconds
	code       string // for a failure
	remaining  int    // < 0: every call
}

// Calls lists the recorded calls of method, or of every method when method
// is "", in arrival order.
func (s *Server) Calls(method string) []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Call
	for _, c := range s.web.calls {
		if method == "" || c.Method == method {
			c.Params = cloneValues(c.Params)
			out = append(out, c)
		}
	}
	return out
}

// RateLimit makes the next times calls of method answer HTTP 429 with
// Retry-After (whole seconds, at least 1), as Slack does when an app
// exceeds a method's tier. times <= 0 cancels pending rate limits of method.
func (s *Server) RateLimit(method string, times int, retryAfter time.Duration) {
	secs := int((retryAfter + time.Second - 1) / time.Second)
	s.addFault(method, times, fault{rateLimit: true, retryAfter: max(secs, 1), remaining: times})
}

// FailMethod makes the next times calls of method answer
// {"ok":false,"error":slackError}; times < 0 means every call until
// FailMethod(method, "", 0) cancels pending failures of method.
func (s *Server) FailMethod(method, slackError string, times int) {
	s.addFault(method, times, fault{code: slackError, remaining: times})
}

func (s *Server) addFault(method string, times int, f fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if times == 0 || (f.rateLimit && times < 0) {
		kept := s.web.faults[method][:0]
		for _, x := range s.web.faults[method] {
			if x.rateLimit != f.rateLimit {
				kept = append(kept, x)
			}
		}
		s.web.faults[method] = kept
		return
	}
	s.web.faults[method] = append(s.web.faults[method], f)
}

// takeFaultLocked consumes one injected answer for method, if any.
func (s *Server) takeFaultLocked(method string) (apiResult, bool) {
	fs := s.web.faults[method]
	if len(fs) == 0 {
		return apiResult{}, false
	}
	f := fs[0]
	if fs[0].remaining > 0 {
		fs[0].remaining--
		if fs[0].remaining == 0 {
			s.web.faults[method] = fs[1:]
		}
	}
	if f.rateLimit {
		return apiResult{
			status:     http.StatusTooManyRequests,
			retryAfter: f.retryAfter,
			body:       map[string]any{"ok": false, "error": "ratelimited"},
		}, true
	}
	return fail(f.code), true
}

// serveAPI answers /api/<method>.
func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
	req := &apiRequest{method: strings.TrimPrefix(r.URL.Path, "/api/")}
	params, perr := readParams(r)
	req.params = params
	req.token = params.Get("token")
	params.Del("token")
	if bearer, found := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); found && req.token == "" {
		req.token = bearer
	}

	s.mu.Lock()
	idx := len(s.web.calls)
	s.web.calls = append(s.web.calls, Call{
		Method: req.method, HTTPMethod: r.Method, Params: cloneValues(params),
		Token: req.token, At: time.Now(),
	})
	var res apiResult
	if perr != nil {
		res = fail("invalid_form_data")
	} else {
		res = s.handleLocked(req)
	}
	s.web.calls[idx].Status = res.status
	if e, _ := res.body["error"].(string); e != "" {
		s.web.calls[idx].Error = e
	}
	s.notifyLocked()
	s.mu.Unlock()

	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	if req.token == s.cfg.BotToken {
		w.Header().Set("X-OAuth-Scopes", strings.Join(s.cfg.Scopes, ","))
	}
	if res.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(res.retryAfter))
	}
	w.WriteHeader(res.status)
	_ = json.NewEncoder(w).Encode(res.body)
}

func (s *Server) handleLocked(req *apiRequest) apiResult {
	if res, injected := s.injectedLocked(req); injected { // faults.go
		return res
	}
	if res, injected := s.takeFaultLocked(req.method); injected {
		return res
	}
	if req.method == "apps.connections.open" {
		return s.appsConnectionsOpen(req)
	}
	var h func(*apiRequest) apiResult
	switch req.method {
	case "auth.test":
		h = s.authTest
	case "chat.postMessage":
		h = s.chatPostMessage
	case "chat.update":
		h = s.chatUpdate
	case "chat.delete":
		h = s.chatDelete
	case "chat.postEphemeral":
		h = s.chatPostEphemeral
	case "chat.getPermalink":
		h = s.chatGetPermalink
	case "users.info":
		h = s.usersInfo
	case "usergroups.users.list":
		h = s.usergroupsUsersList
	default:
		return fail("unknown_method")
	}
	switch req.token {
	case "":
		return fail("not_authed")
	case s.cfg.BotToken:
		return h(req)
	case s.cfg.AppToken:
		return fail("not_allowed_token_type")
	default:
		return fail("invalid_auth")
	}
}

// readParams merges the query string with a form or JSON body. JSON
// strings are taken as they are; other JSON values as their JSON text.
func readParams(r *http.Request) (url.Values, error) {
	params := cloneValues(r.URL.Query())
	if r.Body == nil || r.Method == http.MethodGet {
		return params, nil
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
	if err != nil {
		return params, err
	}
	ctype, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch {
	case len(bytes.TrimSpace(body)) == 0:
		return params, nil
	case ctype == "application/json":
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(body, &fields); err != nil {
			return params, err
		}
		for k, raw := range fields {
			var str string
			switch {
			case string(raw) == "null":
			case json.Unmarshal(raw, &str) == nil:
				params.Set(k, str)
			default:
				params.Set(k, string(raw))
			}
		}
		return params, nil
	case ctype == "multipart/form-data":
		r.Body = io.NopCloser(bytes.NewReader(body))
		if err := r.ParseMultipartForm(maxBody); err != nil {
			return params, err
		}
		for k, vs := range r.MultipartForm.Value {
			params[k] = append(params[k], vs...)
		}
		return params, nil
	default: // form-encoded, whatever the header says
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return params, err
		}
		for k, vs := range form {
			params[k] = append(params[k], vs...)
		}
		return params, nil
	}
}

func cloneValues(v url.Values) url.Values {
	out := make(url.Values, len(v))
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

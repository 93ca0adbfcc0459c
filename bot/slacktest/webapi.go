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
	// Early is set on a call made before the Retry-After of an earlier 429
	// for the same method (and channel, for chat.postMessage) had passed.
	Early bool
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
		return rateLimited(f.retryAfter), true
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
	now := s.clock()
	limit := limitKey(req.method, params.Get("channel"), s.perChannel(req.method))
	call := Call{
		Method: req.method, HTTPMethod: r.Method, Params: cloneValues(params),
		Token: req.token, At: now, Early: s.earlyLocked(limit, now),
	}
	var res apiResult
	injected := false
	if perr != nil {
		res = fail("invalid_form_data")
	} else {
		res, injected = s.handleLocked(req, limit, now)
	}
	call.Status = res.status
	call.Error, _ = res.body["error"].(string)
	s.web.calls = append(s.web.calls, call)
	if res.status == http.StatusTooManyRequests {
		s.web.retryUntil[limit] = now.Add(time.Duration(res.retryAfter) * time.Second)
	}
	s.recordRejectionLocked(req, res, injected, now)
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

// handleLocked answers one call: an injected fault, else the method after
// its token and rate limit. injected reports a fault from FailMethod or
// RateLimit.
func (s *Server) handleLocked(req *apiRequest, limit string, now time.Time) (res apiResult, injected bool) {
	if res, injected := s.injectedLocked(req); injected { // InjectFault's (faults.go)
		return res, true
	}
	if res, injected := s.takeFaultLocked(req.method); injected {
		return res, true
	}
	h, want := s.handlerLocked(req.method)
	if h == nil {
		return fail("unknown_method"), false
	}
	switch req.token {
	case "":
		return fail("not_authed"), false
	case want:
	case s.cfg.BotToken, s.cfg.AppToken:
		return fail("not_allowed_token_type"), false
	default:
		return fail("invalid_auth"), false
	}
	if res, limited := s.limitLocked(req.method, limit, now); limited {
		return res, false
	}
	return h(req), false
}

// handlerLocked is the handler of a method and the token it wants; nil for
// a method the fake does not know.
func (s *Server) handlerLocked(method string) (func(*apiRequest) apiResult, string) {
	switch method {
	case "apps.connections.open":
		return s.appsConnectionsOpen, s.cfg.AppToken
	case "auth.test":
		return s.authTest, s.cfg.BotToken
	case "chat.postMessage":
		return s.chatPostMessage, s.cfg.BotToken
	case "chat.update":
		return s.chatUpdate, s.cfg.BotToken
	case "chat.delete":
		return s.chatDelete, s.cfg.BotToken
	case "chat.postEphemeral":
		return s.chatPostEphemeral, s.cfg.BotToken
	case "chat.getPermalink":
		return s.chatGetPermalink, s.cfg.BotToken
	case "users.info":
		return s.usersInfo, s.cfg.BotToken
	case "usergroups.users.list":
		return s.usergroupsUsersList, s.cfg.BotToken
	}
	return nil, ""
}

// recordRejectionLocked records a refused (or cut) message of a posting
// method. Injected faults are the test's own doing, and a 429 refuses the
// call, not the message.
func (s *Server) recordRejectionLocked(req *apiRequest, res apiResult, injected bool, now time.Time) {
	if injected || !rejectedMethods[req.method] || res.status != http.StatusOK {
		return
	}
	r := Rejection{Method: req.method, Channel: req.params.Get("channel"), Messages: metadataMessages(res.body), At: now}
	if e, _ := res.body["error"].(string); e != "" {
		r.Error = e
	} else if w, _ := res.body["warning"].(string); w != "" {
		r.Error, r.Warning = w, true
	} else {
		return
	}
	s.rejectLocked(r)
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

package slacktest

import (
	"net/http"
	"time"
)

// Fault is an injected answer for the Web API calls Match picks. Where
// RateLimit and FailMethod pick calls by method alone, a Fault picks them
// by what they carry: the parent posts of one channel, the first attempts
// of one thread reply, the calls of a time window.
type Fault struct {
	// Match picks the calls the fault answers; nil picks every call. It is
	// given the call as it arrived (Method, Params without the token, Token,
	// At; not HTTPMethod, Status or Error), in arrival order, under the
	// server's lock: it must be quick and must not call the Server. It may
	// keep state, such as a count per message or the start of a window.
	Match func(Call) bool
	// Times is how many calls the fault answers before it is removed;
	// <= 0: every call Match picks, until Remove.
	Times int
	// RetryAfter > 0 answers HTTP 429 with a Retry-After header (whole
	// seconds, rounded up) and "ratelimited", as Slack does past a
	// method's rate limit. Otherwise the answer is HTTP Status (0: 200)
	// with {"ok":false,"error":Error} ("": "internal_error").
	RetryAfter time.Duration
	Status     int
	Error      string
}

// InjectedFault is a Fault in force; its methods are safe for concurrent use.
type InjectedFault struct {
	s        *Server
	f        Fault
	answered int
	removed  bool
}

// InjectFault puts f in force. A call is answered by the first fault in
// force that picks it, in the order they were injected, before the faults
// of RateLimit and FailMethod; a call no fault picks is served as usual.
func (s *Server) InjectFault(f Fault) *InjectedFault {
	s.mu.Lock()
	defer s.mu.Unlock()
	in := &InjectedFault{s: s, f: f}
	s.web.injected = append(s.web.injected, in)
	return in
}

// Answered is how many calls the fault has answered.
func (in *InjectedFault) Answered() int {
	in.s.mu.Lock()
	defer in.s.mu.Unlock()
	return in.answered
}

// Remove takes the fault out of force; removing it again does nothing.
func (in *InjectedFault) Remove() {
	in.s.mu.Lock()
	defer in.s.mu.Unlock()
	in.removeLocked()
}

func (in *InjectedFault) removeLocked() {
	if in.removed {
		return
	}
	in.removed = true
	list := in.s.web.injected
	for i, x := range list {
		if x == in {
			in.s.web.injected = append(list[:i:i], list[i+1:]...)
			return
		}
	}
}

// injectedLocked answers req with the first injected fault that picks it.
func (s *Server) injectedLocked(req *apiRequest) (apiResult, bool) {
	if len(s.web.injected) == 0 {
		return apiResult{}, false
	}
	call := Call{Method: req.method, Params: cloneValues(req.params), Token: req.token, At: time.Now()}
	for _, in := range s.web.injected {
		if in.f.Match != nil && !in.f.Match(call) {
			continue
		}
		in.answered++
		if in.f.Times > 0 && in.answered >= in.f.Times {
			in.removeLocked()
		}
		return in.f.answer(), true
	}
	return apiResult{}, false
}

// answer is the injected answer.
func (f Fault) answer() apiResult {
	if f.RetryAfter > 0 {
		secs := int((f.RetryAfter + time.Second - 1) / time.Second)
		return apiResult{status: http.StatusTooManyRequests, retryAfter: secs,
			body: map[string]any{"ok": false, "error": "ratelimited"}}
	}
	res := fail(f.Error)
	if f.Error == "" {
		res = fail("internal_error")
	}
	if f.Status != 0 {
		res.status = f.Status
	}
	return res
}

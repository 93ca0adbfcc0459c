package simulator

import (
	"context"
	"math"
	"net/http"
	"strconv"
	"time"
)

// Op names which calls a fault applies to.
type Op string

// The operations a fault can target.
const (
	OpAny        Op = ""
	OpLogin      Op = "login"
	OpSubclient  Op = "subclient"
	OpCreateTask Op = "createtask"
	OpJob        Op = "job"
	OpKill       Op = "kill"     // POST /Job/{id}/action/kill
	OpInstance   Op = "instance" // GET /Instance/{id}
	OpRenew      Op = "renew"    // POST /V4/AccessToken/Renew
)

// FaultKind is what an injected fault does.
type FaultKind string

// The kinds of fault the simulator can inject.
const (
	FaultErrorCode    FaultKind = "errorcode" // HTTP 200 {"errorCode":Code,"errorMessage":Message}
	FaultNoJobIDs     FaultKind = "nojobids"  // CreateTask answers 200 {"taskId":N} with no jobIds
	FaultHTTP500JSON  FaultKind = "500json"   // HTTP 500 with a JSON errorCode body
	FaultHTTP500HTML  FaultKind = "500html"   // HTTP 500 with an HTML page
	FaultHang         FaultKind = "hang"      // no answer until the client gives up (or Hang elapses); for CreateTask the task IS created first
	FaultUnauthorized FaultKind = "401"       // HTTP 401 Access denied, as for an expired token
	FaultRateLimited  FaultKind = "429"       // HTTP 429 with Retry-After (RetryAfter, default 1s)
	FaultJobEnds      FaultKind = "jobends"   // OpCreateTask: the job(s) this call creates end with Status
	// FaultCreated500: CreateTask creates the job, then answers HTTP 500
	// with a JSON errorCode body, as a CommServe whose answer failed after
	// it acted: the outcome is unknown to the client.
	FaultCreated500 FaultKind = "500created"
	// FaultHiddenJob: CreateTask also starts an internal job of the same
	// table group and level (isVisible false), newer than the real one.
	FaultHiddenJob FaultKind = "hiddenjob"
	// FaultRateLimitPeriod: HTTP 429 with only X-RateLimit-Limit and
	// X-RateLimit-Period (RetryAfter, default 1s), no Retry-After, as
	// Commvault SaaS answers.
	FaultRateLimitPeriod FaultKind = "429period"
)

// Fault is one injected misbehaviour. Faults queue in order of Inject; each
// call takes the first queued fault whose Op matches (OpAny matches every
// call) and whose Kind applies to that call.
//
// FaultNoJobIDs, FaultJobEnds, FaultCreated500 and FaultHiddenJob apply
// only to CreateTask calls that pass authentication and validation, and so
// does FaultHang on CreateTask (the job exists before the hang starts). Every other kind is applied before the
// token check, to any call of its Op; a FaultHang whose Hang elapses lets the
// call then proceed normally.
type Fault struct {
	Op         Op
	Kind       FaultKind
	Times      int           // how many matching calls it applies to; 0 = 1
	Code       int           // for errorcode / 500json; 0 = 1
	Message    string        // for errorcode / 500json; "" = a generic message
	RetryAfter time.Duration // for 429; 0 = 1s, rounded up to whole seconds
	Hang       time.Duration // for hang: 0 = until the request's context ends
	Status     string        // for jobends; "" = "Failed"
}

// Inject queues a fault; it applies to the next matching calls.
func (s *Server) Inject(f Fault) {
	if f.Times <= 0 {
		f.Times = 1
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, f)
}

// stage is the point of a call at which a fault is looked up.
type stage int

const (
	stageRequest stage = iota // before the token check
	stageCreated              // CreateTask, once the body is valid
)

func appliesAt(k FaultKind, op Op, st stage) bool {
	switch k {
	case FaultNoJobIDs, FaultJobEnds, FaultCreated500, FaultHiddenJob:
		return op == OpCreateTask && st == stageCreated
	case FaultHang:
		return (op == OpCreateTask) == (st == stageCreated)
	default:
		return st == stageRequest
	}
}

// takeFault removes one use of the first queued fault that applies to op at
// st and, when kinds are given, is of one of those kinds.
func (s *Server) takeFault(op Op, st stage, kinds ...FaultKind) (Fault, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.faults {
		f := s.faults[i]
		if (f.Op != OpAny && f.Op != op) || !appliesAt(f.Kind, op, st) || !kindIn(f.Kind, kinds) {
			continue
		}
		s.faults[i].Times--
		if s.faults[i].Times <= 0 {
			s.faults = append(s.faults[:i], s.faults[i+1:]...)
		}
		return f, true
	}
	return Fault{}, false
}

func kindIn(k FaultKind, kinds []FaultKind) bool {
	if len(kinds) == 0 {
		return true
	}
	for _, want := range kinds {
		if k == want {
			return true
		}
	}
	return false
}

// applyFault answers the call as f says and reports whether it did; a hang
// that elapses answers nothing and lets the call proceed.
func (s *Server) applyFault(w http.ResponseWriter, r *http.Request, f Fault) (answered bool) {
	switch f.Kind {
	case FaultErrorCode:
		writeError(w, faultCode(f), faultMessage(f, "An error occurred while processing the request."))
	case FaultHTTP500JSON:
		writeJSON(w, http.StatusInternalServerError, errorBody{
			ErrorCode:    faultCode(f),
			ErrorMessage: faultMessage(f, "Internal server error."),
		})
	case FaultHTTP500HTML:
		writeHTML500(w)
	case FaultUnauthorized:
		writeAccessDenied(w)
	case FaultRateLimited:
		writeRateLimited(w, f.RetryAfter, true)
	case FaultRateLimitPeriod:
		writeRateLimited(w, f.RetryAfter, false)
	case FaultHang:
		return !hang(r.Context(), f.Hang)
	default:
		writeJSON(w, http.StatusInternalServerError, errorBody{ErrorCode: 1, ErrorMessage: "Unknown simulator fault [" + string(f.Kind) + "]."})
	}
	return true
}

func faultCode(f Fault) int {
	if f.Code == 0 {
		return 1
	}
	return f.Code
}

func faultMessage(f Fault, def string) string {
	if f.Message == "" {
		return def
	}
	return f.Message
}

// hang waits until ctx ends or d elapses (d <= 0: only ctx) and reports
// whether d elapsed.
func hang(ctx context.Context, d time.Duration) (elapsed bool) {
	if d <= 0 {
		<-ctx.Done()
		return false
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// writeRateLimited answers HTTP 429 for a wait of after (0: 1s): with
// Retry-After and a budget of 1,000 calls an hour, or (withRetryAfter
// false) with only X-RateLimit-Limit and X-RateLimit-Period, the period
// being the wait.
func writeRateLimited(w http.ResponseWriter, after time.Duration, withRetryAfter bool) {
	if after <= 0 {
		after = time.Second
	}
	secs := int(math.Ceil(after.Seconds()))
	w.Header().Set("X-RateLimit-Limit", "1000")
	if withRetryAfter {
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		w.Header().Set("X-RateLimit-Period", "3600")
	} else {
		w.Header().Set("X-RateLimit-Period", strconv.Itoa(secs))
	}
	writeJSON(w, http.StatusTooManyRequests, errorBody{
		ErrorCode:    429,
		ErrorMessage: "Too many requests. API rate limit exceeded, retry after " + strconv.Itoa(secs) + " seconds.",
	})
}

const html500 = `<html><head><title>500 Internal Server Error</title></head>
<body><h1>Internal Server Error</h1>
<p>The server encountered an internal error or misconfiguration and was unable to complete your request.</p>
<hr><address>Apache Tomcat</address></body></html>
`

func writeHTML500(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/html;charset=UTF-8")
	w.WriteHeader(http.StatusInternalServerError)
	_, _ = w.Write([]byte(html500))
}

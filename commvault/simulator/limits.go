package simulator

import (
	"math"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"time"
)

const defaultBudgetWindow = time.Hour

// limits is the state of the API budgets and of the random failures; it is
// guarded by Server.mu.
type limits struct {
	window time.Duration
	reads  budget
	writes budget

	failRatio float64
	failOps   []Op // empty: every operation
	rng       *rand.Rand
}

// budget is a sliding-window request budget: the times of the requests it
// let through within the window, oldest first.
type budget struct {
	limit int // 0: unlimited
	times []time.Time
}

func newLimits(cfg Config) limits {
	window := cfg.BudgetWindow
	if window <= 0 {
		window = defaultBudgetWindow
	}
	seed := uint64(cfg.Seed)
	return limits{
		window:    window,
		reads:     budget{limit: max(cfg.ReadBudget, 0)},
		writes:    budget{limit: max(cfg.WriteBudget, 0)},
		failRatio: min(max(cfg.FailRatio, 0), 1),
		failOps:   slices.Clone(cfg.FailOps),
		rng:       rand.New(rand.NewPCG(seed, seed^0x9E3779B97F4A7C15)),
	}
}

// take counts one request at now and reports whether the budget allows it;
// when it does not, wait is how long until the oldest counted request
// leaves the window.
func (b *budget) take(now time.Time, window time.Duration) (ok bool, wait time.Duration) {
	if b.limit == 0 {
		return true, 0
	}
	cut := 0
	for cut < len(b.times) && !b.times[cut].After(now.Add(-window)) {
		cut++
	}
	b.times = b.times[cut:]
	if len(b.times) >= b.limit {
		return false, b.times[0].Add(window).Sub(now)
	}
	b.times = append(b.times, now)
	return true, 0
}

// overBudget answers HTTP 429 when the call's budget (reads for GET, writes
// for POST) is spent within the window, and reports whether it did.
func (s *Server) overBudget(w http.ResponseWriter, method string) bool {
	now := s.now()
	s.mu.Lock()
	b := &s.limits.reads
	if method == http.MethodPost {
		b = &s.limits.writes
	}
	ok, wait := b.take(now, s.limits.window)
	limit, window := b.limit, s.limits.window
	s.mu.Unlock()
	if ok {
		return false
	}
	writeBudgetSpent(w, wait, limit, window, !s.cfg.NoRetryAfter)
	return true
}

// writeBudgetSpent is Commvault SaaS's answer to a call past its budget:
// HTTP 429, Retry-After in whole seconds (at least 1) unless withRetryAfter
// is false, and the budget.
func writeBudgetSpent(w http.ResponseWriter, wait time.Duration, limit int, window time.Duration, withRetryAfter bool) {
	secs := max(int(math.Ceil(wait.Seconds())), 1)
	if withRetryAfter {
		w.Header().Set("Retry-After", strconv.Itoa(secs))
	}
	w.Header().Set("X-RateLimit-Limit", strconv.Itoa(limit))
	w.Header().Set("X-RateLimit-Period", strconv.Itoa(int(math.Ceil(window.Seconds()))))
	w.Header().Set("X-RateLimit-Remaining", "0")
	writeJSON(w, http.StatusTooManyRequests, errorBody{
		ErrorCode:    429,
		ErrorMessage: "Too many requests. API rate limit exceeded, retry after " + strconv.Itoa(secs) + " seconds.",
	})
}

// randomFailure answers HTTP 500 to the share Config.FailRatio of the calls
// of Config.FailOps, and reports whether it did.
func (s *Server) randomFailure(w http.ResponseWriter, op Op) bool {
	s.mu.Lock()
	l := &s.limits
	fail := l.failRatio > 0 && (len(l.failOps) == 0 || slices.Contains(l.failOps, op)) && l.rng.Float64() < l.failRatio
	s.mu.Unlock()
	if !fail {
		return false
	}
	writeJSON(w, http.StatusInternalServerError, errorBody{
		ErrorCode:    1,
		ErrorMessage: "Internal server error. (simulated: Config.FailRatio)",
	})
	return true
}

// Reads returns how many GET requests the simulator received: every one,
// whatever it was answered (a 429 past ReadBudget, an injected fault, a
// 404 included), as a tenant's API budget is spent by what it sends.
func (s *Server) Reads() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reads
}

// ReadsSince returns how many GET requests, counted as Reads counts them,
// arrived at t or later by Config.Now.
func (s *Server) ReadsSince(t time.Time) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for i := len(s.requests) - 1; i >= 0; i-- {
		r := &s.requests[i]
		if r.Method == http.MethodGet && !r.Time.Before(t) {
			n++
		}
	}
	return n
}

// Submissions returns, per subclient ID, how many CreateTask calls were
// accepted and created a job (as CreateTaskCount counts them): a value above
// 1 is the same table group submitted more than once.
func (s *Server) Submissions() map[int]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[int]int, len(s.submissions))
	for id, n := range s.submissions {
		out[id] = n
	}
	return out
}

// SetJobDuration sets how long the jobs created from now on take (d <= 0:
// the default, 8s); jobs that exist keep theirs.
func (s *Server) SetJobDuration(d time.Duration) {
	if d <= 0 {
		d = defaultJobDuration
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.jobDuration = d
}

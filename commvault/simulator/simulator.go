// Package simulator is a working Commvault REST server on net/http: cloud
// accounts with DynamoDB table groups, login tokens that expire, CreateTask
// validated like a strict server, jobs that progress from Waiting to a
// terminal state as the (injectable) clock moves and that can be killed, a
// history of past jobs (Config.History, SampleHistory), injectable faults, a
// SaaS-like API budget (HTTP 429 past ReadBudget GETs per window) and a
// seeded share of random HTTP 500s (FailRatio).
//
// It serves the client's tests (httptest.NewServer(simulator.New(cfg))), the
// bot's console in process, and standalone through ListenAndServe.
package simulator

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"
)

const (
	maxBodyBytes       = 1 << 20
	defaultTokenTTL    = 30 * time.Minute
	defaultJobDuration = 8 * time.Second
	firstTaskID        = 30450
	firstJobID         = 149800
)

// Config describes the simulated CommServe. The zero value is usable.
type Config struct {
	Accounts []Account     // nil: Catalogue()
	Username string        // default "admin"
	Password string        // default "simulator"
	Tokens   []string      // static tokens accepted (until ExpireStaticTokens)
	TokenTTL time.Duration // login token expires after this much idle time; 0 = 30m
	// AccessTokenTTL is how long an access token (IssueAccessToken, or
	// renewed) is accepted after it was issued; 0 = 30m.
	AccessTokenTTL time.Duration
	JobDuration    time.Duration    // Waiting→Running→Completed over this long; 0 = 8s (SetJobDuration changes it)
	Now            func() time.Time // nil: time.Now (tests pass a fake clock)

	// ReadBudget, when positive, is how many GET requests are answered per
	// BudgetWindow, as Commvault SaaS allows a tenant 1,000 reads an hour.
	// Past it a GET is answered HTTP 429 with Retry-After (the seconds until
	// the oldest counted read leaves the window) and X-RateLimit-Limit and
	// X-RateLimit-Period headers, and is not counted. The window slides on
	// Now. WriteBudget is the same for POST requests (Login, CreateTask;
	// SaaS: 100 an hour); writes never count against ReadBudget, nor reads
	// against WriteBudget. 0 = unlimited.
	ReadBudget   int
	WriteBudget  int
	BudgetWindow time.Duration // 0 = 1h
	// NoRetryAfter leaves Retry-After out of those 429s: X-RateLimit-Limit
	// and X-RateLimit-Period (the window) only, as Commvault SaaS may answer.
	NoRetryAfter bool

	// FailRatio (0..1) is the share of calls of FailOps (nil: every
	// operation) answered HTTP 500 with a JSON errorCode body, before the
	// token check. A CreateTask failed this way creates nothing: it is a
	// definite failure, never a double submission. Which calls fail is
	// decided by a generator seeded with Seed: the same sequence of calls
	// fails the same way.
	FailRatio float64
	FailOps   []Op
	Seed      int64

	// History is the backup jobs that ran before the simulator started
	// (schedules, Command Center), listed by GET /Job with job IDs below
	// those CreateTask hands out. nil: none; SampleHistory makes two weeks
	// of them for a catalogue.
	History []PastJob
}

// Request is one request the simulator received, as Requests reports it.
type Request struct {
	Time      time.Time
	Method    string
	Path      string
	Query     url.Values
	Authtoken string // the header as received (tests assert on it; never logged)
	Bearer    string // the token of an "Authorization: Bearer" header as received
	Body      any    // decoded JSON body (map[string]any), nil if none
	Status    int    // status code answered; 0 while pending or when no answer was written (hang)
	Op        Op     // which endpoint the path named; OpAny for an unknown path
}

// Server is a simulated Commvault REST API; it is an http.Handler and is safe
// for concurrent use.
type Server struct {
	cfg      Config
	accounts []Account
	subs     []*subclient // every subclient listed, DynamoDB or not, in listing order
	subByID  map[int]*subclient

	mu            sync.Mutex
	tokens        map[string]time.Time // login token → last use
	staticExpired bool                 // ExpireStaticTokens was called
	grants        map[string]*grant    // access token → its pair
	refreshes     map[string]*grant    // refresh token → its pair
	renewals      int
	invalidated   int
	faults        []Fault
	requests      []Request
	jobs          []*job
	jobByID       map[int]*job
	nextTaskID    int
	nextJobID     int
	createTasks   int
	reads         int           // GET requests received
	jobDuration   time.Duration // for jobs created from now on
	submissions   map[int]int   // subclient ID → CreateTasks that created a job
	kills         int           // kill requests accepted
	limits        limits
}

// New builds a simulator from cfg, filling in defaults. It panics when
// cfg.Accounts is inconsistent (duplicate names or IDs, empty names), which is
// a programming error in the caller.
func New(cfg Config) *Server {
	if cfg.Accounts == nil {
		cfg.Accounts = Catalogue()
	}
	if cfg.Username == "" {
		cfg.Username = "admin"
	}
	if cfg.Password == "" {
		cfg.Password = "simulator"
	}
	if cfg.TokenTTL <= 0 {
		cfg.TokenTTL = defaultTokenTTL
	}
	if cfg.AccessTokenTTL <= 0 {
		cfg.AccessTokenTTL = defaultAccessTokenTTL
	}
	if cfg.JobDuration <= 0 {
		cfg.JobDuration = defaultJobDuration
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cfg.Tokens = append([]string(nil), cfg.Tokens...)
	accounts, subs := buildCatalogue(cfg.Accounts)
	s := &Server{
		cfg:        cfg,
		accounts:   accounts,
		subs:       subs,
		subByID:    make(map[int]*subclient, len(subs)),
		tokens:     make(map[string]time.Time),
		grants:     make(map[string]*grant),
		refreshes:  make(map[string]*grant),
		jobByID:    make(map[int]*job),
		nextTaskID: firstTaskID,
		nextJobID:  firstJobID,

		jobDuration: cfg.JobDuration,
		submissions: make(map[int]int),
		limits:      newLimits(cfg),
	}
	for _, sc := range subs {
		s.subByID[sc.id] = sc
	}
	s.addHistory(cfg.History)
	return s
}

// Accounts returns the simulated accounts with every default and ID filled in.
func (s *Server) Accounts() []Account {
	out := make([]Account, len(s.accounts))
	for i, a := range s.accounts {
		a.TableGroups = append([]TableGroup(nil), a.TableGroups...)
		a.Others = append([]Instance(nil), a.Others...)
		for j := range a.Others {
			a.Others[j].Subclients = append([]TableGroup(nil), a.Others[j].Subclients...)
		}
		out[i] = a
	}
	return out
}

// Requests returns every request received so far, in order of arrival.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// CreateTaskCount returns how many CreateTask calls were accepted and created jobs.
func (s *Server) CreateTaskCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.createTasks
}

func (s *Server) now() time.Time { return s.cfg.Now() }

// ServeHTTP answers one Commvault REST call.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, tooLarge := readBody(w, r)
	op, id, known := parseRoute(r.URL.Path)
	idx := s.record(r, op, body)
	sw := &statusWriter{ResponseWriter: w}
	s.serve(sw, r, op, id, known, body, tooLarge)
	s.mu.Lock()
	s.requests[idx].Status = sw.status
	s.mu.Unlock()
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request, op Op, id string, known bool, body []byte, tooLarge bool) {
	if !known {
		writeText(w, http.StatusNotFound, "The requested resource was not found.")
		return
	}
	if want := methodFor(op); r.Method != want {
		w.Header().Set("Allow", want)
		writeText(w, http.StatusMethodNotAllowed, "Method not allowed.")
		return
	}
	if tooLarge {
		writeText(w, http.StatusRequestEntityTooLarge, "Request body is too large.")
		return
	}
	if s.overBudget(w, r.Method) {
		return
	}
	if f, ok := s.takeFault(op, stageRequest); ok {
		if answered := s.applyFault(w, r, f); answered {
			return
		}
	}
	if s.randomFailure(w, op) {
		return
	}
	if op != OpLogin && op != OpRenew && !s.authorizedRequest(r) {
		writeAccessDenied(w)
		return
	}
	q := lowerQuery(r.URL.Query())
	switch op {
	case OpLogin:
		s.handleLogin(w, body)
	case OpRenew:
		s.handleRenew(w, body)
	case OpInstance:
		s.handleInstance(w, id)
	case OpSubclient:
		s.handleSubclient(w, id, q)
	case OpCreateTask:
		s.handleCreateTask(w, r, body)
	case OpKill:
		s.handleKill(w, id)
	case OpJob:
		if id != "" {
			s.handleJob(w, id)
		} else {
			s.handleJobs(w, r, q)
		}
	}
}

func (s *Server) record(r *http.Request, op Op, body []byte) int {
	var decoded any
	if len(bytes.TrimSpace(body)) > 0 {
		if err := json.Unmarshal(body, &decoded); err != nil {
			decoded = nil
		}
	}
	req := Request{
		Time:      s.now(),
		Method:    r.Method,
		Path:      r.URL.Path,
		Query:     r.URL.Query(),
		Authtoken: r.Header.Get("Authtoken"),
		Bearer:    bearer(r),
		Body:      decoded,
		Op:        op,
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, req)
	if r.Method == http.MethodGet {
		s.reads++
	}
	return len(s.requests) - 1
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// ListenAndServe serves a simulator built from cfg on addr (e.g.
// "127.0.0.1:0") until ctx is done, then shuts it down and returns nil. Once
// listening it calls ready, if not nil, with the base URL
// http://ADDR/commandcenter/api.
func ListenAndServe(ctx context.Context, addr string, cfg Config, ready func(url string)) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("start simulator: %w", err)
	}
	srv := &http.Server{
		Handler:           New(cfg),
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	if ready != nil {
		ready("http://" + ln.Addr().String() + "/commandcenter/api")
	}
	select {
	case err := <-errc:
		return fmt.Errorf("serve simulator: %w", err)
	case <-ctx.Done():
	}
	shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil {
		_ = srv.Close()
	}
	<-errc
	return nil
}

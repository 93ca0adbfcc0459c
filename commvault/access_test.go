package commvault

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/backupbot/backupbot/commvault/simulator"
)

// memChain is a TokenChain in memory: what *store.DB does for processes,
// for clients in one test. Its lock is held while renew runs.
type memChain struct {
	mu     sync.Mutex
	pairs  map[string]tokenPair
	writes int
}

func (m *memChain) LatestTokens(_ context.Context, name string) (string, string, time.Time, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p := m.pairs[name]
	return p.access, p.refresh, p.expires, nil
}

func (m *memChain) RenewTokens(ctx context.Context, name string,
	renew func(context.Context, string, string, time.Time) (string, string, time.Time, error)) (string, string, time.Time, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p := m.pairs[name]
	a, r, e, err := renew(ctx, p.access, p.refresh, p.expires)
	if err != nil {
		return "", "", time.Time{}, err
	}
	if n := (tokenPair{a, r, e}); n != p {
		if m.pairs == nil {
			m.pairs = map[string]tokenPair{}
		}
		m.pairs[name] = n
		m.writes++
	}
	return a, r, e, nil
}

// accessClient is a client with the access token pair, sharing chain (nil: none).
func (e *env) accessClient(t *testing.T, access, refresh string, chain TokenChain) *Client {
	t.Helper()
	c := e.client(t, func(c *Config) {
		c.Token, c.AccessToken, c.RefreshToken, c.CacheTTL = "", access, refresh, -1
		if chain != nil {
			c.Tokens = chain
		}
	})
	c.now = e.clock.Now // expiries are on the simulator's clock
	return c
}

func TestAccessTokenSentAsBearer(t *testing.T) {
	e := newEnv(t, simulator.Config{})
	access, refresh := e.sim.IssueAccessToken()
	c := e.accessClient(t, access, refresh, nil)
	if _, err := c.Subclients(context.Background(), prodAccount); err != nil {
		t.Fatalf("Subclients with an access token: %v", err)
	}
	for _, r := range e.sim.Requests() {
		if r.Bearer != access || r.Authtoken != "" {
			t.Errorf("%s sent Bearer %q, Authtoken %q; want the access token as Bearer only", r.Path, r.Bearer, r.Authtoken)
		}
	}
	if mode, exp := c.Auth(); mode != AuthAccessToken || !exp.IsZero() {
		t.Errorf("Auth() = %q, %v; want the access token mode, expiry not known before a renewal", mode, exp)
	}
}

func TestAccessTokenRenewedOn401ThenAhead(t *testing.T) {
	e := newEnv(t, simulator.Config{AccessTokenTTL: 30 * time.Minute})
	access, refresh := e.sim.IssueAccessToken()
	c := e.accessClient(t, access, refresh, nil)
	ctx := context.Background()
	if _, err := c.Subclients(ctx, prodAccount); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(31 * time.Minute)
	if _, err := c.Subclients(ctx, prodAccount); err != nil {
		t.Fatalf("Subclients after the access token expired = %v, want success after one renewal", err)
	}
	if n := e.sim.Renewals(); n != 1 {
		t.Fatalf("renewals = %d, want 1", n)
	}
	if _, exp := c.Auth(); !exp.Equal(e.clock.Now().Add(30 * time.Minute).Truncate(time.Second)) {
		t.Errorf("Auth() expiry = %v, want the tokenExpiryTimestamp Commvault gave", exp)
	}
	renew := e.sim.Requests()[len(e.sim.Requests())-3] // the renewal, then the listing and its instance
	body, _ := renew.Body.(map[string]any)
	if renew.Op != simulator.OpRenew || body["accessToken"] != access || body["refreshToken"] != refresh {
		t.Errorf("renewal request = %+v, want POST /V4/AccessToken/Renew with the pair", renew)
	}

	// From now on the expiry is known: the token is renewed before it
	// lapses, so no call is refused.
	before := len(e.sim.Requests())
	for range 4 {
		e.clock.Advance(29 * time.Minute)
		if _, err := c.Subclients(ctx, prodAccount); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range e.sim.Requests()[before:] {
		if r.Status == http.StatusUnauthorized {
			t.Errorf("%s answered 401: the token should have been renewed ahead of its expiry", r.Path)
		}
	}
	if n := e.sim.Renewals(); n != 5 || e.sim.InvalidatedChains() != 0 {
		t.Errorf("renewals = %d, invalidated chains = %d; want 5 and 0", n, e.sim.InvalidatedChains())
	}
}

func TestAccessTokenConcurrentRenewalIsOne(t *testing.T) {
	e := newEnv(t, simulator.Config{})
	access, refresh := e.sim.IssueAccessToken()
	c := e.accessClient(t, access, refresh, nil)
	ctx := context.Background()
	if _, err := c.Subclients(ctx, prodAccount); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(31 * time.Minute)
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			if _, err := c.Subclients(ctx, prodAccount); err != nil {
				t.Errorf("concurrent Subclients: %v", err)
			}
		})
	}
	wg.Wait()
	if n, inv := e.sim.Renewals(), e.sim.InvalidatedChains(); n != 1 || inv != 0 {
		t.Errorf("renewals = %d, invalidated chains = %d; want 1 renewal for 16 callers, 0 invalidated", n, inv)
	}
}

// Two processes (clients) configured with the same pair share one chain
// across several expiries: each renewal is made once, with the newest pair.
func TestAccessTokenSharedChain(t *testing.T) {
	e := newEnv(t, simulator.Config{AccessTokenTTL: 30 * time.Minute})
	access, refresh := e.sim.IssueAccessToken()
	chain := &memChain{}
	a := e.accessClient(t, access, refresh, chain)
	b := e.accessClient(t, access, refresh, chain)
	ctx := context.Background()
	for round := range 6 {
		for _, c := range []*Client{a, b, b, a} {
			if _, err := c.Job(ctx, "1"); !errors.Is(err, ErrJobNotFound) {
				t.Fatalf("round %d: Job = %v, want ErrJobNotFound (the call went through)", round, err)
			}
		}
		e.clock.Advance(31 * time.Minute)
	}
	if inv := e.sim.InvalidatedChains(); inv != 0 {
		t.Errorf("invalidated chains = %d, want 0", inv)
	}
	if n := e.sim.Renewals(); n != 5 || chain.writes != 5 {
		t.Errorf("renewals = %d, stored = %d; want 5 (one per expiry, after the first)", n, chain.writes)
	}

	// Without a shared chain the second process renews with a pair the
	// first already used, and Commvault invalidates the chain: the hazard
	// the chain exists for.
	e2 := newEnv(t, simulator.Config{})
	access, refresh = e2.sim.IssueAccessToken()
	x, y := e2.accessClient(t, access, refresh, nil), e2.accessClient(t, access, refresh, nil)
	e2.clock.Advance(31 * time.Minute)
	_, _ = x.Job(ctx, "1")
	_, err := y.Job(ctx, "1")
	if e2.sim.InvalidatedChains() != 1 || err == nil {
		t.Errorf("two unshared clients: invalidated chains = %d, error %v; want 1 and an error", e2.sim.InvalidatedChains(), err)
	}
	if y.Ready() == nil {
		t.Error("Ready() = nil after Commvault refused the renewal, want an error")
	}
	checkNoSecret(t, "refused renewal", err, access, refresh)
	checkNoSecret(t, "refused renewal, Ready", y.Ready(), access, refresh)
}

func TestAccessTokenStartsFromTheStoredPair(t *testing.T) {
	e := newEnv(t, simulator.Config{})
	access, refresh := e.sim.IssueAccessToken()
	chain := &memChain{}
	first := e.accessClient(t, access, refresh, chain)
	e.clock.Advance(31 * time.Minute)
	if _, err := first.Job(context.Background(), "1"); !errors.Is(err, ErrJobNotFound) {
		t.Fatal(err)
	}
	// A restart with the same configuration (now stale) reads the stored pair.
	again := e.accessClient(t, access, refresh, chain)
	if _, err := again.Job(context.Background(), "1"); !errors.Is(err, ErrJobNotFound) {
		t.Fatalf("Job after a restart = %v", err)
	}
	if n, inv := e.sim.Renewals(), e.sim.InvalidatedChains(); n != 1 || inv != 0 {
		t.Errorf("renewals = %d, invalidated = %d; want 1 and 0", n, inv)
	}
}

func TestSessionTokenExpired(t *testing.T) {
	e := newEnv(t, simulator.Config{})
	c := e.client(t, nil)
	ctx := context.Background()
	if _, err := c.Subclients(ctx, prodAccount); err != nil || c.Ready() != nil {
		t.Fatalf("Subclients = %v, Ready = %v", err, c.Ready())
	}
	e.sim.ExpireStaticTokens()
	_, err := c.Job(ctx, "149800")
	var se *SessionError
	if !errors.Is(err, ErrSessionExpired) || !errors.As(err, &se) || se.Bare {
		t.Fatalf("Job with an expired session token = %v, want ErrSessionExpired", err)
	}
	want := "the Commvault session token expired; use an access token with its refresh token, or a username and password"
	if !strings.HasSuffix(err.Error(), want) || c.Ready() == nil || c.Ready().Error() != want {
		t.Errorf("error %q, Ready %v; want both to say %q", err, c.Ready(), want)
	}
	if mode, _ := c.Auth(); mode != AuthSessionToken {
		t.Errorf("Auth() = %q, want %q", mode, AuthSessionToken)
	}
}

func TestBareSessionToken(t *testing.T) {
	const bare = "static-tok-no-prefix"
	e := newEnv(t, simulator.Config{Tokens: []string{"QSDK " + bare}})
	c := e.client(t, func(c *Config) { c.Token = bare })
	_, err := c.Job(context.Background(), "149800")
	var se *SessionError
	if !errors.As(err, &se) || !se.Bare || !strings.Contains(err.Error(), `session tokens start with "QSDK "`) {
		t.Fatalf("Job with a bare token = %v, want a *SessionError saying session tokens start with QSDK", err)
	}
	if got := e.sim.Requests()[0].Authtoken; got != bare {
		t.Errorf("Authtoken = %q, want the token as given", got)
	}
	checkNoSecret(t, "bare token", err, bare)
}

func TestRateLimitPeriodIsTheWait(t *testing.T) {
	e := newEnv(t, simulator.Config{})
	c := e.client(t, nil)
	e.sim.Inject(simulator.Fault{Op: simulator.OpJob, Kind: simulator.FaultRateLimitPeriod, RetryAfter: 120 * time.Second})
	_, err := c.Jobs(context.Background(), prodClientID, time.Hour)
	var ae *APIError
	if !errors.As(err, &ae) || ae.StatusCode != http.StatusTooManyRequests || ae.RetryAfter != 2*time.Minute {
		t.Errorf("Jobs on a 429 with X-RateLimit-Period 120 = %v, want RetryAfter 2m", err)
	}
}

func TestCreateBackupOutcomeUnknownOn500ThatCreated(t *testing.T) {
	e := newEnv(t, simulator.Config{})
	c := e.client(t, nil)
	e.sim.Inject(simulator.Fault{Op: simulator.OpCreateTask, Kind: simulator.FaultCreated500})
	_, err := c.CreateBackup(context.Background(), prodOrders(), Full)
	if !errors.Is(err, ErrOutcomeUnknown) {
		t.Fatalf("CreateBackup on a 500 = %v, want ErrOutcomeUnknown", err)
	}
	if n, sent := e.sim.CreateTaskCount(), e.count(simulator.OpCreateTask); n != 1 || sent != 1 {
		t.Errorf("jobs created = %d, CreateTasks sent = %d; want 1 and 1 (never resent)", n, sent)
	}
}

func TestCreateBackupJobIDsWinOverErrorCode(t *testing.T) {
	base := stub(t, func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, `{"taskId":30460,"jobIds":["149810"],"errorCode":1,"errorMessage":"Notification could not be sent."}`)
	})
	task, err := stubClient(t, base, 2*time.Second).CreateBackup(context.Background(), prodOrders(), Full)
	if err != nil || task.ID != 30460 || len(task.JobIDs) != 1 || task.JobIDs[0] != "149810" {
		t.Errorf("CreateBackup = %+v, %v; want task 30460 with job 149810: jobIds started jobs", task, err)
	}
}

func TestJobsLeaveOutHiddenJobs(t *testing.T) {
	e := newEnv(t, simulator.Config{})
	c := e.client(t, nil)
	e.sim.Inject(simulator.Fault{Op: simulator.OpCreateTask, Kind: simulator.FaultHiddenJob})
	task, err := c.CreateBackup(context.Background(), prodOrders(), Full)
	if err != nil {
		t.Fatal(err)
	}
	jobs, err := c.Jobs(context.Background(), prodClientID, time.Hour)
	if err != nil || len(jobs) != 1 || jobs[0].ID != task.JobIDs[0] || jobs[0].SubclientID != 18244 {
		t.Errorf("Jobs = %+v, %v; want job %s of subclient 18244 only", jobs, err, task.JobIDs[0])
	}
}

func TestAccessTokensNeverInErrors(t *testing.T) {
	const access, refresh = "cvat-SEKRIT-access-4f1e", "cvrt-SEKRIT-refresh-9a0c"
	base := stub(t, func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/V4/AccessToken/Renew") {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintf(w, `{"errorCode":9,"errorMessage":"cannot renew %s with %s (%s)"}`, access, refresh, r.Header.Get("Authorization"))
			return
		}
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprintf(w, `{"errorCode":5,"errorMessage":"Access denied for %s"}`, r.Header.Get("Authorization"))
	})
	c, err := New(Config{BaseURL: base, AccessToken: access, RefreshToken: refresh})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Job(context.Background(), "7")
	checkNoSecret(t, "refused renewal", err, access, refresh, "SEKRIT")
	checkNoSecret(t, "Ready", c.Ready(), access, refresh, "SEKRIT")
	if s := fmt.Sprintf("%v %+v %#v", c, c, Config{AccessToken: access, RefreshToken: refresh}); strings.Contains(s, "SEKRIT") {
		t.Errorf("printing the client or its config shows a token: %s", s)
	}
}

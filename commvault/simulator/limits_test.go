package simulator

import (
	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

const listing = api + "/Subclient?clientName=aws-prod-account"

func TestReadBudget(t *testing.T) {
	h := newHarness(t, Config{ReadBudget: 3, BudgetWindow: time.Minute})
	for i := range 3 {
		if r := h.do(http.MethodGet, listing, staticToken, nil); r.status != http.StatusOK {
			t.Fatalf("read %d = %d %s, want 200", i, r.status, r.body)
		}
		h.clock.Advance(10 * time.Second)
	}
	// Reads at 0s, 10s, 20s; now 30s: the window frees at 60s.
	r := h.do(http.MethodGet, api+"/Job/1", staticToken, nil)
	wantHeaders := map[string]string{"Retry-After": "30", "X-RateLimit-Limit": "3", "X-RateLimit-Period": "60"}
	if r.status != http.StatusTooManyRequests {
		t.Fatalf("read past the budget = %d %s, want 429", r.status, r.body)
	}
	for k, v := range wantHeaders {
		if got := r.header.Get(k); got != v {
			t.Errorf("header %s = %q, want %q", k, got, v)
		}
	}
	if e := errorAnswer(t, r); e.ErrorCode != 429 || !strings.Contains(e.ErrorMessage, "30 seconds") {
		t.Errorf("429 body = %+v", e)
	}
	// Writes are not counted against the read budget.
	h.createJob(18244, "FULL")
	h.clock.Advance(29 * time.Second) // 59s: still spent, one second to go
	if r := h.do(http.MethodGet, listing, staticToken, nil); r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") != "1" {
		t.Errorf("at 59s = %d Retry-After %q, want 429 after 1", r.status, r.header.Get("Retry-After"))
	}
	h.clock.Advance(time.Second) // 60s: the first read left the window
	if r := h.do(http.MethodGet, listing, staticToken, nil); r.status != http.StatusOK {
		t.Errorf("at 60s = %d, want 200", r.status)
	}
	if r := h.do(http.MethodGet, listing, staticToken, nil); r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") != "10" {
		t.Errorf("next read at 60s = %d Retry-After %q, want 429 after 10", r.status, r.header.Get("Retry-After"))
	}
	// Every GET received is a read, 429s included; POSTs are not.
	if n := h.sim.Reads(); n != 7 {
		t.Errorf("Reads() = %d, want 7", n)
	}
}

func TestReadBudgetDefaultWindow(t *testing.T) {
	h := newHarness(t, Config{ReadBudget: 1})
	h.do(http.MethodGet, listing, staticToken, nil)
	r := h.do(http.MethodGet, listing, staticToken, nil)
	if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") != "3600" || r.header.Get("X-RateLimit-Period") != "3600" {
		t.Errorf("second read = %d, Retry-After %q, period %q; want 429, 3600, 3600",
			r.status, r.header.Get("Retry-After"), r.header.Get("X-RateLimit-Period"))
	}
}

func TestWriteBudget(t *testing.T) {
	h := newHarness(t, Config{WriteBudget: 1, BudgetWindow: time.Hour})
	h.createJob(18244, "FULL")
	r := h.createTask(nil)
	if r.status != http.StatusTooManyRequests || r.header.Get("X-RateLimit-Limit") != "1" {
		t.Fatalf("second CreateTask = %d %s, want 429 with limit 1", r.status, r.body)
	}
	if n := h.sim.CreateTaskCount(); n != 1 {
		t.Errorf("CreateTaskCount() = %d, want 1: a refused write creates nothing", n)
	}
	for range 5 {
		if r := h.do(http.MethodGet, listing, staticToken, nil); r.status != http.StatusOK {
			t.Fatalf("read with the write budget spent = %d, want 200", r.status)
		}
	}
	h.clock.Advance(time.Hour)
	h.createJob(18244, "FULL")
}

func TestNoBudgetByDefault(t *testing.T) {
	h := newHarness(t, Config{})
	for i := range 1500 {
		if r := h.do(http.MethodGet, api+"/Job/1", staticToken, nil); r.status != http.StatusOK {
			t.Fatalf("read %d = %d, want 200", i, r.status)
		}
	}
}

func TestReadBudgetConcurrent(t *testing.T) {
	h := newHarness(t, Config{ReadBudget: 50})
	var mu sync.Mutex
	codes := map[int]int{}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 20 {
				r := h.do(http.MethodGet, api+"/Job/1", staticToken, nil)
				mu.Lock()
				codes[r.status]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if codes[200] != 50 || codes[429] != 110 {
		t.Errorf("answers = %v, want 50 × 200 and 110 × 429", codes)
	}
	if n := h.sim.Reads(); n != 160 {
		t.Errorf("Reads() = %d, want 160", n)
	}
}

func TestReadsSince(t *testing.T) {
	h := newHarness(t, Config{})
	h.do(http.MethodGet, listing, staticToken, nil)
	h.clock.Advance(time.Minute)
	mark := h.clock.Now()
	h.do(http.MethodGet, api+"/Job/1", staticToken, nil)
	h.createTask(nil)
	h.do(http.MethodGet, api+"/NoSuchThing", staticToken, nil)
	h.clock.Advance(time.Second)
	h.do(http.MethodGet, api+"/Job", staticToken, nil)
	if got := h.sim.ReadsSince(mark); got != 3 {
		t.Errorf("ReadsSince(mark) = %d, want 3", got)
	}
	if got := h.sim.ReadsSince(mark.Add(time.Second)); got != 1 {
		t.Errorf("ReadsSince(mark+1s) = %d, want 1", got)
	}
	if got, all := h.sim.ReadsSince(time.Time{}), h.sim.Reads(); got != 4 || all != 4 {
		t.Errorf("ReadsSince(zero) = %d, Reads() = %d; want 4", got, all)
	}
}

// failures sends n GETs of /Job/1 and returns which were answered 500.
func failures(t *testing.T, h *harness, n int) []bool {
	t.Helper()
	out := make([]bool, n)
	for i := range out {
		r := h.do(http.MethodGet, api+"/Job/1", staticToken, nil)
		switch r.status {
		case http.StatusInternalServerError:
			out[i] = true
			if e := errorAnswer(t, r); e.ErrorCode == 0 || r.header.Get("Content-Type") != "application/json;charset=UTF-8" {
				t.Fatalf("random failure answer = %s", r.body)
			}
		case http.StatusOK:
		default:
			t.Fatalf("GET /Job/1 = %d %s", r.status, r.body)
		}
	}
	return out
}

func TestFailRatio(t *testing.T) {
	const n = 400
	cfg := Config{FailRatio: 0.25, Seed: 42}
	first := failures(t, newHarness(t, cfg), n)
	again := failures(t, newHarness(t, cfg), n)
	cfg.Seed = 43
	other := failures(t, newHarness(t, cfg), n)
	count := 0
	for _, f := range first {
		if f {
			count++
		}
	}
	if count < n/4-40 || count > n/4+40 {
		t.Errorf("%d of %d calls failed with FailRatio 0.25", count, n)
	}
	if !slices.Equal(first, again) {
		t.Error("the same seed failed different calls")
	}
	if slices.Equal(first, other) {
		t.Error("another seed failed the same calls")
	}
	if got := failures(t, newHarness(t, Config{FailRatio: 0}), 100); slices.Contains(got, true) {
		t.Error("FailRatio 0 failed calls")
	}
	if got := failures(t, newHarness(t, Config{FailRatio: 1}), 20); slices.Contains(got, false) {
		t.Error("FailRatio 1 let calls through")
	}
}

func TestFailRatioCreateTaskCreatesNothing(t *testing.T) {
	h := newHarness(t, Config{FailRatio: 1, FailOps: []Op{OpCreateTask}})
	for range 3 {
		r := h.createTask(nil)
		if r.status != http.StatusInternalServerError {
			t.Fatalf("CreateTask with FailRatio 1 = %d %s, want 500", r.status, r.body)
		}
		var e map[string]any
		if err := json.Unmarshal(r.body, &e); err != nil || e["errorCode"] == nil {
			t.Errorf("500 body %s is not a JSON errorCode", r.body)
		}
	}
	if n := h.sim.CreateTaskCount(); n != 0 {
		t.Errorf("CreateTaskCount() = %d, want 0", n)
	}
	if s := h.sim.Submissions(); len(s) != 0 {
		t.Errorf("Submissions() = %v, want none", s)
	}
	if r := h.do(http.MethodGet, listing, staticToken, nil); r.status != http.StatusOK {
		t.Errorf("a read, not in FailOps = %d, want 200", r.status)
	}
}

func TestFailRatioOtherOps(t *testing.T) {
	h := newHarness(t, Config{FailRatio: 1, FailOps: []Op{OpJob, OpSubclient}})
	if r := h.do(http.MethodGet, listing, staticToken, nil); r.status != http.StatusInternalServerError {
		t.Errorf("listing = %d, want 500", r.status)
	}
	if r := h.do(http.MethodGet, api+"/Job", staticToken, nil); r.status != http.StatusInternalServerError {
		t.Errorf("job listing = %d, want 500", r.status)
	}
	h.login() // not in FailOps
	if r := h.createTask(nil); r.status != http.StatusOK {
		t.Errorf("CreateTask = %d, want 200", r.status)
	}
}

func TestSubmissions(t *testing.T) {
	h := newHarness(t, Config{})
	h.createJob(18244, "FULL")
	h.createJob(18245, "FULL")
	h.createJob(18244, "INCREMENTAL")
	h.createTask(map[string]any{"taskInfo": "invalid"}) // refused: not a submission
	want := map[int]int{18244: 2, 18245: 1}
	got := h.sim.Submissions()
	if !maps.Equal(got, want) {
		t.Errorf("Submissions() = %v, want %v", got, want)
	}
	got[18244] = 99 // a copy
	if h.sim.Submissions()[18244] != 2 {
		t.Error("Submissions() shares its map")
	}
}

func TestSetJobDuration(t *testing.T) {
	h := newHarness(t, Config{JobDuration: 10 * time.Second})
	short := h.createJob(18244, "FULL")
	h.sim.SetJobDuration(time.Minute)
	long := h.createJob(18245, "FULL")
	h.clock.Advance(10 * time.Second)
	if j, _ := getJob(t, h, short); j.Status != "Completed" {
		t.Errorf("job created before SetJobDuration after 10s = %q, want Completed", j.Status)
	}
	if j, _ := getJob(t, h, long); j.Status != "Running" {
		t.Errorf("job created after SetJobDuration(1m) after 10s = %q, want Running", j.Status)
	}
	h.clock.Advance(50 * time.Second)
	if j, _ := getJob(t, h, long); j.Status != "Completed" || j.JobElapsedTime != 60 {
		t.Errorf("long job after 60s = %q, %ds; want Completed after 60s", j.Status, j.JobElapsedTime)
	}
	var out jobListing
	h.do(http.MethodGet, api+"/Job?clientId=4131&jobCategory=Active", staticToken, nil).decode(t, &out)
	if len(out.Jobs) != 0 {
		t.Errorf("active jobs = %d, want 0", len(out.Jobs))
	}
}

package commvault

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/backupbot/backupbot/commvault/simulator"
)

func TestJobPredicates(t *testing.T) {
	tests := []struct {
		status                        string
		terminal, succeeded, degraded bool
	}{
		{"Running", false, false, false},
		{"Waiting", false, false, false},
		{"Pending", false, false, false},
		{"Suspended", false, false, false},
		{"Kill Pending", false, false, false},
		{"Interrupt Pending", false, false, false},
		{"Running (cannot be verified)", false, false, false},
		{"Completed", true, true, false},
		{"completed", true, true, false},
		{" Completed ", true, true, false},
		{"Completed w/ one or more errors", true, true, true},
		{"Completed w/ one or more warnings", true, true, true},
		{"Committed", true, true, false},
		{"Failed", true, false, false},
		{"Failed to Start", true, false, false},
		{"Killed", true, false, false},
		{"KILLED", true, false, false},
	}
	for _, tt := range tests {
		j := Job{Status: tt.status}
		if j.Terminal() != tt.terminal || j.Succeeded() != tt.succeeded || j.Degraded() != tt.degraded {
			t.Errorf("Job{Status: %q}: Terminal/Succeeded/Degraded = %v/%v/%v, want %v/%v/%v", tt.status,
				j.Terminal(), j.Succeeded(), j.Degraded(), tt.terminal, tt.succeeded, tt.degraded)
		}
	}
}

func TestJobProgress(t *testing.T) {
	e := newEnv(t, simulator.Config{JobDuration: 10 * time.Second})
	c := e.client(t, nil)
	ctx := context.Background()
	start := e.clock.Now()
	task, err := c.CreateBackup(ctx, prodOrders(), Full)
	if err != nil {
		t.Fatal(err)
	}
	id := task.JobIDs[0]

	j, err := c.Job(ctx, id)
	if err != nil {
		t.Fatalf("Job(%s) error: %v", id, err)
	}
	if j.ID != id || j.Status != "Waiting" || j.Terminal() || j.PendingReason == "" || !j.End.IsZero() || !j.LastUpdate.IsZero() {
		t.Errorf("Job(%s) at once = %+v, want Waiting with a pending reason, no end or update time", id, j)
	}
	if again, err := c.Job(ctx, " 0"+id+" "); err != nil || again.ID != id {
		t.Errorf("Job(%q) = %+v, %v, want job %s", " 0"+id+" ", again, err, id)
	}
	if !j.Start.Equal(start) || j.ClientName != prodAccount || j.SubclientName != "orders" {
		t.Errorf("Job(%s) = %+v, want start %s, client %s, subclient orders", id, j, start, prodAccount)
	}

	e.clock.Advance(5 * time.Second)
	j, err = c.Job(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if j.Status != "Running" || j.Percent <= 0 || j.Percent >= 100 || j.SizeBytes <= 0 || j.Terminal() || j.Phase == "" {
		t.Errorf("Job(%s) halfway = %+v, want Running with a percentage, size and phase", id, j)
	}

	e.clock.Advance(5 * time.Second)
	j, err = c.Job(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if !j.Succeeded() || j.Degraded() || j.Percent != 100 || !j.End.Equal(start.Add(10*time.Second)) || j.BackupLevel != "Full" {
		t.Errorf("Job(%s) at the end = %+v, want Completed at 100%% ending %s, level Full", id, j, start.Add(10*time.Second))
	}
}

func TestJobTerminalStates(t *testing.T) {
	tests := []struct {
		status              string
		succeeded, degraded bool
	}{
		{"Completed", true, false},
		{"Completed w/ one or more errors", true, true},
		{"Completed w/ one or more warnings", true, true},
		{"Committed", true, false},
		{"Failed", false, false},
		{"Failed to Start", false, false},
		{"Killed", false, false},
	}
	e := newEnv(t, simulator.Config{JobDuration: time.Second})
	c := e.client(t, nil)
	ctx := context.Background()
	ids := make([]string, len(tests))
	// The first backup of a table group is a full, whatever was asked.
	if _, err := c.CreateBackup(ctx, prodOrders(), Full); err != nil {
		t.Fatal(err)
	}
	for i, tt := range tests {
		e.sim.Inject(simulator.Fault{Op: simulator.OpCreateTask, Kind: simulator.FaultJobEnds, Status: tt.status})
		task, err := c.CreateBackup(ctx, prodOrders(), Incremental)
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = task.JobIDs[0]
	}
	e.clock.Advance(2 * time.Second)
	for i, tt := range tests {
		t.Run(tt.status, func(t *testing.T) {
			j, err := c.Job(ctx, ids[i])
			if err != nil {
				t.Fatal(err)
			}
			if j.Status != tt.status || !j.Terminal() || j.Succeeded() != tt.succeeded || j.Degraded() != tt.degraded {
				t.Errorf("Job = %+v: Terminal/Succeeded/Degraded = %v/%v/%v, want %s true/%v/%v",
					j, j.Terminal(), j.Succeeded(), j.Degraded(), tt.status, tt.succeeded, tt.degraded)
			}
			if j.End.IsZero() || j.BackupLevel != "Incremental" {
				t.Errorf("Job = %+v, want an end time and level Incremental", j)
			}
		})
	}
}

func TestJobNotFound(t *testing.T) {
	e := newEnv(t, simulator.Config{})
	c := e.client(t, nil)
	for _, id := range []string{"999999", "abc", "", "../Login", "0"} {
		if _, err := c.Job(context.Background(), id); !errors.Is(err, ErrJobNotFound) {
			t.Errorf("Job(%q) = %v, want ErrJobNotFound", id, err)
		}
	}
	if n := e.count(simulator.OpJob); n != 1 {
		t.Errorf("job requests = %d, want 1 (invalid IDs are not sent)", n)
	}
}

func TestJobLooseTypes(t *testing.T) {
	base := stub(t, func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"totalRecordsWithoutPaging":1,"jobs":[{"jobSummary":{"jobId":"42","status":"Pending",
			"percentComplete":"12","jobStartTime":"1764234000","jobEndTime":0,"lastUpdateTime":null,
			"sizeOfApplication":"266793","pendingReason":"<span>Waiting for</span><br/>the access&nbsp;node",
			"subclientName":"orders","destClientName":"aws-prod-account"}}]}`)
	})
	c := stubClient(t, base, 5*time.Second)
	j, err := c.Job(context.Background(), "42")
	if err != nil {
		t.Fatal(err)
	}
	want := Job{ID: "42", Status: "Pending", Percent: 12, Start: time.Unix(1764234000, 0).UTC(),
		SizeBytes: 266793, PendingReason: "Waiting for the access node", ClientName: prodAccount, SubclientName: "orders"}
	if fmt.Sprintf("%+v", j) != fmt.Sprintf("%+v", want) {
		t.Errorf("Job = %+v, want %+v", j, want)
	}
}

func TestJobs(t *testing.T) {
	e := newEnv(t, simulator.Config{JobDuration: 10 * time.Second})
	c := e.client(t, nil)
	ctx := context.Background()
	submit := func(client, group string) string {
		t.Helper()
		sc, err := c.TableGroup(ctx, client, group)
		if err != nil {
			t.Fatal(err)
		}
		task, err := c.CreateBackup(ctx, sc, Full)
		if err != nil {
			t.Fatal(err)
		}
		return task.JobIDs[0]
	}
	old := submit(prodAccount, "orders")
	e.clock.Advance(time.Hour) // old finished an hour ago
	done := submit(prodAccount, "payments")
	e.clock.Advance(20 * time.Second) // done has finished
	running := submit(prodAccount, "inventory")
	other := submit("aws-demo-account", "orders")
	e.clock.Advance(5 * time.Second)

	before := e.count(simulator.OpJob)
	jobs, err := c.Jobs(ctx, prodClientID, 10*time.Minute)
	if err != nil {
		t.Fatalf("Jobs error: %v", err)
	}
	if n := e.count(simulator.OpJob) - before; n != 1 {
		t.Errorf("Jobs made %d requests, want 1", n)
	}
	byID := map[string]Job{}
	for _, j := range jobs {
		byID[j.ID] = j
	}
	if _, ok := byID[old]; ok {
		t.Errorf("Jobs(10m) listed %s, which finished an hour ago", old)
	}
	if _, ok := byID[other]; ok {
		t.Errorf("Jobs(%d) listed %s of another client", prodClientID, other)
	}
	if j := byID[done]; !j.Succeeded() {
		t.Errorf("Jobs listed %s as %+v, want Completed", done, j)
	}
	if j := byID[running]; j.Status != "Running" {
		t.Errorf("Jobs listed %s as %+v, want Running", running, j)
	}
	reqs := e.sim.Requests()
	q := reqs[len(reqs)-1].Query
	if q.Get("clientId") != "4131" || q.Get("jobCategory") != "All" || q.Get("completedJobLookupTime") != "600" {
		t.Errorf("Jobs query = %v, want clientId=4131 jobCategory=All completedJobLookupTime=600", q)
	}

	active, err := c.Jobs(ctx, prodClientID, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(active) != 1 || active[0].ID != running {
		t.Errorf("Jobs(active only) = %+v, want just %s", active, running)
	}
}

func TestJobsPages(t *testing.T) {
	e := newEnv(t, simulator.Config{})
	c := e.client(t, nil)
	ctx := context.Background()
	const n = 105 // more than the listing's default page of 100
	var want []string
	for range n {
		task, err := c.CreateBackup(ctx, prodOrders(), Incremental)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, task.JobIDs[0])
	}
	before := e.count(simulator.OpJob)
	jobs, err := c.Jobs(ctx, prodClientID, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, j := range jobs {
		got = append(got, j.ID)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("Jobs listed %d jobs, want %d", len(got), len(want))
	}
	if reads := e.count(simulator.OpJob) - before; reads != 2 {
		t.Errorf("Jobs made %d requests for %d jobs, want 2 pages", reads, n)
	}
}

func TestJobsIgnoredOffsetStops(t *testing.T) {
	var calls atomic.Int32
	base := stub(t, func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		// Claims 500 jobs but always sends the same page.
		fmt.Fprint(w, `{"totalRecordsWithoutPaging":500,"jobs":[{"jobSummary":{"jobId":1,"status":"Running"}}]}`)
	})
	c := stubClient(t, base, 5*time.Second)
	jobs, err := c.Jobs(context.Background(), 1, time.Hour)
	if err != nil || len(jobs) != 1 {
		t.Errorf("Jobs = %+v, %v, want the one job", jobs, err)
	}
	if n := calls.Load(); n != 2 {
		t.Errorf("requests = %d, want 2 (stop when a page adds nothing)", n)
	}
}

func TestJobRateLimited(t *testing.T) {
	e := newEnv(t, simulator.Config{})
	c := e.client(t, nil)
	e.sim.Inject(simulator.Fault{Op: simulator.OpJob, Kind: simulator.FaultRateLimited, RetryAfter: 3 * time.Second})
	_, err := c.Jobs(context.Background(), prodClientID, time.Hour)
	var ae *APIError
	if !errors.As(err, &ae) || ae.StatusCode != http.StatusTooManyRequests || ae.RetryAfter != 3*time.Second {
		t.Errorf("Jobs when rate limited = %v, want *APIError 429 with RetryAfter 3s", err)
	}
}

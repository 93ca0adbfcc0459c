package commvault

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/backupbot/backupbot/commvault/simulator"
)

func TestTableGroupJobs(t *testing.T) {
	clock := newFakeClock()
	now := clock.Now()
	past := []simulator.PastJob{
		{Client: prodAccount, TableGroup: "orders", Level: "FULL", Start: now.Add(-40 * 24 * time.Hour), Duration: time.Minute, Status: "Completed"},
		{Client: prodAccount, TableGroup: "orders", Level: "FULL", Start: now.Add(-26 * time.Hour), Duration: 20 * time.Minute, Status: "Completed"},
		{Client: prodAccount, TableGroup: "orders", Level: "INCREMENTAL", Start: now.Add(-5 * time.Hour), Duration: 2 * time.Minute, Status: "Failed"},
		{Client: prodAccount, TableGroup: "payments", Level: "FULL", Start: now.Add(-4 * time.Hour), Duration: time.Minute, Status: "Completed"},
		{Client: "aws-demo-account", TableGroup: "orders", Level: "FULL", Start: now.Add(-3 * time.Hour), Duration: time.Minute, Status: "Completed"},
	}
	e := newEnv(t, simulator.Config{Now: clock.Now, History: past, JobDuration: time.Hour})
	e.clock = clock
	c := e.client(t, nil)
	ctx := context.Background()
	task, err := c.CreateBackup(ctx, prodOrders(), Incremental)
	if err != nil {
		t.Fatal(err)
	}
	before := e.count(simulator.OpJob)
	jobs, complete, err := c.TableGroupJobs(ctx, prodOrders(), 30*24*time.Hour)
	if err != nil || !complete {
		t.Fatalf("TableGroupJobs = %v, complete %v", err, complete)
	}
	if n := e.count(simulator.OpJob) - before; n != 1 {
		t.Errorf("TableGroupJobs read %d pages, want 1", n)
	}
	var got []string
	for _, j := range jobs {
		got = append(got, j.ID+" "+j.Status+" "+j.BackupLevel)
	}
	want := []string{task.JobIDs[0] + " Waiting Incremental", "149797 Failed Incremental", "149796 Completed Full"}
	if !slices.Equal(got, want) {
		t.Errorf("jobs of orders = %q, want %q (the 40-day-old job and other table groups left out)", got, want)
	}
	if j := jobs[2]; j.Start != now.Add(-26*time.Hour) || j.End != now.Add(-26*time.Hour+20*time.Minute) || j.SizeBytes == 0 {
		t.Errorf("past full = %+v, want its start, end and size", j)
	}
	reqs := e.sim.Requests()
	q := reqs[len(reqs)-1].Query
	if q.Get("clientId") != "4131" || q.Get("jobCategory") != "All" || q.Get("completedJobLookupTime") != "2592000" {
		t.Errorf("query = %v, want clientId=4131 jobCategory=All completedJobLookupTime=2592000", q)
	}
}

// A listing longer than a page is read page by page, with offset and
// limit as headers, and no more pages than the bound.
func TestTableGroupJobsPages(t *testing.T) {
	clock := newFakeClock()
	var past []simulator.PastJob
	for i := range 1050 {
		tg := "orders"
		if i%3 == 0 {
			tg = "payments"
		}
		past = append(past, simulator.PastJob{Client: prodAccount, TableGroup: tg, Level: "INCREMENTAL",
			Start: clock.Now().Add(-time.Duration(1100-i) * 10 * time.Minute), Duration: time.Minute})
	}
	e := newEnv(t, simulator.Config{Now: clock.Now, History: past[:250]})
	c := e.client(t, nil)
	jobs, complete, err := c.TableGroupJobs(context.Background(), prodOrders(), 30*24*time.Hour)
	if err != nil || !complete || len(jobs) != 166 {
		t.Errorf("TableGroupJobs of 250 listed = %d jobs, complete %v, %v; want the 166 of orders", len(jobs), complete, err)
	}
	var offsets []string
	for _, r := range e.sim.Requests() {
		if r.Op == simulator.OpJob {
			offsets = append(offsets, r.Query.Get("offset"))
		}
	}
	if !slices.Equal(offsets, []string{"0", "100", "200"}) {
		t.Errorf("pages at offsets %v, want 0, 100, 200", offsets)
	}

	big := newEnv(t, simulator.Config{Now: clock.Now, History: past})
	jobs, complete, err = big.client(t, nil).TableGroupJobs(context.Background(), prodOrders(), 30*24*time.Hour)
	if err != nil || complete || len(jobs) == 0 {
		t.Errorf("TableGroupJobs of 1050 = %d jobs, complete %v, %v; want a partial listing", len(jobs), complete, err)
	}
	if n := big.count(simulator.OpJob); n != maxHistoryPages {
		t.Errorf("read %d pages, want the bound %d", n, maxHistoryPages)
	}
}

// Headers carry the paging as the documentation says; hidden jobs and
// those of other subclients are left out.
func TestTableGroupJobsHeadersAndHidden(t *testing.T) {
	var pages atomic.Int32
	base := stub(t, func(w http.ResponseWriter, r *http.Request) {
		pages.Add(1)
		offset, _ := strconv.Atoi(r.Header.Get("offset"))
		if r.Header.Get("limit") != "100" {
			http.Error(w, "no limit header", http.StatusBadRequest)
			return
		}
		if offset > 0 {
			fmt.Fprint(w, `{"totalRecordsWithoutPaging":4,"jobs":[{"jobSummary":{"jobId":4,"status":"Completed","subclient":{"subclientId":18244}}}]}`)
			return
		}
		fmt.Fprint(w, `{"totalRecordsWithoutPaging":4,"jobs":[`+
			`{"jobSummary":{"jobId":1,"status":"Completed","isVisible":true,"subclient":{"subclientId":18244}}},`+
			`{"jobSummary":{"jobId":2,"status":"Completed","isVisible":false,"subclient":{"subclientId":18244}}},`+
			`{"jobSummary":{"jobId":"3","status":"Completed","subclient":{"subclientId":"18245"}}}]}`)
	})
	jobs, complete, err := stubClient(t, base, 5*time.Second).TableGroupJobs(context.Background(), prodOrders(), time.Hour)
	var ids []string
	for _, j := range jobs {
		ids = append(ids, j.ID)
	}
	if err != nil || !complete || !slices.Equal(ids, []string{"1", "4"}) || pages.Load() != 2 {
		t.Errorf("TableGroupJobs = %v, complete %v, %v after %d pages; want jobs 1 and 4 after 2", ids, complete, err, pages.Load())
	}
}

func TestTableGroupJobsNeedsIDs(t *testing.T) {
	c := stubClient(t, stub(t, http.NotFound), time.Second)
	if _, _, err := c.TableGroupJobs(context.Background(), Subclient{Name: "orders"}, time.Hour); err == nil {
		t.Error("TableGroupJobs without IDs succeeded")
	}
}

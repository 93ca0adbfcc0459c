package simulator

import (
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"
)

func getJob(t *testing.T, h *harness, id int) (jobSummary, bool) {
	t.Helper()
	r := h.do(http.MethodGet, fmt.Sprintf("%s/Job/%d", api, id), staticToken, nil)
	var out jobListing
	r.decode(t, &out)
	if r.status != http.StatusOK || out.TotalRecordsWithoutPaging != len(out.Jobs) || len(out.Jobs) > 1 {
		t.Fatalf("GET /Job/%d = %d %s", id, r.status, r.body)
	}
	if len(out.Jobs) == 0 {
		return jobSummary{}, false
	}
	return out.Jobs[0].JobSummary, true
}

func TestJobProgress(t *testing.T) {
	h := newHarness(t, Config{JobDuration: 100 * time.Second})
	start := h.clock.Now()
	id := h.createJob(18244, "FULL")
	full := backupSize("aws-prod-account", "orders", "FULL")
	steps := []struct {
		at          time.Duration
		status      string
		percent     int
		phase       string
		pending     bool
		lastUpdate  int64
		end         int64
		size        int64
		elapsedSecs int64
	}{
		{at: 0, status: "Waiting", pending: true},
		{at: 9 * time.Second, status: "Waiting", pending: true},
		{at: 10 * time.Second, status: "Running", percent: 1, phase: "Backup", lastUpdate: start.Unix() + 10, size: full / 100, elapsedSecs: 10},
		{at: 55 * time.Second, status: "Running", percent: 50, phase: "Backup", lastUpdate: start.Unix() + 55, size: full / 2, elapsedSecs: 55},
		{at: 99 * time.Second, status: "Running", percent: 98, phase: "Backup", lastUpdate: start.Unix() + 99, size: full * 98 / 100, elapsedSecs: 99},
		{at: 100 * time.Second, status: "Completed", percent: 100, lastUpdate: start.Unix() + 100, end: start.Unix() + 100, size: full, elapsedSecs: 100},
		{at: time.Hour, status: "Completed", percent: 100, lastUpdate: start.Unix() + 100, end: start.Unix() + 100, size: full, elapsedSecs: 100},
	}
	for _, st := range steps {
		h.clock.Advance(start.Add(st.at).Sub(h.clock.Now()))
		got, ok := getJob(t, h, id)
		if !ok {
			t.Fatalf("at %v: job %d not found", st.at, id)
		}
		if got.Status != st.status || got.PercentComplete != st.percent || got.CurrentPhaseName != st.phase ||
			(got.PendingReason != "") != st.pending || got.LastUpdateTime != st.lastUpdate || got.JobEndTime != st.end ||
			got.SizeOfApplication != st.size || got.JobElapsedTime != st.elapsedSecs || got.JobStartTime != start.Unix() {
			t.Errorf("at %v: job = %+v, want %+v", st.at, got, st)
		}
	}
	got, _ := getJob(t, h, id)
	sub := got.Subclient
	if got.JobID != id || got.AppTypeName != "Cloud Apps" || got.BackupLevelName != "Full" || sub.ClientName != "aws-prod-account" ||
		sub.ClientID != 4131 || sub.SubclientName != "orders" || sub.SubclientID != 18244 || sub.ApplicationID != 134 ||
		sub.InstanceName != "DynamoDB" || sub.BackupsetName != "defaultBackupSet" {
		t.Errorf("job = %+v, want job %d: Full backup of aws-prod-account/orders", got, id)
	}
}

func TestBackupSize(t *testing.T) {
	full := backupSize("aws-prod-account", "orders", "FULL")
	if full < 512<<20 || full > 40<<30 {
		t.Errorf("backupSize(FULL) = %d, want between 512 MiB and 40 GiB", full)
	}
	if again := backupSize("AWS-Prod-Account", "Orders", "FULL"); again != full {
		t.Errorf("backupSize is not deterministic: %d then %d", full, again)
	}
	inc := backupSize("aws-prod-account", "orders", "INCREMENTAL")
	diff := backupSize("aws-prod-account", "orders", "DIFFERENTIAL")
	if !(inc > 0 && inc < diff && diff < full) {
		t.Errorf("sizes inc %d, diff %d, full %d: want 0 < inc < diff < full", inc, diff, full)
	}
	if other := backupSize("aws-prod-account", "payments", "FULL"); other == full {
		t.Errorf("orders and payments have the same size %d", full)
	}
}

func TestJobUnknown(t *testing.T) {
	h := newHarness(t, Config{})
	if _, ok := getJob(t, h, 149800); ok {
		t.Errorf("GET /Job/149800 found a job before any was created")
	}
	r := h.do(http.MethodGet, api+"/Job/abc", staticToken, nil)
	if e := errorAnswer(t, r); e.ErrorCode != codeBadJobQuery {
		t.Errorf("GET /Job/abc = %s, want errorCode %d", r.body, codeBadJobQuery)
	}
}

func TestJobListing(t *testing.T) {
	h := newHarness(t, Config{JobDuration: 100 * time.Second})
	prodDone := h.createJob(18244, "FULL") // aws-prod-account, finishes at +100s
	h.clock.Advance(200 * time.Second)
	prodRunning := h.createJob(18245, "INCREMENTAL")
	demo := h.createJob(18231, "FULL") // aws-demo-account
	h.clock.Advance(50 * time.Second)  // now +250s: prodDone ended 150s ago, the others are running
	tests := []struct {
		name  string
		query string
		want  []int
	}{
		{name: "all of a client, newest first", query: "clientId=4131&jobCategory=All", want: []int{prodRunning, prodDone}},
		{name: "default category is all", query: "clientId=4131", want: []int{prodRunning, prodDone}},
		{name: "active", query: "clientId=4131&jobCategory=Active", want: []int{prodRunning}},
		{name: "finished", query: "clientId=4131&jobCategory=Finished&completedJobLookupTime=3600", want: []int{prodDone}},
		{name: "finished too long ago", query: "clientId=4131&jobCategory=Finished&completedJobLookupTime=120", want: nil},
		{name: "all within lookup", query: "clientId=4131&jobCategory=All&completedJobLookupTime=60", want: []int{prodRunning}},
		{name: "names and values case-insensitive", query: "CLIENTID=4131&JobCategory=ACTIVE", want: []int{prodRunning}},
		{name: "other client", query: "clientId=4127", want: []int{demo}},
		{name: "unknown client", query: "clientId=1", want: nil},
		{name: "every client", query: "jobCategory=all", want: []int{demo, prodRunning, prodDone}},
		{name: "paged", query: "jobCategory=all&limit=1&offset=1", want: []int{prodRunning}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := h.do(http.MethodGet, api+"/Job?"+tt.query, staticToken, nil)
			var out jobListing
			r.decode(t, &out)
			var got []int
			for _, j := range out.Jobs {
				got = append(got, j.JobSummary.JobID)
			}
			if r.status != http.StatusOK || !slices.Equal(got, tt.want) {
				t.Errorf("GET /Job?%s = %d %v, want %v", tt.query, r.status, got, tt.want)
			}
			if out.Jobs == nil {
				t.Errorf("GET /Job?%s: jobs is null, want []", tt.query)
			}
		})
	}
	r := h.do(http.MethodGet, api+"/Job?jobCategory=all&limit=1", staticToken, nil)
	var out jobListing
	r.decode(t, &out)
	if out.TotalRecordsWithoutPaging != 3 || len(out.Jobs) != 1 {
		t.Errorf("paged listing total %d with %d jobs, want 3 with 1", out.TotalRecordsWithoutPaging, len(out.Jobs))
	}
}

func TestJobListingErrors(t *testing.T) {
	h := newHarness(t, Config{})
	for _, q := range []string{"clientId=x", "jobCategory=Recent", "completedJobLookupTime=-5", "completedJobLookupTime=1h", "limit=-1"} {
		r := h.do(http.MethodGet, api+"/Job?"+q, staticToken, nil)
		if e := errorAnswer(t, r); r.status != http.StatusOK || e.ErrorCode != codeBadJobQuery {
			t.Errorf("GET /Job?%s = %d %s, want errorCode %d", q, r.status, r.body, codeBadJobQuery)
		}
	}
}

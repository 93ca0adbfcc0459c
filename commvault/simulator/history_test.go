package simulator

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestSampleHistory(t *testing.T) {
	now := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	past := SampleHistory(Catalogue(), now)
	if again := SampleHistory(Catalogue(), now); !slices.Equal(past, again) {
		t.Fatal("SampleHistory is not deterministic")
	}
	statuses, levels, users := map[string]int{}, map[string]int{}, map[string]int{}
	for i, pj := range past {
		statuses[pj.Status]++
		levels[pj.Level]++
		users[pj.User]++
		if end := pj.Start.Add(pj.Duration); end.After(now.Add(-2 * time.Hour)) {
			t.Errorf("job %d of %s/%s ends at %v, less than 2h before %v", i, pj.Client, pj.TableGroup, end, now)
		}
		if pj.Start.Before(now.AddDate(0, 0, -historyDays-1)) {
			t.Errorf("job %d starts at %v, more than %d days before %v", i, pj.Start, historyDays, now)
		}
		if i > 0 && pj.Start.Before(past[i-1].Start) {
			t.Errorf("job %d starts before job %d: want oldest first", i, i-1)
		}
	}
	for _, s := range []string{"Completed", "Failed", "Killed", "Completed w/ one or more errors"} {
		if statuses[s] == 0 {
			t.Errorf("no %s job in two weeks: %v", s, statuses)
		}
	}
	if statuses["Completed"] < len(past)*2/3 {
		t.Errorf("statuses %v: want mostly Completed", statuses)
	}
	if levels["FULL"] == 0 || levels["INCREMENTAL"] == 0 || users[scheduleUser] == 0 || users[commandCenterUser] == 0 {
		t.Errorf("levels %v, users %v: want full and incremental jobs, by schedules and in Command Center", levels, users)
	}
}

// Past jobs are listed like any other, newest first, with IDs below the
// first one CreateTask hands out, and their lookup window applies.
func TestHistoryListed(t *testing.T) {
	clock := newFakeClock()
	now := clock.Now()
	past := []PastJob{
		{Client: "aws-prod-account", TableGroup: "orders", Level: "FULL", Start: now.Add(-30 * time.Hour), Duration: 20 * time.Minute, Status: "Completed", User: "admin"},
		{Client: "aws-prod-account", TableGroup: "Orders", Level: "incremental", Start: now.Add(-6 * time.Hour), Duration: 3 * time.Minute, Status: "Failed", User: "admin"},
		{Client: "aws-prod-account", TableGroup: "payments", Level: "FULL", Start: now.Add(-5 * time.Hour), Duration: 10 * time.Minute, Status: "Killed", User: "jdoe"},
		{Client: "aws-demo-account", TableGroup: "orders", Level: "FULL", Start: now.Add(-4 * time.Hour), Duration: time.Minute, User: "admin"},
	}
	h := newHarness(t, Config{Now: clock.Now, History: past, JobDuration: 100 * time.Second})
	fresh := h.createJob(18244, "FULL")
	if fresh != firstJobID {
		t.Errorf("first CreateTask job = %d, want %d whatever the history", fresh, firstJobID)
	}
	r := h.do(http.MethodGet, api+"/Job?clientId=4131&jobCategory=All", staticToken, nil)
	var out jobListing
	r.decode(t, &out)
	var ids []int
	byID := map[int]jobSummary{}
	for _, j := range out.Jobs {
		ids = append(ids, j.JobSummary.JobID)
		byID[j.JobSummary.JobID] = j.JobSummary
	}
	want := []int{fresh, firstJobID - 2, firstJobID - 3, firstJobID - 4}
	if !slices.Equal(ids, want) || out.TotalRecordsWithoutPaging != 4 {
		t.Fatalf("listing = %v (total %d), want %v", ids, out.TotalRecordsWithoutPaging, want)
	}
	full := byID[firstJobID-4]
	if full.Status != "Completed" || full.BackupLevelName != "Full" || full.JobStartTime != now.Add(-30*time.Hour).Unix() ||
		full.JobEndTime != now.Add(-30*time.Hour+20*time.Minute).Unix() || full.SizeOfApplication != backupSize("aws-prod-account", "orders", "FULL") ||
		full.Subclient.SubclientID != 18244 || full.UserName.UserName != "admin" {
		t.Errorf("past full = %+v", full)
	}
	if failed := byID[firstJobID-3]; failed.Status != "Failed" || failed.BackupLevelName != "Incremental" || failed.PendingReason == "" {
		t.Errorf("past failure = %+v, want a Failed incremental with its reason", failed)
	}
	if killed := byID[firstJobID-2]; killed.Status != "Killed" || killed.JobEndTime != now.Add(-5*time.Hour+10*time.Minute).Unix() ||
		killed.Subclient.SubclientName != "payments" || !strings.Contains(killed.PendingReason, "jdoe") {
		t.Errorf("past kill = %+v", killed)
	}
	// A day's lookup leaves the 30-hour-old job out; the running one stays.
	r = h.do(http.MethodGet, api+"/Job?clientId=4131&jobCategory=All&completedJobLookupTime=86400", staticToken, nil)
	out = jobListing{}
	r.decode(t, &out)
	if out.TotalRecordsWithoutPaging != 3 {
		t.Errorf("jobs within a day = %d, want 3", out.TotalRecordsWithoutPaging)
	}
	// A past job that ended cannot be killed.
	if code, _ := kill(t, h, "/Job/149796/action/kill"); code != codeKillEnded {
		t.Errorf("kill of a past job = %d, want %d", code, codeKillEnded)
	}
}

// A long history is paged: limit and offset, as headers or parameters.
func TestHistoryPaged(t *testing.T) {
	clock := newFakeClock()
	var past []PastJob
	for i := range 250 {
		past = append(past, PastJob{Client: "aws-prod-account", TableGroup: "orders", Level: "INCREMENTAL",
			Start: clock.Now().Add(-time.Duration(300-i) * time.Hour), Duration: time.Minute, Status: "Completed"})
	}
	h := newHarness(t, Config{Now: clock.Now, History: past})
	seen := map[int]bool{}
	for offset := 0; offset < 300; offset += 100 {
		req, err := http.NewRequest(http.MethodGet, h.srv.URL+api+"/Job?clientId=4131&jobCategory=All", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authtoken", staticToken)
		req.Header.Set("offset", strconv.Itoa(offset))
		resp, err := h.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var out jobListing
		err = json.NewDecoder(resp.Body).Decode(&out)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if out.TotalRecordsWithoutPaging != 250 || len(out.Jobs) != min(100, 250-offset) {
			t.Fatalf("page at offset %d: %d jobs of %d", offset, len(out.Jobs), out.TotalRecordsWithoutPaging)
		}
		for _, j := range out.Jobs {
			if seen[j.JobSummary.JobID] {
				t.Errorf("job %d on two pages", j.JobSummary.JobID)
			}
			seen[j.JobSummary.JobID] = true
		}
	}
	if len(seen) != 250 {
		t.Errorf("pages held %d jobs, want 250", len(seen))
	}
}

func TestHistoryOfUnknownTableGroupPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("New with a past job of an unknown table group did not panic")
		}
	}()
	New(Config{History: []PastJob{{Client: "aws-prod-account", TableGroup: "nosuch", Level: "FULL", Start: time.Now()}}})
}

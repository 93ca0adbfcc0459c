package simulator

import (
	"strconv"
	"testing"
	"time"
)

func TestJobsListsCreatedJobs(t *testing.T) {
	h := newHarness(t, Config{JobDuration: 10 * time.Second})
	if got := h.sim.Jobs(); len(got) != 0 {
		t.Fatalf("Jobs before any CreateTask = %+v", got)
	}
	groups := h.sim.Accounts()[0].TableGroups
	first := h.createJob(groups[0].ID, "FULL")
	h.clock.Advance(4 * time.Second)
	h.sim.Inject(Fault{Op: OpCreateTask, Kind: FaultJobEnds, Status: "Failed"})
	second := h.createJob(groups[1].ID, "INCREMENTAL")
	jobs := h.sim.Jobs()
	if len(jobs) != 2 {
		t.Fatalf("Jobs = %+v, want 2", jobs)
	}
	a, b := jobs[0], jobs[1]
	if a.ID != strconv.Itoa(first) || a.SubclientID != groups[0].ID || a.EndStatus != "Completed" ||
		a.End.Sub(a.Submitted) != 10*time.Second {
		t.Errorf("first job = %+v", a)
	}
	if b.ID != strconv.Itoa(second) || b.SubclientID != groups[1].ID || b.EndStatus != "Failed" || b.TaskID <= a.TaskID {
		t.Errorf("second job = %+v", b)
	}
	now := h.clock.Now()
	if a.Ended(now) || b.Ended(now) {
		t.Errorf("jobs ended at %v: %+v", now, jobs)
	}
	h.clock.Advance(6 * time.Second)
	if now = h.clock.Now(); !a.Ended(now) || b.Ended(now) {
		t.Errorf("at %v: first ended %v (want true), second %v (want false)", now, a.Ended(now), b.Ended(now))
	}
}

package simulator

import (
	"strconv"
	"time"
)

// JobRecord is one job the simulator created, as Jobs reports it: enough
// for a test to tell which table group it backs up and whether it has
// ended, without reading it through the REST API (which counts as a read).
type JobRecord struct {
	ID          string // as CreateTask answered it
	TaskID      int
	SubclientID int // the table group backed up
	Submitted   time.Time
	End         time.Time // when it ends (or ended), by Config.Now
	EndStatus   string    // what GET /Job shows from End on
}

// Ended reports whether the job has ended at t.
func (j JobRecord) Ended(t time.Time) bool { return !t.Before(j.End) }

// Jobs returns every job created so far, in creation order.
func (s *Server) Jobs() []JobRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]JobRecord, 0, len(s.jobs))
	for _, j := range s.jobs {
		out = append(out, JobRecord{ID: strconv.Itoa(j.id), TaskID: j.taskID, SubclientID: j.sc.id,
			Submitted: j.submitted, End: j.submitted.Add(j.duration), EndStatus: j.endStatus})
	}
	return out
}

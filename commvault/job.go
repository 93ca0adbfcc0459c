package commvault

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Job is a job's state, from the jobSummary Commvault returns.
type Job struct {
	ID            string
	Status        string // "Running", "Waiting", "Completed", "Failed", …
	Percent       int
	Start, End    time.Time // zero when Commvault says 0
	LastUpdate    time.Time // zero when Commvault says 0
	SizeBytes     int64     // sizeOfApplication
	PendingReason string    // one line of text (Commvault sends HTML at times)
	Phase         string    // currentPhaseName
	BackupLevel   string    // backupLevelName
	ClientName    string
	SubclientName string
	SubclientID   int // subclient.subclientId, 0 when Commvault did not say
}

// status is the lower-cased, trimmed status.
func (j Job) status() string { return strings.ToLower(strings.TrimSpace(j.Status)) }

// Terminal reports whether the job has ended: Completed (with or without
// warnings or errors), Committed, Failed, Failed to Start or Killed.
func (j Job) Terminal() bool {
	s := j.status()
	return strings.HasPrefix(s, "completed") || s == "committed" || strings.HasPrefix(s, "failed") || s == "killed"
}

// Succeeded reports whether the job ended with its data protected:
// Completed, Committed, or Completed w/ one or more warnings|errors (see
// Degraded for those).
func (j Job) Succeeded() bool {
	s := j.status()
	return strings.HasPrefix(s, "completed") || s == "committed"
}

// Degraded reports "Completed w/ one or more warnings|errors": the job
// succeeded but someone should look at it.
func (j Job) Degraded() bool {
	return strings.HasPrefix(j.status(), "completed w/ one or more")
}

// jobListing is the answer of GET /Job/{id} and GET /Job.
type jobListing struct {
	Total *flexInt `json:"totalRecordsWithoutPaging"` // nil when absent
	Jobs  []struct {
		Summary jobSummary `json:"jobSummary"`
	} `json:"jobs"`
}

type jobSummary struct {
	JobID             flexString `json:"jobId"`
	Status            string     `json:"status"`
	PercentComplete   flexInt    `json:"percentComplete"`
	JobStartTime      flexInt    `json:"jobStartTime"`
	JobEndTime        flexInt    `json:"jobEndTime"`
	LastUpdateTime    flexInt    `json:"lastUpdateTime"`
	SizeOfApplication flexInt    `json:"sizeOfApplication"`
	PendingReason     string     `json:"pendingReason"`
	CurrentPhaseName  string     `json:"currentPhaseName"`
	BackupLevelName   string     `json:"backupLevelName"`
	SubclientName     string     `json:"subclientName"`
	DestClientName    string     `json:"destClientName"`
	IsVisible         *bool      `json:"isVisible"` // false: an internal job; nil: not said
	Subclient         struct {
		ClientName    string  `json:"clientName"`
		SubclientName string  `json:"subclientName"`
		SubclientID   flexInt `json:"subclientId"`
	} `json:"subclient"`
}

// hidden reports whether Commvault marks the job internal (isVisible false),
// as cvpysdk skips such jobs in listings.
func (s jobSummary) hidden() bool { return s.IsVisible != nil && !*s.IsVisible }

func (s jobSummary) job() Job {
	pending := s.PendingReason
	if strings.ContainsAny(pending, "<&") {
		pending = reduceBody([]byte("<body>"+pending+"</body>"), "text/html")
	}
	pending = capRunes(oneLine(pending), 2*maxMessage)
	return Job{
		ID:            string(s.JobID),
		Status:        strings.TrimSpace(s.Status),
		Percent:       int(s.PercentComplete),
		Start:         epoch(s.JobStartTime),
		End:           epoch(s.JobEndTime),
		LastUpdate:    epoch(s.LastUpdateTime),
		SizeBytes:     int64(s.SizeOfApplication),
		PendingReason: pending,
		Phase:         s.CurrentPhaseName,
		BackupLevel:   s.BackupLevelName,
		ClientName:    firstNonEmpty(s.Subclient.ClientName, s.DestClientName),
		SubclientName: firstNonEmpty(s.Subclient.SubclientName, s.SubclientName),
		SubclientID:   int(s.Subclient.SubclientID),
	}
}

// epoch converts Commvault's epoch seconds; 0 (not yet) is the zero time.
func epoch(sec flexInt) time.Time {
	if sec <= 0 {
		return time.Time{}
	}
	return time.Unix(int64(sec), 0).UTC()
}

// Job reads one job (GET /Job/{id}). It returns ErrJobNotFound when
// Commvault has no record of it, which can happen for a moment right after
// CreateTask.
func (c *Client) Job(ctx context.Context, id string) (Job, error) {
	n, err := strconv.ParseUint(strings.TrimSpace(id), 10, 64)
	if err != nil || n == 0 {
		return Job{}, fmt.Errorf("get job %q: not a job ID: %w", id, ErrJobNotFound)
	}
	id = strconv.FormatUint(n, 10)
	var out jobListing
	if err := c.do(ctx, request{method: http.MethodGet, path: "/Job/" + id}, &out); err != nil {
		return Job{}, fmt.Errorf("get job %s: %w", id, err)
	}
	if (out.Total != nil && *out.Total == 0) || len(out.Jobs) == 0 {
		return Job{}, fmt.Errorf("get job %s: %w", id, ErrJobNotFound)
	}
	for _, j := range out.Jobs {
		if string(j.Summary.JobID) == id {
			return j.Summary.job(), nil
		}
	}
	return Job{}, fmt.Errorf("get job %s: %w (the answer was about other jobs)", id, ErrJobNotFound)
}

// maxJobPages bounds how many pages Jobs reads for one listing.
const maxJobPages = 20

// Jobs lists a client's active jobs and those that finished within
// finishedWithin (GET /Job?clientId=N&jobCategory=All&completedJobLookupTime=S),
// with finishedWithin <= 0 meaning active jobs only.
//
// This is how the bot keeps the reads it spends per poll independent of
// the number of jobs it watches: one listing per client (cloud account)
// returns the state of every job of that client, so polling ten backups of
// one account costs one read, not ten, which matters against Commvault
// SaaS's budget of about 1,000 reads an hour. A job missing from the listing
// (finished before the lookup window, or not visible yet) is read with Job.
//
// Jobs Commvault marks internal (isVisible false) are left out.
//
// Commvault pages listings (100 jobs by default). When it says there are
// more jobs than it sent, Jobs asks for the next pages (offset and limit, as
// headers and as query parameters, since the API versions differ), up to a
// bound; a page that adds no new job ends the listing.
func (c *Client) Jobs(ctx context.Context, clientID int, finishedWithin time.Duration) ([]Job, error) {
	q := url.Values{"clientId": {strconv.Itoa(clientID)}}
	if finishedWithin > 0 {
		secs := int64((finishedWithin + time.Second - 1) / time.Second)
		q.Set("jobCategory", "All")
		q.Set("completedJobLookupTime", strconv.FormatInt(secs, 10))
	} else {
		q.Set("jobCategory", "Active")
	}
	var jobs []Job
	seen := map[string]bool{}
	for page := 0; page < maxJobPages; page++ {
		r := request{method: http.MethodGet, path: "/Job", query: q, limit: maxListingBody}
		if page > 0 {
			offset := strconv.Itoa(len(seen))
			r.query = url.Values{}
			for k, v := range q {
				r.query[k] = v
			}
			r.query.Set("offset", offset)
			r.query.Set("limit", "100")
			r.header = http.Header{"Offset": {offset}, "Limit": {"100"}}
		}
		var out jobListing
		if err := c.do(ctx, r, &out); err != nil {
			return nil, fmt.Errorf("list jobs of client %d: %w", clientID, err)
		}
		added := 0
		for _, j := range out.Jobs {
			id := string(j.Summary.JobID)
			if seen[id] {
				continue
			}
			seen[id] = true
			added++
			if !j.Summary.hidden() {
				jobs = append(jobs, j.Summary.job())
			}
		}
		if added == 0 || out.Total == nil || len(seen) >= int(*out.Total) {
			break
		}
	}
	return jobs, nil
}

package commvault

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

const (
	// historyPageSize is how many jobs a page of a history listing asks
	// for: Commvault's default page.
	historyPageSize = 100
	// maxHistoryPages bounds the reads one history costs.
	maxHistoryPages = 10
)

// TableGroupJobs lists the backup jobs of one table group that Commvault
// knows of, whoever started them (schedules, Command Center, this bot):
// those still active and those that finished within `within`. It reads
// the client's job listing (GET /Job?clientId=…&jobCategory=All&
// completedJobLookupTime=…), a page of 100 at a time with limit and offset
// sent as headers (as the documentation has it) and as query parameters
// (as some versions read them), until it holds totalRecordsWithoutPaging
// jobs, a page adds nothing new, or maxHistoryPages pages were read; it
// keeps the jobs of sc's subclient ID and drops those Commvault marks
// isVisible false (internal jobs). Reads never grow with the number of
// jobs kept: one per page.
//
// complete is false when the page bound stopped it before the end of the
// listing: the jobs are then those of the pages read.
func (c *Client) TableGroupJobs(ctx context.Context, sc Subclient, within time.Duration) (jobs []Job, complete bool, err error) {
	if sc.ClientID <= 0 || sc.ID <= 0 {
		return nil, false, fmt.Errorf("list jobs of table group %q: no client or subclient ID", sc.Name)
	}
	secs := max(int64((within+time.Second-1)/time.Second), 1)
	q := url.Values{"clientId": {strconv.Itoa(sc.ClientID)}, "jobCategory": {"All"},
		"completedJobLookupTime": {strconv.FormatInt(secs, 10)}}
	listed := 0
	seen := map[string]bool{}
	for page := 0; page < maxHistoryPages; page++ {
		offset := strconv.Itoa(listed)
		r := request{method: http.MethodGet, path: "/Job", limit: maxListingBody,
			header: http.Header{"Offset": {offset}, "Limit": {strconv.Itoa(historyPageSize)}}, query: url.Values{}}
		for k, v := range q {
			r.query[k] = v
		}
		r.query.Set("offset", offset)
		r.query.Set("limit", strconv.Itoa(historyPageSize))
		var out historyListing
		if err := c.do(ctx, r, &out); err != nil {
			return nil, false, fmt.Errorf("list jobs of %s/%s: %w", sc.ClientName, sc.Name, err)
		}
		added := 0
		for _, raw := range out.Jobs {
			j, sub, visible, err := decodeHistoryJob(raw.Summary)
			if err != nil {
				return nil, false, fmt.Errorf("list jobs of %s/%s: %w", sc.ClientName, sc.Name, err)
			}
			if j.ID == "" || seen[j.ID] {
				continue
			}
			seen[j.ID] = true
			added++
			if visible && sub == sc.ID {
				jobs = append(jobs, j)
			}
		}
		listed += added
		if added == 0 || out.Total == nil || listed >= int(*out.Total) {
			return jobs, true, nil
		}
	}
	return jobs, false, nil
}

// historyListing is a page of GET /Job, its summaries kept raw so that
// each is read twice: as a Job, and for the fields only a history needs.
type historyListing struct {
	Total *flexInt `json:"totalRecordsWithoutPaging"`
	Jobs  []struct {
		Summary json.RawMessage `json:"jobSummary"`
	} `json:"jobs"`
}

// decodeHistoryJob reads one jobSummary: the job, its subclient ID, and
// whether it is visible (an absent isVisible counts as visible).
func decodeHistoryJob(raw json.RawMessage) (j Job, subclientID int, visible bool, err error) {
	var s jobSummary
	var extra struct {
		IsVisible *bool `json:"isVisible"`
		Subclient struct {
			SubclientID flexInt `json:"subclientId"`
		} `json:"subclient"`
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		return Job{}, 0, false, fmt.Errorf("decode job summary: invalid JSON (%s)", jsonErrorKind(err))
	}
	if err := json.Unmarshal(raw, &extra); err != nil {
		return Job{}, 0, false, fmt.Errorf("decode job summary: invalid JSON (%s)", jsonErrorKind(err))
	}
	return s.job(), int(extra.Subclient.SubclientID), extra.IsVisible == nil || *extra.IsVisible, nil
}

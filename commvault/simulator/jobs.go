package simulator

import (
	"fmt"
	"hash/fnv"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

const (
	codeBadJobQuery  = 4
	defaultPageLimit = 100
	pendingWaiting   = "The job is queued and waiting for resources on the access node to become available."
	failureReason    = "Error Code: [82:128] Description: Backup of one or more DynamoDB tables failed: the access node lost its connection to the AWS endpoint."
)

// job is one backup job; its state is derived from the clock when read.
type job struct {
	id        int
	taskID    int
	sc        *subclient
	level     string // canonical: FULL, INCREMENTAL, DIFFERENTIAL, SYNTHETIC_FULL
	submitted time.Time
	endStatus string // terminal status; "Completed" unless a FaultJobEnds said otherwise
	userName  string
	duration  time.Duration // Waiting→Running→end over this long
	killedAt  time.Time     // when POST /Job/{id}/action/kill was accepted; zero if never
	killedBy  string
	hidden    bool // an internal job: isVisible false
}

type jobUser struct {
	UserName string `json:"userName"`
	UserID   int    `json:"userId"`
}

type jobSubclient struct {
	ClientName    string `json:"clientName"`
	ClientID      int    `json:"clientId"`
	InstanceName  string `json:"instanceName"`
	InstanceID    int    `json:"instanceId"`
	BackupsetName string `json:"backupsetName"`
	BackupsetID   int    `json:"backupsetId"`
	SubclientName string `json:"subclientName"`
	SubclientID   int    `json:"subclientId"`
	AppName       string `json:"appName"`
	ApplicationID int    `json:"applicationId"`
}

type jobSummary struct {
	JobID                  int          `json:"jobId"`
	Status                 string       `json:"status"`
	LocalizedStatus        string       `json:"localizedStatus"`
	PercentComplete        int          `json:"percentComplete"`
	JobStartTime           int64        `json:"jobStartTime"`
	JobEndTime             int64        `json:"jobEndTime"`
	LastUpdateTime         int64        `json:"lastUpdateTime"`
	JobElapsedTime         int64        `json:"jobElapsedTime"`
	SizeOfApplication      int64        `json:"sizeOfApplication"`
	SizeOfMediaOnDisk      int64        `json:"sizeOfMediaOnDisk"`
	PendingReason          string       `json:"pendingReason"`
	CurrentPhaseName       string       `json:"currentPhaseName"`
	BackupLevelName        string       `json:"backupLevelName"`
	AppTypeName            string       `json:"appTypeName"`
	JobType                string       `json:"jobType"`
	LocalizedOperationName string       `json:"localizedOperationName"`
	IsVisible              bool         `json:"isVisible"`
	DestClientName         string       `json:"destClientName"`
	SubclientName          string       `json:"subclientName"`
	BackupSetName          string       `json:"backupSetName"`
	UserName               jobUser      `json:"userName"`
	Subclient              jobSubclient `json:"subclient"`
}

type jobEntry struct {
	JobSummary jobSummary `json:"jobSummary"`
}

type jobListing struct {
	TotalRecordsWithoutPaging int        `json:"totalRecordsWithoutPaging"`
	Jobs                      []jobEntry `json:"jobs"`
}

var levelNames = map[string]string{
	"FULL": "Full", "INCREMENTAL": "Incremental", "DIFFERENTIAL": "Differential", "SYNTHETIC_FULL": "Synthetic Full",
}

// terminal reports whether the job has ended at now.
func (j *job) terminal(now time.Time) bool {
	return !now.Before(j.end())
}

// end is when the job ends (or ended): its duration after submission, or
// killDelay after a kill.
func (j *job) end() time.Time {
	if !j.killedAt.IsZero() {
		return j.killedAt.Add(killDelay)
	}
	return j.submitted.Add(j.duration)
}

// summary is the job as GET /Job shows it at now: Waiting for the first
// tenth of its duration, then Running with its percentage rising, then its
// end status.
func (j *job) summary(now time.Time) jobSummary {
	sc, d := j.sc, j.duration
	out := jobSummary{
		JobID:                  j.id,
		JobStartTime:           j.submitted.Unix(),
		BackupLevelName:        levelNames[j.level],
		AppTypeName:            sc.appName,
		JobType:                "Backup",
		LocalizedOperationName: "Backup",
		IsVisible:              !j.hidden,
		DestClientName:         sc.clientName,
		SubclientName:          sc.name,
		BackupSetName:          sc.backupsetName,
		UserName:               jobUser{UserName: j.userName, UserID: 1},
		Subclient: jobSubclient{
			ClientName: sc.clientName, ClientID: sc.clientID,
			InstanceName: sc.instanceName, InstanceID: sc.instanceID,
			BackupsetName: sc.backupsetName, BackupsetID: sc.backupsetID,
			SubclientName: sc.name, SubclientID: sc.id,
			AppName: sc.appName, ApplicationID: sc.appID,
		},
	}
	elapsed := max(now.Sub(j.submitted), 0)
	if !j.killedAt.IsZero() { // progress stopped at the kill
		elapsed = min(elapsed, j.killedAt.Sub(j.submitted))
	}
	wait := d / 10
	size := backupSize(sc.clientName, sc.name, j.level)
	switch {
	case !j.killedAt.IsZero():
		j.killedSummary(&out, now, elapsed, size)
	case elapsed < wait:
		out.Status = "Waiting"
		out.PendingReason = pendingWaiting
	case elapsed < d:
		out.Status = "Running"
		out.PercentComplete = progress(elapsed, d)
		out.CurrentPhaseName = "Backup"
		out.LastUpdateTime = now.Unix()
		out.SizeOfApplication = size * int64(out.PercentComplete) / 100
	default:
		end := j.submitted.Add(d)
		out.Status = j.endStatus
		out.JobEndTime = end.Unix()
		out.LastUpdateTime = end.Unix()
		out.PercentComplete = 100
		out.SizeOfApplication = size
		if !completedStatus(j.endStatus) {
			out.PercentComplete = 60
			out.SizeOfApplication = size * 60 / 100
			out.CurrentPhaseName = "Backup"
			if strings.HasPrefix(strings.ToLower(j.endStatus), "failed") {
				out.PendingReason = failureReason
			}
		}
	}
	if out.Status != "Waiting" {
		out.JobElapsedTime = int64(min(elapsed, d) / time.Second)
	}
	out.LocalizedStatus = out.Status
	out.SizeOfMediaOnDisk = out.SizeOfApplication * 37 / 100
	return out
}

// progress is how far, in percent (1..99), a job of duration d has got
// after running for elapsed, its first tenth spent waiting.
func progress(elapsed, d time.Duration) int {
	wait := d / 10
	if elapsed < wait || d-wait <= 0 {
		return 0
	}
	return min(max(int((elapsed-wait)*100/(d-wait)), 1), 99)
}

func completedStatus(status string) bool {
	s := strings.ToLower(status)
	return strings.HasPrefix(s, "completed") || s == "committed"
}

// backupSize is a plausible, deterministic size in bytes for a backup of one
// table group at one level.
func backupSize(client, name, level string) int64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(strings.ToLower(client + "/" + name)))
	sum := h.Sum64()
	full := int64(768<<20) + int64(sum%(36<<30)) // 768 MiB to ~36.75 GiB
	switch level {
	case "INCREMENTAL":
		return full/40 + int64((sum>>32)%(96<<20))
	case "DIFFERENTIAL":
		return full/9 + int64((sum>>32)%(256<<20))
	default:
		return full
	}
}

// handleJob answers GET /Job/{id}.
func (s *Server) handleJob(w http.ResponseWriter, id string) {
	n, err := strconv.Atoi(id)
	if err != nil {
		writeError(w, codeBadJobQuery, fmt.Sprintf("Invalid input: job id [%s] is not a number.", id))
		return
	}
	now := s.now()
	out := jobListing{Jobs: []jobEntry{}}
	s.mu.Lock()
	if j := s.jobByID[n]; j != nil {
		out.Jobs = append(out.Jobs, jobEntry{JobSummary: j.summary(now)})
	}
	s.mu.Unlock()
	out.TotalRecordsWithoutPaging = len(out.Jobs)
	writeJSON(w, http.StatusOK, out)
}

// handleJobs answers GET /Job?clientId=N&jobCategory=Active|Finished|All&
// completedJobLookupTime=SECONDS, newest job first. limit (default 100) and
// offset are read from the query or, as the docs have it, from headers.
func (s *Server) handleJobs(w http.ResponseWriter, r *http.Request, q map[string]string) {
	clientID := -1
	if v, ok := q["clientid"]; ok {
		n, err := strconv.Atoi(v)
		if err != nil {
			writeError(w, codeBadJobQuery, fmt.Sprintf("Invalid input: clientId [%s] is not a number.", v))
			return
		}
		clientID = n
	}
	category := strings.ToLower(q["jobcategory"])
	if category == "" {
		category = "all"
	}
	if category != "all" && category != "active" && category != "finished" {
		writeError(w, codeBadJobQuery, fmt.Sprintf("Invalid input: jobCategory [%s] must be Active, Finished or All.", q["jobcategory"]))
		return
	}
	lookup := 365 * 24 * time.Hour
	if v, ok := q["completedjoblookuptime"]; ok {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			writeError(w, codeBadJobQuery, fmt.Sprintf("Invalid input: completedJobLookupTime [%s] must be a number of seconds.", v))
			return
		}
		lookup = time.Duration(n) * time.Second
	}
	limit, offset, ok := paging(r, q)
	if !ok {
		writeError(w, codeBadJobQuery, "Invalid input: limit and offset must be non-negative numbers.")
		return
	}
	now := s.now()
	var all []jobEntry
	s.mu.Lock()
	for _, j := range slices.Backward(s.jobs) {
		if clientID >= 0 && j.sc.clientID != clientID {
			continue
		}
		done := j.terminal(now)
		switch {
		case !done && category == "finished":
			continue
		case done && (category == "active" || now.Sub(j.submitted.Add(j.duration)) > lookup):
			continue
		}
		all = append(all, jobEntry{JobSummary: j.summary(now)})
	}
	s.mu.Unlock()
	out := jobListing{TotalRecordsWithoutPaging: len(all), Jobs: []jobEntry{}}
	if offset < len(all) {
		out.Jobs = all[offset:min(offset+limit, len(all))]
	}
	writeJSON(w, http.StatusOK, out)
}

func paging(r *http.Request, q map[string]string) (limit, offset int, ok bool) {
	limit, offset = defaultPageLimit, 0
	for name, dst := range map[string]*int{"limit": &limit, "offset": &offset} {
		v, found := q[name]
		if !found {
			v = r.Header.Get(name)
		}
		if v == "" {
			continue
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return 0, 0, false
		}
		*dst = n
	}
	return limit, offset, true
}

package simulator

import (
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// killDelay is how long a killed job shows "Kill Pending" before "Killed":
// Commvault stops a job's processes before it records the end.
const killDelay = time.Second

// Commvault-style error codes a kill answers (HTTP 200).
const (
	codeKillBadJob   = 1
	codeKillNotFound = 2
	codeKillEnded    = 3
)

// killErrors is the answer shape cvpysdk reads first for job actions:
// {"errors":[{"errList":[{"errorCode":N,"errLogMessage":"…"}]}]}.
type killErrors struct {
	Errors []struct {
		ErrList []killErr `json:"errList"`
	} `json:"errors"`
}

type killErr struct {
	ErrorCode     int    `json:"errorCode"`
	ErrLogMessage string `json:"errLogMessage"`
}

func killAnswer(code int, msg string) killErrors {
	var out killErrors
	out.Errors = append(out.Errors, struct {
		ErrList []killErr `json:"errList"`
	}{ErrList: []killErr{{ErrorCode: code, ErrLogMessage: msg}}})
	return out
}

// handleKill answers POST /Job/{id}/action/kill as Commvault does: a job
// that has not ended is killed (it shows Kill Pending for killDelay, then
// Killed, its progress stopped where it was) and the answer carries
// errorCode 0; killing it again while the kill is pending is accepted; a
// job that has ended, or does not exist, is refused with a nonzero
// errorCode in an HTTP 200.
func (s *Server) handleKill(w http.ResponseWriter, id string) {
	n, err := strconv.Atoi(id)
	if err != nil {
		writeJSON(w, http.StatusOK, killAnswer(codeKillBadJob, fmt.Sprintf("Invalid input: job id [%s] is not a number.", id)))
		return
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	j := s.jobByID[n]
	switch {
	case j == nil:
		writeJSON(w, http.StatusOK, killAnswer(codeKillNotFound, fmt.Sprintf("Job [%d] does not exist.", n)))
	case j.terminal(now):
		writeJSON(w, http.StatusOK, killAnswer(codeKillEnded, fmt.Sprintf(
			"Job [%d] is already in [%s] state and cannot be killed.", n, j.summary(now).Status)))
	default:
		if j.killedAt.IsZero() {
			j.killedAt, j.killedBy = now, s.cfg.Username
		}
		s.kills++
		writeJSON(w, http.StatusOK, killAnswer(0, ""))
	}
}

// killedSummary fills in a killed job as of now: Kill Pending, then Killed;
// elapsed is how far it had got when it was killed.
func (j *job) killedSummary(out *jobSummary, now time.Time, elapsed time.Duration, size int64) {
	percent := progress(elapsed, j.duration)
	out.PercentComplete = percent
	out.SizeOfApplication = size * int64(percent) / 100
	out.CurrentPhaseName = "Backup"
	if now.Before(j.end()) {
		out.Status = "Kill Pending"
		out.LastUpdateTime = now.Unix()
		return
	}
	out.Status = "Killed"
	out.JobEndTime = j.end().Unix()
	out.LastUpdateTime = j.end().Unix()
	out.PendingReason = fmt.Sprintf("The job was killed by user [%s].", j.killedBy)
}

// Kills returns how many kill requests the simulator accepted.
func (s *Server) Kills() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.kills
}

package simulator

import (
	"cmp"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"
	"time"
)

// PastJob is a backup job that ran before the simulator started: a
// schedule's or someone's in Command Center. GET /Job lists it like any
// other job, with its own start, end, status and size.
type PastJob struct {
	Client     string        // the account's clientName
	TableGroup string        // the table group's name in that account
	Level      string        // FULL, INCREMENTAL, DIFFERENTIAL or SYNTHETIC_FULL
	Start      time.Time     // jobStartTime
	Duration   time.Duration // how long it ran; its end is Start + Duration
	Status     string        // its final status: Completed, Failed, Killed, Completed w/ one or more errors, …
	User       string        // who started it (a schedule's owner, a Command Center user)
}

// Users the sample history's jobs are started by.
const (
	scheduleUser      = "admin"
	commandCenterUser = "jdoe"
)

// historyDays is how far back SampleHistory goes.
const historyDays = 14

// SampleHistory is two weeks of past jobs for the table groups of
// accounts, as a CommServe would have them, ending before now: a nightly
// incremental schedule at 01:00 UTC, a full backup every Sunday at 00:30
// and on the 1st, a few full backups someone started in Command Center;
// about one job in nine failed, some completed with errors, one a week was
// killed. It is deterministic for a given now, and every job ended at
// least two hours before now, so that it never looks like a job a bot
// just submitted.
func SampleHistory(accounts []Account, now time.Time) []PastJob {
	var out []PastJob
	cut := now.Add(-2 * time.Hour)
	day0 := now.UTC().Truncate(24*time.Hour).AddDate(0, 0, -historyDays)
	for _, a := range accounts {
		for _, tg := range a.TableGroups {
			for d := 0; d <= historyDays; d++ {
				day := day0.AddDate(0, 0, d)
				for _, pj := range dayOfJobs(a.Name, tg.Name, day) {
					if !pj.Start.Add(pj.Duration).After(cut) {
						out = append(out, pj)
					}
				}
			}
		}
	}
	slices.SortStableFunc(out, func(a, b PastJob) int { return a.Start.Compare(b.Start) })
	return out
}

// dayOfJobs is what ran for one table group on one day.
func dayOfJobs(client, tableGroup string, day time.Time) []PastJob {
	seed := func(what string) uint64 {
		h := fnv.New64a()
		_, _ = fmt.Fprintf(h, "%s/%s/%s/%s", strings.ToLower(client), strings.ToLower(tableGroup), day.Format(time.DateOnly), what)
		return h.Sum64()
	}
	job := func(what, level, user string, at time.Duration, minutes int) PastJob {
		r := seed(what)
		return PastJob{Client: client, TableGroup: tableGroup, Level: level, User: user,
			Start:    day.Add(at + time.Duration(r%600)*time.Second),
			Duration: time.Duration(minutes)*time.Minute + time.Duration(r>>20%240)*time.Second,
			Status:   pastStatus(r >> 40)}
	}
	var jobs []PastJob
	if day.Weekday() == time.Sunday || day.Day() == 1 {
		jobs = append(jobs, job("full", "FULL", scheduleUser, 30*time.Minute, 18))
	} else {
		jobs = append(jobs, job("incr", "INCREMENTAL", scheduleUser, time.Hour, 3))
	}
	if seed("manual")%4 == 0 { // someone in Command Center, during the day
		jobs = append(jobs, job("manual", "FULL", commandCenterUser, 9*time.Hour+time.Duration(seed("hour")%8)*time.Hour, 21))
	}
	return jobs
}

// pastStatus picks a final status from r: mostly Completed.
func pastStatus(r uint64) string {
	switch r % 27 {
	case 0, 1, 2:
		return "Failed"
	case 3:
		return "Completed w/ one or more errors"
	case 4:
		return "Killed"
	}
	return "Completed"
}

// addHistory adds past jobs, oldest first, with job IDs below the first
// one CreateTask hands out. It panics when a job names an account or
// table group the catalogue lacks, a programming error in the caller.
func (s *Server) addHistory(past []PastJob) {
	past = slices.Clone(past)
	slices.SortStableFunc(past, func(a, b PastJob) int { return a.Start.Compare(b.Start) })
	for i, pj := range past {
		sc := s.findTableGroup(pj.Client, pj.TableGroup)
		if sc == nil {
			panic(fmt.Sprintf("simulator: past job of unknown table group %q/%q", pj.Client, pj.TableGroup))
		}
		level := strings.ToUpper(pj.Level)
		if _, ok := levelNames[level]; !ok {
			panic(fmt.Sprintf("simulator: past job with unknown level %q", pj.Level))
		}
		status := pj.Status
		if status == "" {
			status = "Completed"
		}
		j := &job{id: firstJobID - len(past) + i, taskID: firstTaskID - len(past) + i, sc: sc, level: level,
			submitted: pj.Start, endStatus: status, userName: pj.User, duration: max(pj.Duration, time.Second)}
		if strings.EqualFold(status, "Killed") {
			j.killedAt, j.killedBy = j.submitted.Add(j.duration).Add(-killDelay), cmp.Or(pj.User, scheduleUser)
		}
		s.jobs = append(s.jobs, j)
		s.jobByID[j.id] = j
	}
}

// findTableGroup is the DynamoDB table group called name in client (an
// account's other Cloud Apps instances may have subclients of that name).
func (s *Server) findTableGroup(client, name string) *subclient {
	for _, sc := range s.subs {
		if sc.appID == appCloudApps && sc.instType == TypeDynamoDB && strings.EqualFold(sc.clientName, client) &&
			strings.EqualFold(sc.name, name) {
			return sc
		}
	}
	return nil
}

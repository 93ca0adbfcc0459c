package simulator

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Commvault-style error codes CreateTask answers (HTTP 200) for an invalid
// task; one per field so tests can tell them apart.
const (
	codeTaskInfo          = 1001
	codeAssociations      = 1002
	codeEntityType        = 1003
	codeApplicationID     = 1004
	codeSubclientID       = 1005
	codeSubclientNotFound = 1006
	codeEntityMismatch    = 1007
	codeTaskType          = 1008
	codeSubTasks          = 1009
	codeSubTaskType       = 1010
	codeOperationType     = 1011
	codeBackupLevel       = 1012
)

var backupLevels = []string{"FULL", "INCREMENTAL", "DIFFERENTIAL", "SYNTHETIC_FULL"}

// taskError is a CreateTask validation failure: an errorCode answer.
type taskError struct {
	code int
	msg  string
}

type createAnswer struct {
	TaskID int      `json:"taskId"`
	JobIDs []string `json:"jobIds,omitempty"`
}

// handleCreateTask answers POST /CreateTask: it validates the body like a
// strict server, then creates one task and one job.
func (s *Server) handleCreateTask(w http.ResponseWriter, r *http.Request, body []byte) {
	var doc any
	if len(bytes.TrimSpace(body)) == 0 || json.Unmarshal(body, &doc) != nil || doc == nil {
		writeBadBody(w)
		return
	}
	sc, level, terr := s.validateTask(doc)
	if terr != nil {
		writeError(w, terr.code, terr.msg)
		return
	}
	if _, ok := s.takeFault(OpCreateTask, stageCreated, FaultNoJobIDs); ok {
		s.mu.Lock()
		taskID := s.nextTaskID
		s.nextTaskID++
		s.mu.Unlock()
		writeJSON(w, http.StatusOK, createAnswer{TaskID: taskID})
		return
	}
	endStatus := "Completed"
	if f, ok := s.takeFault(OpCreateTask, stageCreated, FaultJobEnds); ok {
		endStatus = f.Status
		if endStatus == "" {
			endStatus = "Failed"
		}
	}
	now := s.now()
	s.mu.Lock()
	if level == "INCREMENTAL" && !s.hasFull(sc, now) { // Commvault runs the first backup of a subclient as a full
		level = "FULL"
	}
	j := &job{
		id: s.nextJobID, taskID: s.nextTaskID, sc: sc, level: level,
		submitted: now, endStatus: endStatus, userName: s.cfg.Username, duration: s.jobDuration,
	}
	s.nextJobID++
	s.nextTaskID++
	s.jobs = append(s.jobs, j)
	s.jobByID[j.id] = j
	s.createTasks++
	s.submissions[sc.id]++
	s.mu.Unlock()
	if _, ok := s.takeFault(OpCreateTask, stageCreated, FaultHiddenJob); ok {
		s.mu.Lock()
		h := *j
		h.id, h.hidden, h.endStatus = s.nextJobID, true, "Completed"
		s.nextJobID++
		s.jobs = append(s.jobs, &h)
		s.jobByID[h.id] = &h
		s.mu.Unlock()
	}
	if f, ok := s.takeFault(OpCreateTask, stageCreated, FaultCreated500); ok {
		writeJSON(w, http.StatusInternalServerError, errorBody{ErrorCode: faultCode(f), ErrorMessage: faultMessage(f, "Internal server error.")})
		return // the job exists; the answer says nothing of it
	}
	if f, ok := s.takeFault(OpCreateTask, stageCreated, FaultHang); ok {
		if !hang(r.Context(), f.Hang) {
			return // the client gave up: the job exists, the answer never came
		}
	}
	writeJSON(w, http.StatusOK, createAnswer{TaskID: j.taskID, JobIDs: []string{strconv.Itoa(j.id)}})
}

// hasFull reports whether sc has a full backup job that completed or is
// still running at now; s.mu is held. Without one, Commvault converts an
// incremental to a full.
func (s *Server) hasFull(sc *subclient, now time.Time) bool {
	for _, j := range s.jobs {
		if j.sc == sc && !j.hidden && (j.level == "FULL" || j.level == "SYNTHETIC_FULL") &&
			(!j.terminal(now) || completedStatus(j.endStatus)) {
			return true
		}
	}
	return false
}

// validateTask checks a decoded CreateTask body and returns the subclient to
// back up and the canonical backup level.
func (s *Server) validateTask(doc any) (*subclient, string, *taskError) {
	info, ok := object(doc, "taskInfo")
	if !ok {
		return nil, "", &taskError{codeTaskInfo, "Invalid request: taskInfo is missing or is not an object."}
	}
	sc, terr := s.validateAssociation(info)
	if terr != nil {
		return nil, "", terr
	}
	task, _ := object(info, "task")
	if v, ok := integer(task, "taskType"); !ok || v != 1 {
		return nil, "", &taskError{codeTaskType, fmt.Sprintf(
			"Invalid request: taskInfo.task.taskType must be 1 (IMMEDIATE), got %s.", show(task, "taskType"))}
	}
	subTasks, _ := field(info, "subTasks").([]any)
	if len(subTasks) == 0 {
		return nil, "", &taskError{codeSubTasks, "Invalid request: taskInfo.subTasks must contain one backup sub task."}
	}
	subTask, _ := object(subTasks[0], "subTask")
	if v, ok := integer(subTask, "subTaskType"); !ok || v != 2 {
		return nil, "", &taskError{codeSubTaskType, fmt.Sprintf(
			"Invalid request: taskInfo.subTasks[0].subTask.subTaskType must be 2 (BACKUP), got %s.", show(subTask, "subTaskType"))}
	}
	if v, ok := integer(subTask, "operationType"); !ok || v != 2 {
		return nil, "", &taskError{codeOperationType, fmt.Sprintf(
			"Invalid request: taskInfo.subTasks[0].subTask.operationType must be 2 (BACKUP), got %s.", show(subTask, "operationType"))}
	}
	options, _ := object(subTasks[0], "options")
	backupOpts, _ := object(options, "backupOpts")
	levelText, _ := field(backupOpts, "backupLevel").(string)
	for _, l := range backupLevels {
		if strings.EqualFold(levelText, l) {
			return sc, l, nil
		}
	}
	return nil, "", &taskError{codeBackupLevel, fmt.Sprintf(
		"Invalid request: taskInfo.subTasks[0].options.backupOpts.backupLevel %s is not one of FULL, INCREMENTAL, DIFFERENTIAL, SYNTHETIC_FULL.",
		show(backupOpts, "backupLevel"))}
}

// validateAssociation checks taskInfo.associations: exactly one subclient
// entity of a Cloud Apps subclient that exists, with names and IDs (where
// given) that match it.
func (s *Server) validateAssociation(info map[string]any) (*subclient, *taskError) {
	assocs, _ := field(info, "associations").([]any)
	if len(assocs) != 1 {
		return nil, &taskError{codeAssociations, fmt.Sprintf(
			"Invalid request: taskInfo.associations must contain exactly one entity, got %d.", len(assocs))}
	}
	a, ok := assocs[0].(map[string]any)
	if !ok {
		return nil, &taskError{codeAssociations, "Invalid request: taskInfo.associations[0] is not an object."}
	}
	const at = "taskInfo.associations[0]."
	if v, ok := integer(a, "_type_"); !ok || v != entitySubclient {
		return nil, &taskError{codeEntityType, fmt.Sprintf(
			"Invalid request: %s_type_ must be 7 (SUBCLIENT_ENTITY), got %s.", at, show(a, "_type_"))}
	}
	if v, ok := integer(a, "applicationId"); !ok || v != appCloudApps {
		return nil, &taskError{codeApplicationID, fmt.Sprintf(
			"Invalid request: %sapplicationId must be 134 (Cloud Apps), got %s.", at, show(a, "applicationId"))}
	}
	id, ok := integer(a, "subclientId")
	if !ok || id <= 0 {
		return nil, &taskError{codeSubclientID, fmt.Sprintf(
			"Invalid request: %ssubclientId is missing or invalid, got %s.", at, show(a, "subclientId"))}
	}
	sc := s.subByID[id]
	if sc == nil {
		return nil, &taskError{codeSubclientNotFound, fmt.Sprintf("Subclient with %ssubclientId [%d] not found.", at, id)}
	}
	if sc.appID != appCloudApps {
		return nil, &taskError{codeApplicationID, fmt.Sprintf(
			"Invalid request: %ssubclientId [%d] is a %s subclient (applicationId %d), not Cloud Apps (134).", at, id, sc.appName, sc.appID)}
	}
	names := []struct{ key, want string }{
		{"clientName", sc.clientName}, {"instanceName", sc.instanceName},
		{"backupsetName", sc.backupsetName}, {"subclientName", sc.name}, {"appName", sc.appName},
	}
	for _, n := range names {
		v, present := a[n.key]
		if !present {
			continue
		}
		if got, _ := v.(string); !strings.EqualFold(got, n.want) {
			return nil, &taskError{codeEntityMismatch, fmt.Sprintf(
				"Invalid request: %s%s %s does not match subclient [%d] (%s [%s]).", at, n.key, show(a, n.key), id, n.key, n.want)}
		}
	}
	ids := []struct {
		key  string
		want int
	}{{"clientId", sc.clientID}, {"instanceId", sc.instanceID}, {"backupsetId", sc.backupsetID}}
	for _, n := range ids {
		if _, present := a[n.key]; !present {
			continue
		}
		if got, ok := integer(a, n.key); !ok || (got != 0 && got != n.want) {
			return nil, &taskError{codeEntityMismatch, fmt.Sprintf(
				"Invalid request: %s%s %s does not match subclient [%d] (%s [%d]).", at, n.key, show(a, n.key), id, n.key, n.want)}
		}
	}
	return sc, nil
}

// field returns m[key] when v is an object, else nil.
func field(v any, key string) any {
	m, ok := v.(map[string]any)
	if !ok {
		return nil
	}
	return m[key]
}

// object returns v[key] as an object.
func object(v any, key string) (map[string]any, bool) {
	m, ok := field(v, key).(map[string]any)
	return m, ok
}

// integer returns v[key] when it is a JSON number with an integral value.
func integer(v any, key string) (int, bool) {
	f, ok := field(v, key).(float64)
	if !ok || f != math.Trunc(f) || math.Abs(f) > math.MaxInt32 {
		return 0, false
	}
	return int(f), true
}

// show renders v[key] for an error message: [value], or "nothing" when absent.
func show(v any, key string) string {
	x := field(v, key)
	if x == nil {
		return "nothing"
	}
	b, err := json.Marshal(x)
	if err != nil {
		return "[?]"
	}
	return "[" + string(b) + "]"
}

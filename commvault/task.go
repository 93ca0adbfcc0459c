package commvault

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Level is a backup level, as CreateTask's backupOpts.backupLevel spells it.
type Level string

// The backup levels the bot offers for DynamoDB.
const (
	Full        Level = "FULL"
	Incremental Level = "INCREMENTAL"
)

// subclientEntityType is _type_ for a subclient (SUBCLIENT_ENTITY).
const subclientEntityType = 7

// Task is what CreateTask answered: the task and the job(s) it started.
type Task struct {
	ID     int
	JobIDs []string
}

// CreateBackup submits an immediate backup of one table group and returns
// Commvault's task and job IDs.
//
// It is never retried blindly. The only repeat is after a 401, which the
// server gives before doing anything. When the request may have reached the
// server (a timeout or a cut connection after it was written, or any 5xx:
// a CommServe can answer HTTP 500 after it created the job) the error is
// ErrOutcomeUnknown (and ErrTimeout for a timeout): the backup may be
// running, so the caller must look for the job rather than submit again.
// Any other error means no task was created; an answer without jobs is an
// *APIError, and one with jobs started them whatever its errorCode says.
func (c *Client) CreateBackup(ctx context.Context, sc Subclient, level Level) (Task, error) {
	op := fmt.Sprintf("create %s backup of %s/%s", level, sc.ClientName, sc.Name)
	body, err := backupTask(sc, level, c.notify)
	if err != nil {
		return Task{}, fmt.Errorf("%s: %w", op, err)
	}
	var out struct {
		TaskID       flexInt      `json:"taskId"`
		JobIDs       []flexString `json:"jobIds"`
		ErrorMessage string       `json:"errorMessage"`
	}
	r := request{method: http.MethodPost, path: "/CreateTask", body: body, mutates: true, started: true}
	if err := c.do(ctx, r, &out); err != nil {
		return Task{}, fmt.Errorf("%s: %w", op, err)
	}
	task := Task{ID: int(out.TaskID)}
	for _, id := range out.JobIDs {
		if id != "" {
			task.JobIDs = append(task.JobIDs, string(id))
		}
	}
	if len(task.JobIDs) == 0 {
		msg := message(out.ErrorMessage, c.secrets(""))
		if msg == "" {
			msg = "no job in response"
		}
		return Task{}, fmt.Errorf("%s: %w", op, &APIError{StatusCode: http.StatusOK, Message: msg})
	}
	return task, nil
}

// createTaskBody is the POST /CreateTask body, in the shape of the vendor's
// sample body (testdata/seed-createtask.json): an immediate backup of one
// subclient, its entity sent back as listed.
type createTaskBody struct {
	TaskInfo taskInfo `json:"taskInfo"`
}

type taskInfo struct {
	Associations []json.RawMessage `json:"associations"`
	Task         taskSpec          `json:"task"`
	SubTasks     []subTaskSpec     `json:"subTasks"`
}

type taskSpec struct {
	TaskType      int       `json:"taskType"`      // 1: immediate
	InitiatedFrom int       `json:"initiatedFrom"` // 2, as cvpysdk sends
	PolicyType    int       `json:"policyType"`    // 0: data protection
	TaskFlags     taskFlags `json:"taskFlags"`
}

type taskFlags struct {
	Disabled bool `json:"disabled"`
}

type subTaskSpec struct {
	SubTaskOperation int            `json:"subTaskOperation"` // 1: overwrite
	SubTask          subTaskType    `json:"subTask"`
	Options          subTaskOptions `json:"options"`
}

type subTaskType struct {
	SubTaskType   int `json:"subTaskType"`   // 2: backup
	OperationType int `json:"operationType"` // 2: backup
}

type subTaskOptions struct {
	BackupOpts backupOpts `json:"backupOpts"`
	CommonOpts commonOpts `json:"commonOpts"`
}

type backupOpts struct {
	BackupLevel string `json:"backupLevel"`
}

type commonOpts struct {
	NotifyUserOnJobCompletion bool `json:"notifyUserOnJobCompletion"`
}

// backupTask builds the CreateTask body for an immediate backup of sc.
func backupTask(sc Subclient, level Level, notify bool) (createTaskBody, error) {
	lv := Level(strings.ToUpper(strings.TrimSpace(string(level))))
	if lv != Full && lv != Incremental {
		return createTaskBody{}, fmt.Errorf("unsupported backup level %q (want %s or %s)", level, Full, Incremental)
	}
	assoc, err := association(sc)
	if err != nil {
		return createTaskBody{}, err
	}
	return createTaskBody{TaskInfo: taskInfo{
		Associations: []json.RawMessage{assoc},
		Task:         taskSpec{TaskType: 1, InitiatedFrom: 2, PolicyType: 0},
		SubTasks: []subTaskSpec{{
			SubTaskOperation: 1,
			SubTask:          subTaskType{SubTaskType: 2, OperationType: 2},
			Options: subTaskOptions{
				BackupOpts: backupOpts{BackupLevel: string(lv)},
				CommonOpts: commonOpts{NotifyUserOnJobCompletion: notify},
			},
		}},
	}}, nil
}

// association is the subclient entity as listed, with _type_ 7 and
// applicationId 134 ensured and any missing name or ID filled in from the
// typed fields. A Subclient built by hand (no Entity) gets an entity made
// of its typed fields.
func association(sc Subclient) (json.RawMessage, error) {
	entity := map[string]json.RawMessage{}
	if len(bytes.TrimSpace(sc.Entity)) > 0 {
		if err := json.Unmarshal(sc.Entity, &entity); err != nil || entity == nil {
			return nil, errors.New("subclient entity is not a JSON object")
		}
	}
	if raw, ok := entity["applicationId"]; ok {
		var app flexInt
		if err := json.Unmarshal(raw, &app); err != nil || (app != 0 && app != CloudAppsID) {
			return nil, fmt.Errorf("subclient %s is not a Cloud Apps (applicationId %d) table group", sc.Name, CloudAppsID)
		}
	}
	if sc.ApplicationID != 0 && sc.ApplicationID != CloudAppsID {
		return nil, fmt.Errorf("subclient %s is not a Cloud Apps (applicationId %d) table group", sc.Name, CloudAppsID)
	}
	set := func(key string, v any) {
		if _, ok := entity[key]; ok {
			return
		}
		switch x := v.(type) {
		case string:
			if x == "" {
				return
			}
		case int:
			if x == 0 {
				return
			}
		}
		entity[key], _ = json.Marshal(v)
	}
	set("clientName", sc.ClientName)
	set("clientId", sc.ClientID)
	set("instanceName", sc.InstanceName)
	set("instanceId", sc.InstanceID)
	set("backupsetName", sc.BackupsetName)
	set("backupsetId", sc.BackupsetID)
	set("subclientName", sc.Name)
	set("subclientId", sc.ID)
	set("appName", firstNonEmpty(sc.AppName, "Cloud Apps"))
	entity["_type_"] = json.RawMessage(fmt.Sprint(subclientEntityType))
	entity["applicationId"] = json.RawMessage(fmt.Sprint(CloudAppsID))

	var id flexInt
	if raw, ok := entity["subclientId"]; !ok || json.Unmarshal(raw, &id) != nil || id <= 0 {
		return nil, fmt.Errorf("subclient %s has no subclientId", sc.Name)
	}
	return json.Marshal(entity)
}

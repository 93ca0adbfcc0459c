package simulator

import (
	"net/http"
	"strings"
	"testing"
)

func TestCreateTaskValidation(t *testing.T) {
	const assoc = "taskInfo.associations.0."
	fsSubclient := fileSystemSubclient(t, New(Config{}), "aws-prod-account")
	tests := []struct {
		name     string
		path     string // dotted path to change in the fixture
		value    any    // new value, or deleteKey
		wantCode int
		wantText string // part of errorMessage: the field it names
	}{
		{name: "no taskInfo", path: "taskInfo", value: deleteKey, wantCode: codeTaskInfo, wantText: "taskInfo"},
		{name: "taskInfo not object", path: "taskInfo", value: "x", wantCode: codeTaskInfo, wantText: "taskInfo"},
		{name: "no associations", path: "taskInfo.associations", value: []any{}, wantCode: codeAssociations, wantText: "associations"},
		{name: "two associations", path: "taskInfo.associations", value: []any{map[string]any{}, map[string]any{}}, wantCode: codeAssociations, wantText: "got 2"},
		{name: "association not object", path: "taskInfo.associations", value: []any{7}, wantCode: codeAssociations, wantText: "associations[0]"},
		{name: "backupset entity", path: assoc + "_type_", value: 6, wantCode: codeEntityType, wantText: "_type_"},
		{name: "no _type_", path: assoc + "_type_", value: deleteKey, wantCode: codeEntityType, wantText: "_type_"},
		{name: "_type_ as string", path: assoc + "_type_", value: "7", wantCode: codeEntityType, wantText: "_type_"},
		{name: "file system application", path: assoc + "applicationId", value: 33, wantCode: codeApplicationID, wantText: "applicationId"},
		{name: "no applicationId", path: assoc + "applicationId", value: deleteKey, wantCode: codeApplicationID, wantText: "applicationId"},
		{name: "no subclientId", path: assoc + "subclientId", value: deleteKey, wantCode: codeSubclientID, wantText: "subclientId"},
		{name: "subclientId as string", path: assoc + "subclientId", value: "18244", wantCode: codeSubclientID, wantText: "subclientId"},
		{name: "subclientId fraction", path: assoc + "subclientId", value: 18244.5, wantCode: codeSubclientID, wantText: "subclientId"},
		{name: "unknown subclient", path: assoc + "subclientId", value: 99999, wantCode: codeSubclientNotFound, wantText: "subclientId [99999]"},
		{name: "file system subclient", path: assoc + "subclientId", value: fsSubclient, wantCode: codeApplicationID, wantText: "File System"},
		{name: "other client name", path: assoc + "clientName", value: "aws-demo-account", wantCode: codeEntityMismatch, wantText: "clientName"},
		{name: "other instance name", path: assoc + "instanceName", value: "RDS", wantCode: codeEntityMismatch, wantText: "instanceName"},
		{name: "other backupset name", path: assoc + "backupsetName", value: "bs2", wantCode: codeEntityMismatch, wantText: "backupsetName"},
		{name: "other subclient name", path: assoc + "subclientName", value: "payments", wantCode: codeEntityMismatch, wantText: "subclientName"},
		{name: "empty subclient name", path: assoc + "subclientName", value: "", wantCode: codeEntityMismatch, wantText: "subclientName"},
		{name: "other app name", path: assoc + "appName", value: "File System", wantCode: codeEntityMismatch, wantText: "appName"},
		{name: "other client ID", path: assoc + "clientId", value: 4127, wantCode: codeEntityMismatch, wantText: "clientId"},
		{name: "scheduled task", path: "taskInfo.task.taskType", value: 2, wantCode: codeTaskType, wantText: "taskType"},
		{name: "no task", path: "taskInfo.task", value: deleteKey, wantCode: codeTaskType, wantText: "taskType"},
		{name: "no subTasks", path: "taskInfo.subTasks", value: deleteKey, wantCode: codeSubTasks, wantText: "subTasks"},
		{name: "empty subTasks", path: "taskInfo.subTasks", value: []any{}, wantCode: codeSubTasks, wantText: "subTasks"},
		{name: "admin subTaskType", path: "taskInfo.subTasks.0.subTask.subTaskType", value: 1, wantCode: codeSubTaskType, wantText: "subTaskType"},
		{name: "restore operationType", path: "taskInfo.subTasks.0.subTask.operationType", value: 1001, wantCode: codeOperationType, wantText: "operationType"},
		{name: "no subTask", path: "taskInfo.subTasks.0.subTask", value: deleteKey, wantCode: codeSubTaskType, wantText: "subTaskType"},
		{name: "unknown level", path: "taskInfo.subTasks.0.options.backupOpts.backupLevel", value: "WEEKLY", wantCode: codeBackupLevel, wantText: "backupLevel [\"WEEKLY\"]"},
		{name: "numeric level", path: "taskInfo.subTasks.0.options.backupOpts.backupLevel", value: 1, wantCode: codeBackupLevel, wantText: "backupLevel"},
		{name: "no backupOpts", path: "taskInfo.subTasks.0.options.backupOpts", value: deleteKey, wantCode: codeBackupLevel, wantText: "backupLevel"},
		{name: "valid", path: "taskInfo.task.initiatedFrom", value: 1},
		{name: "names in other case", path: assoc + "clientName", value: "AWS-PROD-ACCOUNT"},
		{name: "without names", path: assoc + "subclientName", value: deleteKey},
		{name: "zero client ID as in the seed", path: assoc + "clientId", value: 0},
		{name: "incremental lower case", path: "taskInfo.subTasks.0.options.backupOpts.backupLevel", value: "incremental"},
		{name: "synthetic full", path: "taskInfo.subTasks.0.options.backupOpts.backupLevel", value: "Synthetic_Full"},
		{name: "differential", path: "taskInfo.subTasks.0.options.backupOpts.backupLevel", value: "DIFFERENTIAL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, Config{})
			doc := validTask(t)
			setPath(t, doc, tt.path, tt.value)
			r := h.createTask(doc)
			if r.status != http.StatusOK {
				t.Fatalf("CreateTask status = %d %s, want 200", r.status, r.body)
			}
			if tt.wantCode == 0 {
				var out createAnswer
				r.decode(t, &out)
				if out.TaskID != firstTaskID || len(out.JobIDs) != 1 || out.JobIDs[0] != "149800" {
					t.Errorf("CreateTask = %s, want taskId %d and jobIds [\"149800\"]", r.body, firstTaskID)
				}
				if n := h.sim.CreateTaskCount(); n != 1 {
					t.Errorf("CreateTaskCount() = %d, want 1", n)
				}
				return
			}
			got := errorAnswer(t, r)
			if got.ErrorCode != tt.wantCode || !strings.Contains(got.ErrorMessage, tt.wantText) {
				t.Errorf("CreateTask with %s = %+v, want errorCode %d naming %q", tt.path, got, tt.wantCode, tt.wantText)
			}
			if strings.Contains(string(r.body), "jobIds") || strings.Contains(string(r.body), "taskId") {
				t.Errorf("error answer %s carries ids", r.body)
			}
			if n := h.sim.CreateTaskCount(); n != 0 {
				t.Errorf("CreateTaskCount() = %d after a rejected task, want 0", n)
			}
		})
	}
}

func TestCreateTaskBadBody(t *testing.T) {
	for _, body := range []string{"", "   ", "{not json", "null", "<taskInfo/>"} {
		h := newHarness(t, Config{})
		r := h.createTask(body)
		if r.status != http.StatusBadRequest || string(r.body) != "Request body is empty or format is invalid." {
			t.Errorf("CreateTask(%q) = %d %q, want 400 plain text", body, r.status, r.body)
		}
	}
}

func TestCreateTaskBodyTooLarge(t *testing.T) {
	h := newHarness(t, Config{})
	r := h.createTask(`{"pad":"` + strings.Repeat("x", maxBodyBytes) + `"}`)
	if r.status != http.StatusRequestEntityTooLarge {
		t.Errorf("CreateTask with a 1 MiB+ body = %d, want 413", r.status)
	}
	if reqs := h.sim.Requests(); len(reqs) != 1 || reqs[0].Body != nil {
		t.Errorf("Requests() = %d entries, want 1 with no decoded body", len(reqs))
	}
}

func TestCreateTaskIDsIncrease(t *testing.T) {
	h := newHarness(t, Config{})
	var last createAnswer
	for i := range 3 {
		r := h.createTask(nil)
		var out createAnswer
		r.decode(t, &out)
		if i > 0 && (out.TaskID <= last.TaskID || out.JobIDs[0] <= last.JobIDs[0]) {
			t.Errorf("CreateTask #%d = %+v after %+v, want increasing ids", i, out, last)
		}
		last = out
	}
	if n := h.sim.CreateTaskCount(); n != 3 {
		t.Errorf("CreateTaskCount() = %d, want 3", n)
	}
}

// fileSystemSubclient returns the ID of the File System subclient of client.
func fileSystemSubclient(t *testing.T, s *Server, client string) int {
	t.Helper()
	for _, sc := range s.subs {
		if sc.clientName == client && sc.appID == appFileSystem {
			return sc.id
		}
	}
	t.Fatalf("no File System subclient for %s", client)
	return 0
}

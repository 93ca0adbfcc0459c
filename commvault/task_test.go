package commvault

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/backupbot/backupbot/commvault/simulator"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

// seedOmitted are keys of the seed page's body we deliberately do not send,
// with the reason.
var seedOmitted = map[string]string{
	// Installer options (clientInstallOption.installerOption.User) belong to
	// software installs; the page's schema lists them, a backup needs none.
	"taskInfo.subTasks[0].options.adminOpts": "install options, not part of a backup",
}

// mustBody builds and encodes the CreateTask body.
func mustBody(t *testing.T, sc Subclient, level Level, notify bool) []byte {
	t.Helper()
	body, err := backupTask(sc, level, notify)
	if err != nil {
		t.Fatalf("backupTask(%s, %s) error: %v", sc.Name, level, err)
	}
	b, err := json.MarshalIndent(body, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n')
}

func TestCreateTaskGolden(t *testing.T) {
	got := mustBody(t, prodOrders(), Full, false)
	path := filepath.Join("testdata", "createtask-full.golden.json")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("CreateTask body differs from %s (go test -update rewrites it):\n%s", path, got)
	}
}

// TestCreateTaskMatchesSeed checks our body against the seed page's: every
// key the seed shows is present with the same JSON type, and the values are
// those of an immediate backup (taskType 1; subTaskType and operationType 2)
// of the listed subclient, its entity with _type_ 7 and applicationId 134.
func TestCreateTaskMatchesSeed(t *testing.T) {
	seedBytes, err := os.ReadFile(filepath.Join("testdata", "seed-createtask.json"))
	if err != nil {
		t.Fatal(err)
	}
	var seed, ours any
	if err := json.Unmarshal(seedBytes, &seed); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(mustBody(t, prodOrders(), Full, false), &ours); err != nil {
		t.Fatal(err)
	}
	compareShape(t, "", seed, ours)

	values := map[string]any{
		"taskInfo.associations[0]._type_":                                   float64(7),
		"taskInfo.associations[0].applicationId":                            float64(134),
		"taskInfo.associations[0].appName":                                  "Cloud Apps",
		"taskInfo.associations[0].clientName":                               prodAccount,
		"taskInfo.associations[0].instanceName":                             "DynamoDB",
		"taskInfo.associations[0].subclientName":                            "orders",
		"taskInfo.associations[0].subclientId":                              float64(18244),
		"taskInfo.associations[0].clientId":                                 float64(prodClientID),
		"taskInfo.task.taskType":                                            float64(1),
		"taskInfo.subTasks[0].subTask.subTaskType":                          float64(2),
		"taskInfo.subTasks[0].subTask.operationType":                        float64(2),
		"taskInfo.subTasks[0].options.backupOpts.backupLevel":               "FULL",
		"taskInfo.subTasks[0].options.commonOpts.notifyUserOnJobCompletion": false,
	}
	for path, want := range values {
		if got := lookup(ours, path); !reflect.DeepEqual(got, want) {
			t.Errorf("%s = %#v, want %#v", path, got, want)
		}
	}
	if n := len(lookup(ours, "taskInfo.associations").([]any)); n != 1 {
		t.Errorf("associations has %d entries, want 1", n)
	}

	var inc any
	if err := json.Unmarshal(mustBody(t, prodOrders(), Incremental, true), &inc); err != nil {
		t.Fatal(err)
	}
	if got := lookup(inc, "taskInfo.subTasks[0].options.backupOpts.backupLevel"); got != "INCREMENTAL" {
		t.Errorf("incremental backupLevel = %v, want INCREMENTAL", got)
	}
	if got := lookup(inc, "taskInfo.subTasks[0].options.commonOpts.notifyUserOnJobCompletion"); got != true {
		t.Errorf("NotifyOnCompletion: notifyUserOnJobCompletion = %v, want true", got)
	}
}

// compareShape reports every key of seed missing from ours or of another
// JSON type. Arrays are compared on their first element.
func compareShape(t *testing.T, path string, seed, ours any) {
	t.Helper()
	if _, skip := seedOmitted[path]; skip {
		return
	}
	if jsonType(seed) != jsonType(ours) {
		t.Errorf("%s: seed has a %s, ours a %s", path, jsonType(seed), jsonType(ours))
		return
	}
	switch s := seed.(type) {
	case map[string]any:
		o := ours.(map[string]any)
		for k, v := range s {
			p := strings.TrimPrefix(path+"."+k, ".")
			if _, skip := seedOmitted[p]; skip {
				continue
			}
			ov, ok := o[k]
			if !ok {
				t.Errorf("%s: in the seed, missing from our body", p)
				continue
			}
			compareShape(t, p, v, ov)
		}
	case []any:
		o := ours.([]any)
		if len(s) > 0 && len(o) > 0 {
			compareShape(t, path+"[0]", s[0], o[0])
		} else if len(s) > 0 {
			t.Errorf("%s: empty in our body", path)
		}
	}
}

func jsonType(v any) string {
	switch v.(type) {
	case map[string]any:
		return "object"
	case []any:
		return "array"
	case string:
		return "string"
	case float64:
		return "number"
	case bool:
		return "boolean"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", v)
}

// lookup follows a path like "a.b[0].c".
func lookup(v any, path string) any {
	for _, part := range strings.Split(path, ".") {
		name, index, hasIndex := strings.Cut(part, "[")
		m, _ := v.(map[string]any)
		v = m[name]
		if hasIndex {
			a, _ := v.([]any)
			var i int
			fmt.Sscanf(strings.TrimSuffix(index, "]"), "%d", &i)
			if i >= len(a) {
				return nil
			}
			v = a[i]
		}
	}
	return v
}

func TestBackupTaskValidates(t *testing.T) {
	fileSystem := prodOrders()
	fileSystem.Entity = []byte(`{"_type_":7,"subclientId":9,"applicationId":33}`)
	byHand := Subclient{ClientName: prodAccount, ClientID: prodClientID, InstanceName: "DynamoDB", Name: "orders", ID: 18244}
	tests := []struct {
		name    string
		sc      Subclient
		level   Level
		wantErr string
	}{
		{"lower-case level", prodOrders(), "full", ""},
		{"built by hand", byHand, Incremental, ""},
		{"bad level", prodOrders(), "DIFFERENTIAL", "unsupported backup level"},
		{"empty level", prodOrders(), "", "unsupported backup level"},
		{"not cloud apps", fileSystem, Full, "not a Cloud Apps"},
		{"no subclient id", Subclient{Name: "x"}, Full, "no subclientId"},
		{"entity not an object", Subclient{Name: "x", ID: 3, Entity: []byte(`[1]`)}, Full, "not a JSON object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := backupTask(tt.sc, tt.level, false)
			if (tt.wantErr == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("backupTask(%+v, %q) = %v, want error %q", tt.sc, tt.level, err, tt.wantErr)
			}
		})
	}
	var body any
	if err := json.Unmarshal(mustBody(t, byHand, Incremental, false), &body); err != nil {
		t.Fatal(err)
	}
	a := lookup(body, "taskInfo.associations[0]").(map[string]any)
	want := map[string]any{"_type_": float64(7), "applicationId": float64(134), "appName": "Cloud Apps",
		"clientName": prodAccount, "clientId": float64(prodClientID), "instanceName": "DynamoDB",
		"subclientName": "orders", "subclientId": float64(18244)}
	if !reflect.DeepEqual(a, want) {
		t.Errorf("association built by hand = %v, want %v", a, want)
	}
}

func TestCreateBackupAgainstSimulator(t *testing.T) {
	e := newEnv(t, simulator.Config{})
	c := e.client(t, nil)
	ctx := context.Background()
	sc, err := c.TableGroup(ctx, prodAccount, "Orders")
	if err != nil {
		t.Fatal(err)
	}
	task, err := c.CreateBackup(ctx, sc, Full)
	if err != nil {
		t.Fatalf("CreateBackup error: %v", err)
	}
	if task.ID == 0 || len(task.JobIDs) != 1 || task.JobIDs[0] == "" {
		t.Errorf("CreateBackup = %+v, want a task ID and one job ID", task)
	}
	reqs := e.sim.Requests()
	last := reqs[len(reqs)-1]
	if last.Status != 200 || last.Op != simulator.OpCreateTask {
		t.Fatalf("last request = %+v, want an accepted CreateTask", last)
	}
	// The association is the listed entity, as listed.
	var listed any
	if err := json.Unmarshal(sc.Entity, &listed); err != nil {
		t.Fatal(err)
	}
	if got := lookup(last.Body, "taskInfo.associations[0]"); !reflect.DeepEqual(got, listed) {
		t.Errorf("association sent = %v, want the listed entity %v", got, listed)
	}
	if n := e.sim.CreateTaskCount(); n != 1 {
		t.Errorf("tasks created = %d, want 1", n)
	}
}

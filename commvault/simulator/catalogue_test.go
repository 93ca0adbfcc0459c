package simulator

import (
	"net/http"
	"slices"
	"testing"
)

func listSubclients(t *testing.T, h *harness, query string) subclientListing {
	t.Helper()
	r := h.do(http.MethodGet, api+"/Subclient?"+query, staticToken, nil)
	if r.status != http.StatusOK {
		t.Fatalf("GET /Subclient?%s = %d %s", query, r.status, r.body)
	}
	var out subclientListing
	r.decode(t, &out)
	return out
}

// tableGroups returns the names of a listing's subclients of DynamoDB
// instances, in order.
func tableGroups(h *harness, l subclientListing) []string {
	var names []string
	for _, p := range l.SubClientProperties {
		if isDynamoDB(h, p.SubClientEntity) {
			names = append(names, p.SubClientEntity.SubclientName)
		}
	}
	return names
}

// isDynamoDB reports whether e is a subclient of a DynamoDB instance.
func isDynamoDB(h *harness, e subclientEntity) bool {
	sc := h.sim.subByID[e.SubclientID]
	return e.ApplicationID == appCloudApps && sc != nil && sc.instType == TypeDynamoDB
}

func TestSubclientListing(t *testing.T) {
	tests := []struct {
		name   string
		query  string
		want   []string
		others []string // other Cloud Apps instances' subclients, listed first, as INSTANCE/NAME
	}{
		{name: "by name", query: "clientName=aws-prod-account", want: []string{"orders", "payments", "inventory", "default"}},
		{name: "by name, other case", query: "clientName=AWS-Demo-Account", want: []string{"orders", "payments", "customer profiles", "default"},
			others: []string{"RDS/default", "RDS/orders", "Redshift/default"}},
		{name: "by ID", query: "clientId=4138", want: []string{"orders", "sessions", "default"}},
		{name: "by name and ID", query: "clientName=aws-staging-account&clientId=4138", want: []string{"orders", "sessions", "default"}},
		{name: "parameter names case-insensitive", query: "CLIENTNAME=aws-prod-account", want: []string{"orders", "payments", "inventory", "default"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, Config{})
			got := listSubclients(t, h, tt.query)
			if names := tableGroups(h, got); !slices.Equal(names, tt.want) {
				t.Errorf("table groups = %q, want %q", names, tt.want)
			}
			if n := len(tt.want) + len(tt.others) + 1; got.FilterQueryCount != n {
				t.Errorf("filterQueryCount = %d, want %d (table groups, other Cloud Apps subclients, File System)", got.FilterQueryCount, n)
			}
			var others []string
			fs, dynamo := 0, 0
			for _, p := range got.SubClientProperties {
				e := p.SubClientEntity
				if e.Type != 7 || e.SubclientID == 0 || e.ClientID == 0 || e.InstanceID == 0 || e.BackupsetID == 0 ||
					e.CSGUID == "" || e.SubclientGUID == "" || e.CommCellName == "" {
					t.Errorf("entity %+v has empty fields", e)
				}
				if p.CommonProperties.IsDefaultSubclient != (e.SubclientName == "default") {
					t.Errorf("%s isDefaultSubclient = %v", e.SubclientName, p.CommonProperties.IsDefaultSubclient)
				}
				switch e.ApplicationID {
				case appFileSystem:
					fs++
				case appCloudApps:
					if !isDynamoDB(h, e) {
						if dynamo > 0 {
							t.Errorf("%s/%s listed after a DynamoDB table group", e.InstanceName, e.SubclientName)
						}
						others = append(others, e.InstanceName+"/"+e.SubclientName)
						continue
					}
					dynamo++
					if e.AppName != "Cloud Apps" || e.BackupsetName != "defaultBackupSet" {
						t.Errorf("table group entity %+v, want Cloud Apps/DynamoDB/defaultBackupSet", e)
					}
				}
			}
			if !slices.Equal(others, tt.others) {
				t.Errorf("other Cloud Apps subclients = %q, want %q, listed before the DynamoDB ones", others, tt.others)
			}
			if fs != 1 {
				t.Errorf("%d File System subclients listed, want 1", fs)
			}
		})
	}
}

func TestSubclientListingErrors(t *testing.T) {
	tests := []struct {
		name     string
		query    string
		wantCode int
		wantMsg  string
	}{
		{name: "unknown name", query: "clientName=aws-nope", wantCode: 2, wantMsg: "Client [aws-nope] not found."},
		{name: "unknown ID", query: "clientId=99", wantCode: 2, wantMsg: "Client [99] not found."},
		{name: "name and ID disagree", query: "clientName=aws-prod-account&clientId=4138", wantCode: 2, wantMsg: "Client [aws-prod-account] not found."},
		{name: "no client", query: "", wantCode: 3, wantMsg: "Invalid input: clientId or clientName is required."},
		{name: "ID not a number", query: "clientId=abc", wantCode: 3, wantMsg: "Invalid input: clientId [abc] is not a number."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, Config{})
			r := h.do(http.MethodGet, api+"/Subclient?"+tt.query, staticToken, nil)
			if got := errorAnswer(t, r); r.status != http.StatusOK || got.ErrorCode != tt.wantCode || got.ErrorMessage != tt.wantMsg {
				t.Errorf("GET /Subclient?%s = %d %+v, want 200 {%d %q}", tt.query, r.status, got, tt.wantCode, tt.wantMsg)
			}
		})
	}
}

func TestSubclientFilters(t *testing.T) {
	h := newHarness(t, Config{})
	got := listSubclients(t, h, "clientId=4131&applicationId=134")
	if got.FilterQueryCount != 4 || len(got.SubClientProperties) != 4 {
		t.Errorf("applicationId=134 listed %d, want the 4 table groups", got.FilterQueryCount)
	}
	r := h.do(http.MethodGet, api+"/Subclient/18246", staticToken, nil)
	var byID subclientListing
	r.decode(t, &byID)
	if len(byID.SubClientProperties) != 1 || byID.SubClientProperties[0].SubClientEntity.SubclientName != "inventory" {
		t.Errorf("GET /Subclient/18246 = %s, want inventory", r.body)
	}
	if e := errorAnswer(t, h.do(http.MethodGet, api+"/Subclient/1", staticToken, nil)); e.ErrorCode != 2 {
		t.Errorf("GET /Subclient/1 = %+v, want errorCode 2", e)
	}
}

func TestCustomAccounts(t *testing.T) {
	h := newHarness(t, Config{Accounts: []Account{
		{Name: "acme-aws", TableGroups: []TableGroup{{Name: "ledger"}, {Name: "default"}}},
		{Name: "acme-aws-dr", ID: 5000, Instance: "DynamoDB-eu", TableGroups: []TableGroup{{Name: "ledger", ID: 77}}},
	}})
	accts := h.sim.Accounts()
	if len(accts) != 2 || accts[0].ID == 0 || accts[0].InstanceID == 0 || accts[0].BackupsetID == 0 ||
		accts[0].Instance != "DynamoDB" || accts[0].Backupset != "defaultBackupSet" || accts[1].Instance != "DynamoDB-eu" {
		t.Fatalf("Accounts() = %+v, want defaults filled in", accts)
	}
	seen := map[int]bool{}
	for _, a := range accts {
		for _, tg := range a.TableGroups {
			if tg.ID == 0 || seen[tg.ID] {
				t.Errorf("table group %s/%s ID %d, want unique nonzero", a.Name, tg.Name, tg.ID)
			}
			seen[tg.ID] = true
		}
	}
	got := listSubclients(t, h, "clientId=5000")
	if names := tableGroups(h, got); !slices.Equal(names, []string{"ledger"}) || got.SubClientProperties[1].SubClientEntity.SubclientID != 77 {
		t.Errorf("acme-aws-dr listing = %+v, want ledger with ID 77", got)
	}
	if r := h.do(http.MethodGet, api+"/Subclient?clientName=aws-prod-account", staticToken, nil); errorAnswer(t, r).ErrorCode != 2 {
		t.Errorf("built-in account listed although Config.Accounts replaced the catalogue: %s", r.body)
	}
}

func TestCustomAccountsInvalid(t *testing.T) {
	tests := []struct {
		name     string
		accounts []Account
	}{
		{name: "duplicate account", accounts: []Account{{Name: "a"}, {Name: "A"}}},
		{name: "empty name", accounts: []Account{{Name: " "}}},
		{name: "duplicate client ID", accounts: []Account{{Name: "a", ID: 1}, {Name: "b", ID: 1}}},
		{name: "duplicate table group", accounts: []Account{{Name: "a", TableGroups: []TableGroup{{Name: "x"}, {Name: "X"}}}}},
		{name: "duplicate subclient ID", accounts: []Account{
			{Name: "a", TableGroups: []TableGroup{{Name: "x", ID: 9}}}, {Name: "b", TableGroups: []TableGroup{{Name: "y", ID: 9}}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Errorf("New(%+v) did not panic", tt.accounts)
				}
			}()
			New(Config{Accounts: tt.accounts})
		})
	}
}

func TestCatalogueNames(t *testing.T) {
	want := map[string][]string{
		"aws-demo-account":    {"orders", "payments", "customer profiles", "default"},
		"aws-prod-account":    {"orders", "payments", "inventory", "default"},
		"aws-staging-account": {"orders", "sessions", "default"},
	}
	cat := Catalogue()
	if len(cat) != len(want) {
		t.Fatalf("Catalogue() has %d accounts, want %d", len(cat), len(want))
	}
	for _, a := range cat {
		var names []string
		for _, tg := range a.TableGroups {
			names = append(names, tg.Name)
		}
		if !slices.Equal(names, want[a.Name]) {
			t.Errorf("Catalogue() %s = %q, want %q", a.Name, names, want[a.Name])
		}
	}
}

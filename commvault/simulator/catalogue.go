package simulator

import (
	"crypto/sha256"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

const (
	appCloudApps    = 134
	appFileSystem   = 33
	entitySubclient = 7
	commCellName    = "cvsim-cs01"
	csGUID          = "6D2A5F0E-3C41-4B8F-9E1A-7B52C0D4E913"

	codeClientNotFound = 2
	codeBadQuery       = 3
)

// TableGroup is one DynamoDB table group (a Commvault subclient).
type TableGroup struct {
	Name string
	ID   int // subclientId; 0: the simulator assigns one
}

// Account is one AWS cloud account (a Commvault pseudo-client) with its
// DynamoDB instance, backup set and table groups. Zero IDs are assigned by
// New; empty Instance and Backupset default to "DynamoDB" and
// "defaultBackupSet".
//
// Others are the account's other Cloud Apps instances (RDS, Redshift, a
// second DynamoDB instance…), listed before the DynamoDB table groups, as
// Commvault lists every agent's subclients of a client together: their
// subclients are Cloud Apps (applicationId 134) too, and may have the same
// names ("default"). Only GET /Instance/{id} tells them apart.
type Account struct {
	Name        string // clientName
	ID          int    // clientId
	Instance    string
	InstanceID  int
	Backupset   string
	BackupsetID int
	TableGroups []TableGroup
	Others      []Instance
}

// Instance is one more Cloud Apps instance of an account, of Type
// (cloudAppsInstance.instanceType), with its backup set and subclients.
// Zero IDs are assigned by New; an empty Backupset is "defaultBackupSet".
type Instance struct {
	Name        string
	ID          int
	Type        int
	Backupset   string
	BackupsetID int
	Subclients  []TableGroup
}

// Cloud Apps instance types (cloudAppsInstance.instanceType), as cvpysdk
// maps them.
const (
	TypeRDS        = 4
	TypeS3         = 5
	TypeDynamoDB   = 22
	TypeRedshift   = 26
	TypeDocumentDB = 27
)

// Catalogue returns the built-in accounts. The names are fixed (the console's
// sample policy uses them):
//
//	aws-demo-account:    orders, payments, "customer profiles", default
//	                     (listed after its RDS instance's default and orders
//	                     and its Redshift instance's default)
//	aws-prod-account:    orders, payments, inventory, default
//	aws-staging-account: orders, sessions, default
func Catalogue() []Account {
	return []Account{
		{
			Name: "aws-demo-account", ID: 4127,
			Instance: "DynamoDB", InstanceID: 861,
			Backupset: "defaultBackupSet", BackupsetID: 2210,
			TableGroups: []TableGroup{
				{Name: "orders", ID: 18231}, {Name: "payments", ID: 18232},
				{Name: "customer profiles", ID: 18233}, {Name: "default", ID: 18230},
			},
			Others: []Instance{
				{Name: "RDS", ID: 858, Type: TypeRDS, BackupsetID: 2207,
					Subclients: []TableGroup{{Name: "default", ID: 18224}, {Name: "orders", ID: 18225}}},
				{Name: "Redshift", ID: 859, Type: TypeRedshift, BackupsetID: 2208,
					Subclients: []TableGroup{{Name: "default", ID: 18227}}},
			},
		},
		{
			Name: "aws-prod-account", ID: 4131,
			Instance: "DynamoDB", InstanceID: 869,
			Backupset: "defaultBackupSet", BackupsetID: 2218,
			TableGroups: []TableGroup{
				{Name: "orders", ID: 18244}, {Name: "payments", ID: 18245},
				{Name: "inventory", ID: 18246}, {Name: "default", ID: 18240},
			},
		},
		{
			Name: "aws-staging-account", ID: 4138,
			Instance: "DynamoDB", InstanceID: 874,
			Backupset: "defaultBackupSet", BackupsetID: 2225,
			TableGroups: []TableGroup{
				{Name: "orders", ID: 18253}, {Name: "sessions", ID: 18254}, {Name: "default", ID: 18251},
			},
		},
	}
}

// subclient is one listed subclient: a table group, or the File System
// subclient every account also has.
type subclient struct {
	clientName    string
	clientID      int
	instanceName  string
	instanceID    int
	backupsetName string
	backupsetID   int
	name          string
	id            int
	appName       string
	appID         int
	instType      int // cloudAppsInstance.instanceType; 0 for File System
}

// idPool hands out unused IDs from a realistic starting number.
type idPool struct {
	used map[int]bool
	next int
}

func newIDPool(start int) *idPool { return &idPool{used: map[int]bool{}, next: start} }

func (p *idPool) claim(id int, what string) {
	if p.used[id] {
		panic(fmt.Sprintf("simulator: duplicate %s id %d in Config.Accounts", what, id))
	}
	p.used[id] = true
}

func (p *idPool) take() int {
	for p.used[p.next] {
		p.next++
	}
	p.used[p.next] = true
	return p.next
}

// buildCatalogue fills in defaults and IDs and lists every subclient: per
// account, its File System subclient first, then its other Cloud Apps
// instances' subclients, then its DynamoDB table groups.
func buildCatalogue(in []Account) ([]Account, []*subclient) {
	p := pools{newIDPool(4201), newIDPool(901), newIDPool(2301), newIDPool(18301)}
	names := map[string]bool{}
	accounts := make([]Account, len(in))
	for i, a := range in {
		if strings.TrimSpace(a.Name) == "" {
			panic("simulator: account with an empty name in Config.Accounts")
		}
		if names[strings.ToLower(a.Name)] {
			panic(fmt.Sprintf("simulator: duplicate account %q in Config.Accounts", a.Name))
		}
		names[strings.ToLower(a.Name)] = true
		a.TableGroups = append([]TableGroup(nil), a.TableGroups...)
		a.Others = append([]Instance(nil), a.Others...)
		for j := range a.Others {
			a.Others[j].Subclients = append([]TableGroup(nil), a.Others[j].Subclients...)
		}
		accounts[i] = a
		claimNonZero(p.clients, a.ID, "client")
		p.claimInstance(a.Name, Instance{Name: a.Instance, ID: a.InstanceID, BackupsetID: a.BackupsetID, Subclients: a.TableGroups})
		for _, o := range a.Others {
			if strings.TrimSpace(o.Name) == "" {
				panic(fmt.Sprintf("simulator: an instance of account %q has no name", a.Name))
			}
			p.claimInstance(a.Name, o)
		}
	}
	var out []*subclient
	for i := range accounts {
		a := &accounts[i]
		if a.ID == 0 {
			a.ID = p.clients.take()
		}
		out = append(out, &subclient{
			clientName: a.Name, clientID: a.ID,
			instanceName: "DefaultInstanceName", instanceID: p.instances.take(),
			backupsetName: "defaultBackupSet", backupsetID: p.backupsets.take(),
			name: "default", id: p.subs.take(),
			appName: "File System", appID: appFileSystem,
		})
		for j := range a.Others {
			out = append(out, p.fill(a, &a.Others[j])...)
		}
		main := Instance{Name: a.Instance, ID: a.InstanceID, Type: TypeDynamoDB, Backupset: a.Backupset, BackupsetID: a.BackupsetID,
			Subclients: a.TableGroups}
		if main.Name == "" {
			main.Name = "DynamoDB"
		}
		out = append(out, p.fill(a, &main)...)
		a.Instance, a.InstanceID, a.Backupset, a.BackupsetID = main.Name, main.ID, main.Backupset, main.BackupsetID
	}
	return accounts, out
}

// pools are the ID pools of a catalogue.
type pools struct{ clients, instances, backupsets, subs *idPool }

// claimInstance claims an instance's given IDs and checks its subclient
// names.
func (p pools) claimInstance(account string, in Instance) {
	claimNonZero(p.instances, in.ID, "instance")
	claimNonZero(p.backupsets, in.BackupsetID, "backupset")
	groups := map[string]bool{}
	for _, tg := range in.Subclients {
		if strings.TrimSpace(tg.Name) == "" || groups[strings.ToLower(tg.Name)] {
			panic(fmt.Sprintf("simulator: empty or duplicate table group %q in account %q", tg.Name, account))
		}
		groups[strings.ToLower(tg.Name)] = true
		claimNonZero(p.subs, tg.ID, "subclient")
	}
}

// fill assigns the missing IDs and defaults of an instance of a, and lists
// its subclients.
func (p pools) fill(a *Account, in *Instance) []*subclient {
	if in.ID == 0 {
		in.ID = p.instances.take()
	}
	if in.Backupset == "" {
		in.Backupset = "defaultBackupSet"
	}
	if in.BackupsetID == 0 {
		in.BackupsetID = p.backupsets.take()
	}
	var out []*subclient
	for k := range in.Subclients {
		tg := &in.Subclients[k]
		if tg.ID == 0 {
			tg.ID = p.subs.take()
		}
		out = append(out, &subclient{
			clientName: a.Name, clientID: a.ID,
			instanceName: in.Name, instanceID: in.ID,
			backupsetName: in.Backupset, backupsetID: in.BackupsetID,
			name: tg.Name, id: tg.ID,
			appName: "Cloud Apps", appID: appCloudApps, instType: in.Type,
		})
	}
	return out
}

func claimNonZero(p *idPool, id int, what string) {
	if id != 0 {
		p.claim(id, what)
	}
}

type entityInfo struct {
	CompanyID       int    `json:"companyId"`
	CompanyName     string `json:"companyName"`
	MultiCommcellID int    `json:"multiCommcellId"`
}

type subclientEntity struct {
	Type          int        `json:"_type_"`
	ClientName    string     `json:"clientName"`
	ClientID      int        `json:"clientId"`
	InstanceName  string     `json:"instanceName"`
	InstanceID    int        `json:"instanceId"`
	BackupsetName string     `json:"backupsetName"`
	BackupsetID   int        `json:"backupsetId"`
	SubclientName string     `json:"subclientName"`
	SubclientID   int        `json:"subclientId"`
	AppName       string     `json:"appName"`
	ApplicationID int        `json:"applicationId"`
	DisplayName   string     `json:"displayName"`
	CommCellName  string     `json:"commCellName"`
	CSGUID        string     `json:"csGUID"`
	SubclientGUID string     `json:"subclientGUID"`
	EntityInfo    entityInfo `json:"entityInfo"`
}

type subclientProperties struct {
	SubClientEntity  subclientEntity `json:"subClientEntity"`
	CommonProperties struct {
		IsDefaultSubclient bool   `json:"isDefaultSubclient"`
		EnableBackup       bool   `json:"enableBackup"`
		Description        string `json:"description"`
	} `json:"commonProperties"`
}

type subclientListing struct {
	FilterQueryCount    int                   `json:"filterQueryCount"`
	SubClientProperties []subclientProperties `json:"subClientProperties"`
}

func (sc *subclient) entity() subclientEntity {
	return subclientEntity{
		Type:       entitySubclient,
		ClientName: sc.clientName, ClientID: sc.clientID,
		InstanceName: sc.instanceName, InstanceID: sc.instanceID,
		BackupsetName: sc.backupsetName, BackupsetID: sc.backupsetID,
		SubclientName: sc.name, SubclientID: sc.id,
		AppName: sc.appName, ApplicationID: sc.appID,
		DisplayName:   sc.clientName,
		CommCellName:  commCellName,
		CSGUID:        csGUID,
		SubclientGUID: guidFor(fmt.Sprintf("subclient/%d", sc.id)),
		EntityInfo:    entityInfo{CompanyID: 0, CompanyName: "Commcell", MultiCommcellID: 0},
	}
}

func (sc *subclient) properties() subclientProperties {
	var p subclientProperties
	p.SubClientEntity = sc.entity()
	p.CommonProperties.IsDefaultSubclient = strings.EqualFold(sc.name, "default")
	p.CommonProperties.EnableBackup = true
	return p
}

// guidFor derives a stable, GUID-shaped string from key.
func guidFor(key string) string {
	h := sha256.Sum256([]byte(key))
	return strings.ToUpper(fmt.Sprintf("%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16]))
}

// handleSubclient answers GET /Subclient/{id} and GET
// /Subclient?clientName=…|clientId=…[&applicationId=…].
func (s *Server) handleSubclient(w http.ResponseWriter, id string, q map[string]string) {
	if id != "" {
		n, err := strconv.Atoi(id)
		sc := s.subByID[n]
		if err != nil || sc == nil {
			writeError(w, codeClientNotFound, fmt.Sprintf("Subclient [%s] not found.", id))
			return
		}
		writeJSON(w, http.StatusOK, subclientListing{FilterQueryCount: 1, SubClientProperties: []subclientProperties{sc.properties()}})
		return
	}
	name, hasName := q["clientname"]
	idText, hasID := q["clientid"]
	if !hasName && !hasID {
		writeError(w, codeBadQuery, "Invalid input: clientId or clientName is required.")
		return
	}
	clientID := 0
	if hasID {
		n, err := strconv.Atoi(idText)
		if err != nil {
			writeError(w, codeBadQuery, fmt.Sprintf("Invalid input: clientId [%s] is not a number.", idText))
			return
		}
		clientID = n
	}
	appID := 0
	if v, ok := q["applicationid"]; ok {
		n, err := strconv.Atoi(v)
		if err != nil {
			writeError(w, codeBadQuery, fmt.Sprintf("Invalid input: applicationId [%s] is not a number.", v))
			return
		}
		appID = n
	}
	acct, ok := s.findAccount(name, hasName, clientID, hasID)
	if !ok {
		label := name
		if !hasName {
			label = idText
		}
		writeError(w, codeClientNotFound, fmt.Sprintf("Client [%s] not found.", label))
		return
	}
	out := subclientListing{SubClientProperties: []subclientProperties{}}
	for _, sc := range s.subs {
		if sc.clientID == acct.ID && (appID == 0 || sc.appID == appID) {
			out.SubClientProperties = append(out.SubClientProperties, sc.properties())
		}
	}
	out.FilterQueryCount = len(out.SubClientProperties)
	writeJSON(w, http.StatusOK, out)
}

// findAccount finds the account by name (case-insensitive) and/or ID; both
// must agree when both are given.
func (s *Server) findAccount(name string, byName bool, id int, byID bool) (*Account, bool) {
	for i := range s.accounts {
		a := &s.accounts[i]
		if byName && !strings.EqualFold(a.Name, name) {
			continue
		}
		if byID && a.ID != id {
			continue
		}
		return a, true
	}
	return nil, false
}

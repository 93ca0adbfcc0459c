package commvault

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/backupbot/backupbot/commvault/simulator"
)

func TestSubclients(t *testing.T) {
	e := newEnv(t, simulator.Config{})
	c := e.client(t, nil)
	subs, err := c.Subclients(context.Background(), prodAccount)
	if err != nil {
		t.Fatalf("Subclients(%q) error: %v", prodAccount, err)
	}
	var names []string
	for _, sc := range subs {
		names = append(names, sc.Name)
		if sc.ApplicationID != CloudAppsID || sc.AppName != "Cloud Apps" {
			t.Errorf("Subclients listed %+v: want only Cloud Apps (134)", sc)
		}
	}
	if got, want := fmt.Sprint(names), "[orders payments inventory default]"; got != want {
		t.Errorf("Subclients(%q) names = %s, want %s (the File System subclient filtered out)", prodAccount, got, want)
	}
	orders := subs[0]
	want := Subclient{
		ClientName: prodAccount, ClientID: prodClientID, InstanceName: "DynamoDB", InstanceID: 869,
		BackupsetName: "defaultBackupSet", BackupsetID: 2218, Name: "orders", ID: 18244,
		AppName: "Cloud Apps", ApplicationID: 134,
	}
	got := orders
	got.Entity = nil
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Subclients(%q)[0] = %+v, want %+v", prodAccount, got, want)
	}
	var entity map[string]any
	if err := json.Unmarshal(orders.Entity, &entity); err != nil {
		t.Fatalf("Entity is not JSON: %v", err)
	}
	for _, k := range []string{"_type_", "clientName", "subclientId", "csGUID", "subclientGUID", "entityInfo", "commCellName", "displayName"} {
		if _, ok := entity[k]; !ok {
			t.Errorf("Entity lacks %q: the whole subClientEntity must be kept (%s)", k, orders.Entity)
		}
	}

	byID, err := c.SubclientsByClientID(context.Background(), prodClientID)
	if err != nil {
		t.Fatalf("SubclientsByClientID(%d) error: %v", prodClientID, err)
	}
	if fmt.Sprint(byID) != fmt.Sprint(subs) {
		t.Errorf("SubclientsByClientID(%d) = %+v, want %+v", prodClientID, byID, subs)
	}
	var second simulator.Request
	for _, r := range e.sim.Requests() {
		if r.Op == simulator.OpSubclient {
			second = r
		}
	}
	if q := second.Query.Get("clientId"); q != "4131" {
		t.Errorf("SubclientsByClientID sent clientId=%q, want 4131", q)
	}
}

func TestSubclientsUnknownClient(t *testing.T) {
	e := newEnv(t, simulator.Config{})
	c := e.client(t, nil)
	_, err := c.Subclients(context.Background(), "aws-nope")
	var ae *APIError
	if !errors.As(err, &ae) || ae.StatusCode != http.StatusOK || ae.Code == 0 {
		t.Errorf("Subclients(unknown) = %v, want *APIError with the errorCode in a 200", err)
	}
}

func TestSubclientsCache(t *testing.T) {
	e := newEnv(t, simulator.Config{})
	c := e.client(t, func(c *Config) { c.CacheTTL = time.Minute })
	now := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	c.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	ctx := context.Background()

	first, err := c.Subclients(ctx, prodAccount)
	if err != nil {
		t.Fatal(err)
	}
	first[0].Name = "scribbled" // the caller's copy, not the cache
	second, err := c.Subclients(ctx, "AWS-Prod-Account")
	if err != nil {
		t.Fatal(err)
	}
	if n := e.count(simulator.OpSubclient); n != 1 {
		t.Errorf("subclient requests after two listings = %d, want 1 (cached, case-insensitive)", n)
	}
	if second[0].Name != "orders" {
		t.Errorf("cached listing changed by a caller: %q", second[0].Name)
	}
	tg, err := c.TableGroup(ctx, prodAccount, "payments")
	if err != nil {
		t.Fatal(err)
	}
	if n := e.count(simulator.OpSubclient); n != 1 {
		t.Errorf("subclient requests after TableGroup = %d, want 1", n)
	}
	tg.Name, tg.Entity[0] = "scribbled", 'X' // TableGroup reads the cache in place: its answer is a copy
	if again, err := c.TableGroup(ctx, prodAccount, "payments"); err != nil || again.Name != "payments" || again.Entity[0] != '{' {
		t.Errorf("TableGroup after a caller changed its answer = %q %q, %v", again.Name, again.Entity, err)
	}

	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if _, err := c.Subclients(ctx, prodAccount); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()

	mu.Lock()
	now = now.Add(time.Minute)
	mu.Unlock()
	if _, err := c.Subclients(ctx, prodAccount); err != nil {
		t.Fatal(err)
	}
	if n := e.count(simulator.OpSubclient); n != 2 {
		t.Errorf("subclient requests after the TTL = %d, want 2", n)
	}

	t.Run("disabled", func(t *testing.T) {
		e := newEnv(t, simulator.Config{})
		c := e.client(t, func(c *Config) { c.CacheTTL = -1 })
		for range 2 {
			if _, err := c.Subclients(ctx, prodAccount); err != nil {
				t.Fatal(err)
			}
		}
		if n := e.count(simulator.OpSubclient); n != 2 {
			t.Errorf("subclient requests without a cache = %d, want 2", n)
		}
	})
	t.Run("errors not cached", func(t *testing.T) {
		e := newEnv(t, simulator.Config{})
		c := e.client(t, nil)
		e.sim.Inject(simulator.Fault{Op: simulator.OpSubclient, Kind: simulator.FaultHTTP500JSON})
		if _, err := c.Subclients(ctx, prodAccount); err == nil {
			t.Fatal("Subclients with a 500 succeeded")
		}
		if _, err := c.Subclients(ctx, prodAccount); err != nil {
			t.Errorf("Subclients after a failed listing = %v, want success", err)
		}
	})
}

func TestTableGroup(t *testing.T) {
	accounts := []simulator.Account{{
		Name: prodAccount, ID: prodClientID,
		TableGroups: []simulator.TableGroup{{Name: "orders"}, {Name: "ordersarchive"}, {Name: "payments"}, {Name: "customer profiles"}},
	}}
	e := newEnv(t, simulator.Config{Accounts: accounts})
	c := e.client(t, nil)
	listed := []string{"orders", "ordersarchive", "payments", "customer profiles"}
	tests := []struct {
		name string
		want string // found table group; "" for a *NotFoundError listing all four
	}{
		{name: "orders", want: "orders"},
		{name: "ORDERS", want: "orders"},
		{name: " Customer Profiles ", want: "customer profiles"},
		{name: "order"},
		{name: "paymnts"},
		{name: "x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sc, err := c.TableGroup(context.Background(), prodAccount, tt.name)
			if tt.want != "" {
				if err != nil || sc.Name != tt.want || sc.ID == 0 || len(sc.Entity) == 0 {
					t.Errorf("TableGroup(%q) = %+v, %v, want %q", tt.name, sc, err, tt.want)
				}
				return
			}
			var nf *NotFoundError
			if !errors.As(err, &nf) {
				t.Fatalf("TableGroup(%q) = %v, want *NotFoundError", tt.name, err)
			}
			if nf.Client != prodAccount || nf.Name != tt.name || !slices.Equal(nf.Listed, listed) {
				t.Errorf("TableGroup(%q) = %+v, want listed %q", tt.name, nf, listed)
			}
		})
	}
	if n := e.count(simulator.OpSubclient); n != 1 {
		t.Errorf("subclient requests for %d lookups = %d, want 1", len(tests), n)
	}
}

// Cloud Apps is every cloud agent: only the subclients of DynamoDB
// instances are table groups, whatever their names.
func TestSubclientsDynamoDBOnly(t *testing.T) {
	e := newEnv(t, simulator.Config{})
	c := e.client(t, nil)
	ctx := context.Background()
	subs, err := c.Subclients(ctx, "aws-demo-account")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, sc := range subs {
		got = append(got, fmt.Sprintf("%s/%s", sc.InstanceName, sc.Name))
	}
	if want := []string{"DynamoDB/orders", "DynamoDB/payments", "DynamoDB/customer profiles", "DynamoDB/default"}; !slices.Equal(got, want) {
		t.Errorf("Subclients(aws-demo-account) = %q, want %q: not its RDS and Redshift subclients", got, want)
	}
	for name, id := range map[string]int{"default": 18230, "orders": 18231} {
		sc, err := c.TableGroup(ctx, "aws-demo-account", name)
		if err != nil || sc.ID != id {
			t.Errorf("TableGroup(%q) = %d, %v; want the DynamoDB subclient %d, not the RDS one listed first", name, sc.ID, err, id)
		}
	}
	if n := e.count(simulator.OpInstance); n != 3 {
		t.Errorf("instance lookups = %d, want 3 (RDS, Redshift, DynamoDB), each once", n)
	}
	// Instance types are cached longer than listings.
	c2 := e.client(t, func(c *Config) { c.CacheTTL = time.Minute })
	c2.now = e.clock.Now
	listings := e.count(simulator.OpSubclient)
	for range 3 {
		if _, err := c2.Subclients(ctx, "aws-demo-account"); err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(2 * time.Minute)
	}
	if n, l := e.count(simulator.OpInstance), e.count(simulator.OpSubclient)-listings; n != 6 || l != 3 {
		t.Errorf("instance lookups = %d, listings = %d; want 6 (three more, once) and 3 (the listing expires after a minute)", n, l)
	}
}

func TestSubclientsInstanceUnreadable(t *testing.T) {
	e := newEnv(t, simulator.Config{})
	c := e.client(t, nil)
	e.sim.Inject(simulator.Fault{Op: simulator.OpInstance, Kind: simulator.FaultHTTP500HTML})
	_, err := c.Subclients(context.Background(), "aws-demo-account")
	if err == nil || !strings.Contains(err.Error(), "read instance") {
		t.Errorf("Subclients when an instance cannot be read = %v, want an error (never guess the agent)", err)
	}
}

func TestTableGroupInTwoDynamoDBInstances(t *testing.T) {
	e := newEnv(t, simulator.Config{Accounts: []simulator.Account{{
		Name: "aws-multi", Instance: "DynamoDB-us", TableGroups: []simulator.TableGroup{{Name: "default"}, {Name: "orders"}},
		Others: []simulator.Instance{
			{Name: "RDS", Type: simulator.TypeRDS, Subclients: []simulator.TableGroup{{Name: "ledger"}}},
			{Name: "DynamoDB-eu", Type: simulator.TypeDynamoDB, Subclients: []simulator.TableGroup{{Name: "Default"}, {Name: "ledger"}}},
		},
	}}})
	c := e.client(t, nil)
	ctx := context.Background()
	_, err := c.TableGroup(ctx, "aws-multi", "default")
	var ae *AmbiguousError
	if !errors.As(err, &ae) || ae.Client != "aws-multi" || !slices.Equal(ae.Instances, []string{"DynamoDB-eu", "DynamoDB-us"}) {
		t.Fatalf("TableGroup(default) = %v, want *AmbiguousError naming DynamoDB-eu and DynamoDB-us", err)
	}
	if !strings.Contains(err.Error(), "INSTANCE/") {
		t.Errorf("error %q does not say how to pick one", err)
	}
	for _, tt := range []struct{ name, instance, table string }{
		{"DynamoDB-us/default", "DynamoDB-us", "default"},
		{"dynamodb-eu/DEFAULT", "DynamoDB-eu", "Default"},
		{"ledger", "DynamoDB-eu", "ledger"}, // the RDS ledger is no table group
		{"orders", "DynamoDB-us", "orders"},
	} {
		sc, err := c.TableGroup(ctx, "aws-multi", tt.name)
		if err != nil || sc.InstanceName != tt.instance || sc.Name != tt.table {
			t.Errorf("TableGroup(%q) = %s/%s, %v; want %s/%s", tt.name, sc.InstanceName, sc.Name, err, tt.instance, tt.table)
		}
	}
	var nf *NotFoundError
	if _, err := c.TableGroup(ctx, "aws-multi", "RDS/ledger"); !errors.As(err, &nf) {
		t.Errorf("TableGroup(RDS/ledger) = %v, want *NotFoundError", err)
	} else if want := []string{"DynamoDB-eu/Default", "ledger", "DynamoDB-us/default", "orders"}; !slices.Equal(nf.Listed, want) {
		t.Errorf("NotFoundError.Listed = %q, want %q", nf.Listed, want)
	}
}

// An account with many table groups (12,000: a listing of some 5.5 MB
// from the simulator, more from a CommServe that lists its other agents too)
// is listed whole: a 9,460-group load run once answered every command
// "internal error" at a 4 MiB cap.
func TestTableGroupInALargeAccount(t *testing.T) {
	acct := simulator.Account{Name: prodAccount, ID: prodClientID}
	for i := range 12000 {
		acct.TableGroups = append(acct.TableGroups, simulator.TableGroup{Name: fmt.Sprintf("tg%05d", i)})
	}
	e := newEnv(t, simulator.Config{Accounts: []simulator.Account{acct}})
	c := e.client(t, func(c *Config) { c.Timeout = time.Minute }) // -race on a busy machine
	sc, err := c.TableGroup(context.Background(), prodAccount, "tg11999")
	if err != nil || sc.Name != "tg11999" {
		t.Fatalf("TableGroup(tg11999) = %+v, %v", sc, err)
	}
}

// TestSubclientsFetchedOnce checks that callers who miss the cache together
// wait for one listing instead of each fetching it, and that when the
// first caller gives up, a caller still waiting lists it again.
func TestSubclientsFetchedOnce(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, simulator.Config{})
	c := e.client(t, func(c *Config) { c.CacheTTL = time.Minute })
	e.sim.Inject(simulator.Fault{Op: simulator.OpSubclient, Kind: simulator.FaultHang, Hang: 300 * time.Millisecond})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if sc, err := c.TableGroup(ctx, prodAccount, "orders"); err != nil || sc.Name != "orders" {
				t.Errorf("TableGroup = %q, %v", sc.Name, err)
			}
		})
	}
	wg.Wait()
	if n := e.count(simulator.OpSubclient); n != 1 {
		t.Errorf("subclient requests of 8 callers that missed the cache together = %d, want 1", n)
	}

	t.Run("first gives up", func(t *testing.T) {
		e := newEnv(t, simulator.Config{})
		c := e.client(t, func(c *Config) { c.CacheTTL = time.Minute })
		e.sim.Inject(simulator.Fault{Op: simulator.OpSubclient, Kind: simulator.FaultHang})
		short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		defer cancel()
		first := make(chan error, 1)
		go func() {
			_, err := c.Subclients(short, prodAccount)
			first <- err
		}()
		for e.count(simulator.OpSubclient) == 0 { // the first caller's request is hanging
			time.Sleep(5 * time.Millisecond)
		}
		subs, err := c.Subclients(ctx, prodAccount)
		if err != nil || len(subs) == 0 {
			t.Errorf("Subclients of the caller that waited = %d subclients, %v; want the listing", len(subs), err)
		}
		if err := <-first; err == nil {
			t.Error("the first caller, whose context ended, got no error")
		}
		if n := e.count(simulator.OpSubclient); n != 2 {
			t.Errorf("subclient requests = %d, want 2 (the one given up, and the waiter's own)", n)
		}
	})
}

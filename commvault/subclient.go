package commvault

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// CloudAppsID is Commvault's applicationId for Cloud Apps, the agent that
// holds DynamoDB table groups, and RDS, S3, Redshift… (DynamoDBInstanceType
// tells them apart).
const CloudAppsID = 134

// Subclient is one table group, as GET /Subclient listed it.
type Subclient struct {
	ClientName    string
	ClientID      int
	InstanceName  string
	InstanceID    int
	BackupsetName string
	BackupsetID   int
	Name          string // subclientName
	ID            int    // subclientId
	AppName       string
	ApplicationID int
	Entity        json.RawMessage // the whole subClientEntity as listed (sent back in CreateTask associations)
}

// subclientEntity is the part of subClientEntity the client reads.
type subclientEntity struct {
	ClientName    string  `json:"clientName"`
	ClientID      flexInt `json:"clientId"`
	InstanceName  string  `json:"instanceName"`
	InstanceID    flexInt `json:"instanceId"`
	BackupsetName string  `json:"backupsetName"`
	BackupsetID   flexInt `json:"backupsetId"`
	SubclientName string  `json:"subclientName"`
	SubclientID   flexInt `json:"subclientId"`
	AppName       string  `json:"appName"`
	ApplicationID flexInt `json:"applicationId"`
}

// Subclients lists the DynamoDB table groups of a client (cloud account),
// by name: the Cloud Apps (applicationId 134) subclients of its DynamoDB
// instances (instanceType 22), in the order Commvault lists them. Listings
// are cached for CacheTTL, instance types for an hour.
func (c *Client) Subclients(ctx context.Context, clientName string) ([]Subclient, error) {
	subs, err := c.listing(ctx, clientName)
	return slices.Clone(subs), err
}

// listing is the client's DynamoDB subclients as cached: shared, read only.
func (c *Client) listing(ctx context.Context, clientName string) ([]Subclient, error) {
	if strings.TrimSpace(clientName) == "" {
		return nil, fmt.Errorf("list subclients: client name is empty")
	}
	return c.subclients(ctx, "name:"+strings.ToLower(clientName), "clientName", clientName)
}

// SubclientsByClientID is Subclients for a client ID.
func (c *Client) SubclientsByClientID(ctx context.Context, clientID int) ([]Subclient, error) {
	id := strconv.Itoa(clientID)
	subs, err := c.subclients(ctx, "id:"+id, "clientId", id)
	return slices.Clone(subs), err
}

// subclients lists the DynamoDB subclients of a client, from the cache when
// it has them: the slice returned is shared, and read only.
func (c *Client) subclients(ctx context.Context, key, param, value string) ([]Subclient, error) {
	for {
		if subs, ok := c.cache.get(key, c.now()); ok {
			return subs, nil
		}
		call, first := c.cache.join(key)
		if first {
			func() {
				defer c.cache.leave(key, call)
				call.subs, call.err = c.fetchSubclients(ctx, param, value)
				if call.err == nil && c.cacheTTL > 0 {
					c.cache.put(key, call.subs, c.now().Add(c.cacheTTL))
				}
			}()
			return call.subs, call.err
		}
		select {
		case <-call.done:
		case <-ctx.Done():
			return nil, fmt.Errorf("list subclients of %s: %w", value, ctx.Err())
		}
		// The listing that the first caller's context cut short is listed
		// again, by the next caller whose context still runs.
		if call.err == nil || !errors.Is(call.err, context.Canceled) && !errors.Is(call.err, context.DeadlineExceeded) {
			return call.subs, call.err
		}
	}
}

// fetchSubclients lists a client's DynamoDB subclients from Commvault.
func (c *Client) fetchSubclients(ctx context.Context, param, value string) ([]Subclient, error) {
	var out struct {
		Properties []struct {
			Entity json.RawMessage `json:"subClientEntity"`
		} `json:"subClientProperties"`
	}
	r := request{
		method: http.MethodGet,
		path:   "/Subclient",
		query:  url.Values{param: {value}},
		limit:  c.subclientLimit,
	}
	if err := c.do(ctx, r, &out); err != nil {
		return nil, fmt.Errorf("list subclients of %s: %w", value, err)
	}
	subs := make([]Subclient, 0, len(out.Properties))
	for _, p := range out.Properties {
		if len(p.Entity) == 0 {
			continue
		}
		var e subclientEntity
		if err := json.Unmarshal(p.Entity, &e); err != nil {
			return nil, fmt.Errorf("list subclients of %s: decode subClientEntity: %s", value, jsonErrorKind(err))
		}
		if e.ApplicationID != CloudAppsID {
			continue
		}
		subs = append(subs, Subclient{
			ClientName:    e.ClientName,
			ClientID:      int(e.ClientID),
			InstanceName:  e.InstanceName,
			InstanceID:    int(e.InstanceID),
			BackupsetName: e.BackupsetName,
			BackupsetID:   int(e.BackupsetID),
			Name:          e.SubclientName,
			ID:            int(e.SubclientID),
			AppName:       e.AppName,
			ApplicationID: int(e.ApplicationID),
			Entity:        slices.Clone(p.Entity),
		})
	}
	subs, err := c.dynamoDB(ctx, subs)
	if err != nil {
		return nil, fmt.Errorf("list subclients of %s: %w", value, err)
	}
	return subs, nil
}

// TableGroup finds a client's DynamoDB table group by name, ignoring case;
// "INSTANCE/NAME" names the one of a DynamoDB instance. When there is none
// it returns a *NotFoundError with the names the listing had; when the name
// is in several DynamoDB instances, an *AmbiguousError naming them.
//
// It reads the cached listing in place (a burst of requests would
// otherwise copy the whole listing each) and returns a copy of the one.
func (c *Client) TableGroup(ctx context.Context, clientName, name string) (Subclient, error) {
	subs, err := c.listing(ctx, clientName)
	if err != nil {
		return Subclient{}, err
	}
	want := strings.TrimSpace(name)
	found, err := pick(subs, clientName, want)
	if err != nil || len(found) > 0 {
		return first(found), err
	}
	if inst, rest, ok := strings.Cut(want, "/"); ok {
		var in []Subclient
		for _, sc := range subs {
			if strings.EqualFold(sc.InstanceName, strings.TrimSpace(inst)) {
				in = append(in, sc)
			}
		}
		if found, err := pick(in, clientName, strings.TrimSpace(rest)); err != nil || len(found) > 0 {
			return first(found), err
		}
	}
	return Subclient{}, &NotFoundError{Client: clientName, Name: name, Listed: TableGroupNames(subs)}
}

// pick finds name among subs, ignoring case: in one instance the one of
// that exact name, else the one that differs in case only. A name in
// several instances is an *AmbiguousError.
func pick(subs []Subclient, clientName, name string) ([]Subclient, error) {
	var folded, exact []Subclient
	var instances []string
	for _, sc := range subs {
		if !strings.EqualFold(sc.Name, name) {
			continue
		}
		folded = append(folded, sc)
		if sc.Name == name {
			exact = append(exact, sc)
		}
		if !slices.Contains(instances, sc.InstanceName) {
			instances = append(instances, sc.InstanceName)
		}
	}
	switch {
	case len(instances) > 1:
		return nil, &AmbiguousError{Client: clientName, Name: name, Instances: instances}
	case len(exact) == 1:
		return exact, nil
	case len(folded) <= 1:
		return folded, nil
	}
	names := make([]string, len(folded))
	for i, sc := range folded {
		names[i] = sc.Name
	}
	return nil, fmt.Errorf("table group %q is ambiguous in %s: %s differ only in case", name, clientName, strings.Join(names, ", "))
}

// first is a copy of the first of subs, its entity its own.
func first(subs []Subclient) Subclient {
	if len(subs) == 0 {
		return Subclient{}
	}
	sc := subs[0]
	sc.Entity = slices.Clone(sc.Entity)
	return sc
}

// TableGroupNames are the names of subs for a person: each name once, and
// "INSTANCE/NAME" for a name that is in several DynamoDB instances.
func TableGroupNames(subs []Subclient) []string {
	instances := map[string][]string{}
	for _, sc := range subs {
		key := strings.ToLower(sc.Name)
		if !slices.Contains(instances[key], sc.InstanceName) {
			instances[key] = append(instances[key], sc.InstanceName)
		}
	}
	var out []string
	for _, sc := range subs {
		name := sc.Name
		if len(instances[strings.ToLower(sc.Name)]) > 1 {
			name = sc.InstanceName + "/" + sc.Name
		}
		if !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	return out
}

// subclientCache keeps subclient listings per client until they expire,
// and the listings being fetched: callers that miss the cache together (a
// burst of commands for one account) wait for one fetch, rather than each
// fetching and decoding the whole listing.
type subclientCache struct {
	mu       sync.Mutex
	entries  map[string]cacheEntry
	fetching map[string]*listingCall
}

// listingCall is a listing being fetched; subs and err are set before done
// is closed.
type listingCall struct {
	done chan struct{}
	subs []Subclient
	err  error
}

// join returns the fetch of key under way, or a new one that the caller
// makes (first) and ends with leave.
func (sc *subclientCache) join(key string) (call *listingCall, first bool) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if call, ok := sc.fetching[key]; ok {
		return call, false
	}
	if sc.fetching == nil {
		sc.fetching = make(map[string]*listingCall)
	}
	call = &listingCall{done: make(chan struct{})}
	sc.fetching[key] = call
	return call, true
}

// leave ends the fetch of key: its waiters read call's answer.
func (sc *subclientCache) leave(key string, call *listingCall) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	delete(sc.fetching, key)
	close(call.done)
}

type cacheEntry struct {
	subs    []Subclient
	expires time.Time
}

func (sc *subclientCache) get(key string, now time.Time) ([]Subclient, bool) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	e, ok := sc.entries[key]
	if !ok || !now.Before(e.expires) {
		delete(sc.entries, key)
		return nil, false
	}
	return e.subs, true
}

func (sc *subclientCache) put(key string, subs []Subclient, expires time.Time) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if sc.entries == nil {
		sc.entries = make(map[string]cacheEntry)
	}
	sc.entries[key] = cacheEntry{subs: subs, expires: expires}
}

package commvault

import (
	"context"
	"encoding/json"
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
// holds DynamoDB table groups.
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

// Subclients lists the DynamoDB (Cloud Apps, applicationId 134) table groups
// of a client (cloud account), by name. Listings are cached for CacheTTL.
func (c *Client) Subclients(ctx context.Context, clientName string) ([]Subclient, error) {
	if strings.TrimSpace(clientName) == "" {
		return nil, fmt.Errorf("list subclients: client name is empty")
	}
	key := "name:" + strings.ToLower(clientName)
	return c.subclients(ctx, key, "clientName", clientName)
}

// SubclientsByClientID is Subclients for a client ID.
func (c *Client) SubclientsByClientID(ctx context.Context, clientID int) ([]Subclient, error) {
	id := strconv.Itoa(clientID)
	return c.subclients(ctx, "id:"+id, "clientId", id)
}

func (c *Client) subclients(ctx context.Context, key, param, value string) ([]Subclient, error) {
	if subs, ok := c.cache.get(key, c.now()); ok {
		return subs, nil
	}
	var out struct {
		Properties []struct {
			Entity json.RawMessage `json:"subClientEntity"`
		} `json:"subClientProperties"`
	}
	r := request{
		method: http.MethodGet,
		path:   "/Subclient",
		query:  url.Values{param: {value}},
		limit:  maxListingBody,
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
	if c.cacheTTL > 0 {
		c.cache.put(key, subs, c.now().Add(c.cacheTTL))
	}
	return slices.Clone(subs), nil
}

// TableGroup finds a client's table group by name, ignoring case. When there
// is none it returns a *NotFoundError with the names the listing had.
func (c *Client) TableGroup(ctx context.Context, clientName, name string) (Subclient, error) {
	subs, err := c.Subclients(ctx, clientName)
	if err != nil {
		return Subclient{}, err
	}
	want := strings.TrimSpace(name)
	var folded []Subclient
	for _, sc := range subs {
		if sc.Name == want {
			return sc, nil
		}
		if strings.EqualFold(sc.Name, want) {
			folded = append(folded, sc)
		}
	}
	switch len(folded) {
	case 1:
		return folded[0], nil
	case 0:
		names := make([]string, len(subs))
		for i, sc := range subs {
			names[i] = sc.Name
		}
		return Subclient{}, &NotFoundError{Client: clientName, Name: name, Listed: names}
	default:
		names := make([]string, len(folded))
		for i, sc := range folded {
			names[i] = sc.Name
		}
		return Subclient{}, fmt.Errorf("table group %q is ambiguous in %s: %s differ only in case", name, clientName, strings.Join(names, ", "))
	}
}

// subclientCache keeps subclient listings per client until they expire.
type subclientCache struct {
	mu      sync.Mutex
	entries map[string]cacheEntry
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
	return slices.Clone(e.subs), true
}

func (sc *subclientCache) put(key string, subs []Subclient, expires time.Time) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if sc.entries == nil {
		sc.entries = make(map[string]cacheEntry)
	}
	sc.entries[key] = cacheEntry{subs: subs, expires: expires}
}

package commvault

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// DynamoDBInstanceType is cloudAppsInstance.instanceType of an Amazon
// DynamoDB instance. Cloud Apps (applicationId 134) is every cloud agent:
// RDS is 4, S3 5, Redshift 26, DocumentDB 27, and one cloud account can
// hold several of them, each with a "default" subclient.
const DynamoDBInstanceType = 22

// instanceCacheTTL is how long an instance's type is kept: it never
// changes, but an instance can be deleted and its ID reused.
const instanceCacheTTL = time.Hour

// instanceCache keeps the type of each instance looked up.
type instanceCache struct {
	mu      sync.Mutex
	entries map[int]instanceEntry
}

type instanceEntry struct {
	typ     int
	expires time.Time
}

// dynamoDB keeps the subclients of DynamoDB instances, in their order. The
// type of each instance comes from GET /Instance/{instanceId}
// (instanceProperties[0].cloudAppsInstance.instanceType), cached; an
// instance whose type cannot be read fails the listing rather than let a
// backup of another agent's subclient through.
func (c *Client) dynamoDB(ctx context.Context, subs []Subclient) ([]Subclient, error) {
	types := map[int]int{}
	out := subs[:0]
	for _, sc := range subs {
		typ, ok := types[sc.InstanceID]
		if !ok {
			var err error
			if typ, err = c.instanceType(ctx, sc.InstanceID); err != nil {
				return nil, err
			}
			types[sc.InstanceID] = typ
		}
		if typ == DynamoDBInstanceType {
			out = append(out, sc)
		}
	}
	return out, nil
}

// instanceType reads (or recalls) an instance's cloudAppsInstance.instanceType;
// 0 for an instance that is no Cloud Apps instance.
func (c *Client) instanceType(ctx context.Context, id int) (int, error) {
	if id <= 0 {
		return 0, nil
	}
	now := c.now()
	c.instances.mu.Lock()
	e, ok := c.instances.entries[id]
	c.instances.mu.Unlock()
	if ok && now.Before(e.expires) {
		return e.typ, nil
	}
	var out struct {
		Properties []struct {
			CloudApps struct {
				InstanceType flexInt `json:"instanceType"`
			} `json:"cloudAppsInstance"`
		} `json:"instanceProperties"`
	}
	r := request{method: http.MethodGet, path: "/Instance/" + strconv.Itoa(id)}
	if err := c.do(ctx, r, &out); err != nil {
		return 0, fmt.Errorf("read instance %d: %w", id, err)
	}
	if len(out.Properties) == 0 {
		return 0, fmt.Errorf("read instance %d: %w", id, &APIError{StatusCode: http.StatusOK, Message: "no instanceProperties in the answer"})
	}
	typ := int(out.Properties[0].CloudApps.InstanceType)
	if c.cacheTTL > 0 {
		c.instances.mu.Lock()
		if c.instances.entries == nil {
			c.instances.entries = make(map[int]instanceEntry)
		}
		c.instances.entries[id] = instanceEntry{typ: typ, expires: now.Add(instanceCacheTTL)}
		c.instances.mu.Unlock()
	}
	return typ, nil
}

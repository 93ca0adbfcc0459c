package bot

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/slack-go/slack"
)

// groupTTL is how long a user group's members are trusted: a policy decision
// may rest on a membership at most five minutes old.
const groupTTL = 5 * time.Minute

// SlackGroups resolves Slack user groups with usergroups.users.list and
// keeps each answer for at most five minutes. Errors are not kept: the next
// check asks again (and the policy denies meanwhile).
type SlackGroups struct {
	api *slack.Client
	now func() time.Time

	mu    sync.Mutex
	cache map[string]groupEntry
}

type groupEntry struct {
	members []string
	at      time.Time
}

// NewSlackGroups returns a group lookup through api.
func NewSlackGroups(api *slack.Client, now func() time.Time) *SlackGroups {
	if now == nil {
		now = time.Now
	}
	return &SlackGroups{api: api, now: now, cache: make(map[string]groupEntry)}
}

// Members returns the users of group id.
func (g *SlackGroups) Members(ctx context.Context, id string) ([]string, error) {
	g.mu.Lock()
	e, ok := g.cache[id]
	g.mu.Unlock()
	if ok && g.now().Sub(e.at) < groupTTL {
		return e.members, nil
	}
	members, err := g.api.GetUserGroupMembersContext(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("members of user group %s: %w", id, err)
	}
	g.mu.Lock()
	g.cache[id] = groupEntry{members: members, at: g.now()}
	g.mu.Unlock()
	return members, nil
}

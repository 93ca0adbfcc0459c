package auth

import (
	"context"
	"errors"
	"fmt"
	"slices"
)

// GroupLookup resolves a Slack user group (S…) to the user IDs in it. The
// Slack bot implements it with usergroups.users.list and a short cache;
// the console and tests use StaticGroups.
type GroupLookup interface {
	Members(ctx context.Context, groupID string) ([]string, error)
}

// StaticGroups returns a GroupLookup over a fixed membership map, such as
// Policy.Groups. An unknown group has no members; that is not an error.
// The map is copied.
func StaticGroups(m map[string][]string) GroupLookup {
	c := make(staticGroups, len(m))
	for id, members := range m {
		c[id] = slices.Clone(members)
	}
	return c
}

type staticGroups map[string][]string

// Members returns a copy of the group's members, or the context's error if
// it is done.
func (s staticGroups) Members(ctx context.Context, groupID string) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return slices.Clone(s[groupID]), nil
}

// errNoLookup is what a membership check that needs a group lookup returns
// when no GroupLookup was given.
var errNoLookup = errors.New("no group lookup configured")

// member reports whether user is in ids: the user ID is listed, or "*" is
// listed and wildcard is true, or a listed user group (S…) has the user as a
// member. A user listed by ID needs no lookup. Otherwise every listed group
// is looked up, and any lookup error is returned (the caller denies), even
// when another group has the user: the answer does not depend on the order
// of the list. An empty user is in nothing.
func member(ctx context.Context, g GroupLookup, user string, ids []string, wildcard bool) (bool, error) {
	if user == "" {
		return false, nil
	}
	for _, id := range ids {
		if id == user || wildcard && id == "*" {
			return true, nil
		}
	}
	found := false
	for _, id := range ids {
		if idKindOf(id) != idGroup {
			continue
		}
		if g == nil {
			return false, errNoLookup
		}
		members, err := g.Members(ctx, id)
		if err != nil {
			return false, fmt.Errorf("look up members of user group %s: %w", id, err)
		}
		if slices.Contains(members, user) {
			found = true
		}
	}
	return found, nil
}

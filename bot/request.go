package bot

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/backupbot/backupbot/bot/store"
	"github.com/backupbot/backupbot/commvault"
)

// actorBot is the actor of what the bot does on its own (expiry, recovery).
const actorBot = "backupbot"

// request is one backup request and what became of it, as the core and its
// messages see it.
type request struct {
	ID         string
	User       string // requester's Slack user ID
	Channel    string
	Account    string // the policy account's key
	TableGroup commvault.Subclient
	Level      commvault.Level
	Reason     string
	Emergency  bool
	State      store.State
	Created    time.Time
	Updated    time.Time
	Expires    time.Time // when a pending request expires
	Approvers  []string  // who may approve (policy entries), for the card
	DecidedBy  string
	DecidedAt  time.Time
	ParentTS   string // the parent message, root of the thread
	TaskID     int
	JobIDs     []string
	Jobs       []commvault.Job // final states of the jobs that have ended
	Problem    string          // why it failed, or what is unknown
}

// record is r as the store keeps it.
func (r request) record() (store.Request, error) {
	sc, err := json.Marshal(r.TableGroup)
	if err != nil {
		return store.Request{}, fmt.Errorf("encode subclient of %s: %w", r.ID, err)
	}
	return store.Request{
		ID: r.ID, User: r.User, Channel: r.Channel, Account: r.Account,
		Client: r.TableGroup.ClientName, ClientID: r.TableGroup.ClientID,
		TableGroup: r.TableGroup.Name, SubclientID: r.TableGroup.ID, Subclient: sc,
		Level: string(r.Level), Reason: r.Reason, Emergency: r.Emergency, Review: r.Emergency,
		State: r.State, ParentTS: r.ParentTS, TaskID: r.TaskID, JobIDs: r.JobIDs, Problem: r.Problem,
		DecidedBy: r.DecidedBy, DecidedAt: r.DecidedAt, Expires: r.Expires, Created: r.Created, Updated: r.Updated,
	}, nil
}

// fromRecord is the stored request as the core sees it.
func fromRecord(s store.Request) (request, error) {
	var sc commvault.Subclient
	if err := json.Unmarshal(s.Subclient, &sc); err != nil {
		return request{}, fmt.Errorf("decode subclient of %s: %w", s.ID, err)
	}
	return request{
		ID: s.ID, User: s.User, Channel: s.Channel, Account: s.Account, TableGroup: sc,
		Level: commvault.Level(s.Level), Reason: s.Reason, Emergency: s.Emergency, State: s.State,
		Created: s.Created, Updated: s.Updated, Expires: s.Expires, DecidedBy: s.DecidedBy, DecidedAt: s.DecidedAt,
		ParentTS: s.ParentTS, TaskID: s.TaskID, JobIDs: s.JobIDs, Problem: s.Problem,
	}, nil
}

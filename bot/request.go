package bot

import (
	"time"

	"github.com/backupbot/backupbot/commvault"
)

// State is where a backup request stands. A request moves through
// pending → approved → submitted → finished, or ends rejected, expired,
// cancelled, failed, or unknown (the submission's outcome is not known).
type State string

// The states of a request.
const (
	StatePending   State = "pending"
	StateApproved  State = "approved"
	StateSubmitted State = "submitted"
	StateFinished  State = "finished"
	StateRejected  State = "rejected"
	StateExpired   State = "expired"
	StateCancelled State = "cancelled"
	StateFailed    State = "failed"
	StateUnknown   State = "unknown"
)

// Request is one backup request and what became of it.
type Request struct {
	ID         string
	User       string // requester's Slack user ID
	Channel    string
	Account    string // the policy account's key
	TableGroup commvault.Subclient
	Level      commvault.Level
	Reason     string
	Emergency  bool
	State      State
	Created    time.Time
	ParentTS   string // the parent message, root of the thread
	TaskID     int
	JobIDs     []string
	Jobs       []commvault.Job // final states of the jobs that have ended
	Problem    string          // why it failed, for the parent message
}
